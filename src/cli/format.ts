/** Human output shared by commands. */
import type { Ledger } from '../ledger/ledger.js';
import type { Problem, ProblemKind } from '../ledger/problems.js';
import type { VerifyReport } from '../ledger/verify.js';
import type { Io } from './io.js';

const MEANING: Record<ProblemKind, string> = {
  'store-corrupt': 'the database file is damaged on disk; restore it from a copy and verify again',
  'triggers-missing': 'someone bypassed ffaudit and altered the database schema to allow edits',
  'entry-modified': 'a recorded entry was rewritten after it was signed',
  'entry-missing': 'a recorded entry was deleted',
  'entry-unsigned': 'rows were inserted that no signed checkpoint covers',
  'tree-modified': "the stored Merkle tree was altered (proofs served from it would not verify)",
  'checkpoint-missing': 'signed state is missing or was rolled back',
  'checkpoint-signature-invalid': "a checkpoint was forged or altered: its signature does not verify with this log's key",
  'root-mismatch': 'the entries no longer hash to what was signed: history was altered',
  rollback: 'the log is shorter than a checkpoint you trusted earlier: entries were removed or an old copy restored',
  fork: 'the log is not an extension of the checkpoint you trusted: an older copy of the ledger was restored (from a backup, say) and new entries appended to it, or history was rewritten with the signing key',
  'cosignature-invalid': "a cosignature kept in the ledger no longer verifies with the server's or the witness's key: the stored cosignatures were edited",
  'quorum-not-met': 'the witnesses the policy requires have not all cosigned the latest checkpoint they were sent: push again (ffaudit push says which witness is down or refused), or the log may have been shown to some witnesses and not others',
  'not-locked': 'an archived object lacks the write-once retention it should have: it could be deleted or replaced',
  'archive-behind': 'entries were recorded but never copied to the archive for longer than allowed: check that archiving runs',
  'blob-modified': 'a large value kept outside its entry was altered or damaged; the entry still names the original by hash',
  'blob-missing': 'a large value kept outside its entry was deleted; the entry still names it by hash',
  'timestamp-invalid': 'a time-stamp token kept for a checkpoint does not verify, or is not over one of this log\'s checkpoints: it was altered, or was never a TSA\'s',
  'timestamp-unrenewed': "a timestamp is no longer provable: the TSA certificate of its newest token has expired and no renewal was made before (ffaudit timestamp --renew renews those still valid)",
  'index-mismatch': "the search index (content → runs) no longer matches the entries: rows were deleted, added or changed, which can hide a file's producer from trace, report and bundle; the entries are unaffected (keep a copy of the database as evidence, then ffaudit reindex rebuilds the index from them)",
};

/** "1 entry", "3 entries": a count with its noun. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The findings, one line each, then what each kind means. */
export function formatProblems(problems: readonly Problem[]): string[] {
  const kinds = [...new Set(problems.map((p) => p.kind))];
  return [...problems.map(describe), 'what it means:', ...kinds.map((k) => `  - ${k}: ${MEANING[k]}`)];
}

function describe(p: Problem): string {
  const where = p.index !== undefined ? ` (entry ${p.index})` : p.size !== undefined ? ` (size ${p.size})` : '';
  // The proof is a signed note (text checked when it was stored): shown indented, byte for byte but for the indent.
  const proof = p.proof !== undefined ? `\n    proof (the cosigned checkpoint, signed by the log's key and the server's):\n${p.proof.replace(/[^\n]+/g, (l) => `      ${printableLine(l)}`).trimEnd()}` : '';
  return `  ✗ ${p.kind}${where}: ${p.detail}${proof}`;
}

/** A line of stored text, shown: control characters as '?'. */
function printableLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** How long ago a POSIX time was, for a person: "3 min ago", "2.5 h ago", "4 days ago". */
function ago(seconds: number, nowMs: number): string {
  const s = Math.max(0, nowMs / 1000 - seconds);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** One line per cosigner (the team server's, the witnesses'): the size it last cosigned, when, and how far the log is past it. */
export function formatCosigned(r: VerifyReport, nowMs = Date.now()): string[] {
  if (!r.cosigned) return [];
  return r.cosigned.map(
    (c, i) =>
      `${i === 0 ? 'cosigned' : '        '} ${printableLine(c.cosigner)} (${printableLine(c.server)}) cosigned size ${c.size}, ${ago(c.timestamp, nowMs)}` +
      (c.behind > 0 ? `: ${c.behind} entr${c.behind === 1 ? 'y' : 'ies'} behind` : c.behind < 0 ? `: ${-c.behind} entr${c.behind === -1 ? 'y' : 'ies'} more than the log holds` : ': up to date'),
  );
}

/** TAMPERED, unless every finding is of a kind that is no evidence of tampering by itself. */
export function verdictWord(problems: readonly Problem[]): string {
  if (problems.every((p) => p.kind === 'archive-behind')) return 'NOT ARCHIVED';
  if (problems.every((p) => p.kind === 'timestamp-unrenewed')) return 'NOT RENEWED';
  if (problems.every((p) => p.kind === 'store-corrupt')) return 'DAMAGED';
  if (problems.every((p) => p.kind === 'quorum-not-met')) return 'NOT WITNESSED';
  return 'TAMPERED';
}

/**
 * `against`: where the trusted checkpoint came from, when it was an archive; `extra`: lines shown before the verdict
 * (what was checked beside the log: the time-stamp tokens).
 */
export function formatVerifyReport(l: Ledger, r: VerifyReport, against?: string, extra: readonly string[] = []): string {
  const lines = [`ledger   ${l.dir}`, `origin   ${l.origin}`];
  const trusted = r.checked.trusted ? (against ? `the checkpoint at size ${r.checked.trusted.size} of ${against}` : `the trusted checkpoint (size ${r.checked.trusted.size})`) : '';
  lines.push(
    `checked  database integrity, ${r.checked.entries} entr${r.checked.entries === 1 ? 'y' : 'ies'} (every leaf hash and tree node), ${r.checked.checkpoints} signed checkpoint${r.checked.checkpoints === 1 ? '' : 's'}` +
      (r.checked.trusted ? `, and extension of ${trusted}` : ''),
  );
  lines.push(...formatCosigned(r), ...extra);
  if (r.quorum) {
    const q = r.quorum;
    lines.push(
      `quorum   ${q.rule}: ` +
        (q.size === null ? 'no checkpoint cosigned by a witness yet' : `${q.met ? 'met' : 'NOT met'} at size ${q.size} (cosigned by ${q.witnessed.join(', ')}${q.missing.length > 0 ? `; missing ${q.missing.join(', ')}` : ''})`),
    );
  }
  if (r.ok) {
    const cosigned = r.cosigned && r.cosigned.length > 0 ? Math.max(...r.cosigned.map((c) => c.size)) : undefined;
    lines.push(
      `verdict  INTACT: all ${r.size} entries are exactly as signed${r.checked.trusted ? `, and the log extends ${trusted}` : ''}` +
        `${cosigned !== undefined ? `${r.checked.trusted ? ' and' : ', and the log extends'} the checkpoints the server cosigned (up to size ${cosigned})` : ''}.`,
    );
    if (!r.checked.trusted) {
      lines.push('         (a rollback to an older copy of the ledger, or a history rewritten with the signing key, is caught only against a');
      lines.push('         checkpoint kept elsewhere: --trusted CHECKPOINT, an archive, or the team server: --trusted https://SERVER)');
    }
  } else {
    lines.push(`verdict  ${verdictWord(r.problems)}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} found`);
    lines.push(...r.problems.map(describe));
    const kinds = [...new Set(r.problems.map((p) => p.kind))];
    lines.push('what it means:', ...kinds.map((k) => `  - ${k}: ${MEANING[k]}`));
  }
  return `${lines.join('\n')}\n`;
}

/** A one-line progress bar on stderr, drawn only when stderr is a terminal (else undefined). */
export function progressBar(io: Io, label: string): { update: (done: number, total: number) => void; done: () => void } | undefined {
  if (!io.errTTY) return undefined;
  let last = -1;
  return {
    update: (done, total) => {
      const pct = total ? Math.floor((done / total) * 100) : 100;
      if (pct === last || total < 50_000) return;
      last = pct;
      const width = 30;
      const fill = Math.round((pct / 100) * width);
      io.err(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% (${done}/${total})`);
    },
    done: () => {
      if (last >= 0) io.err('\r\x1b[K');
    },
  };
}
