/**
 * Collecting cosignatures from the witnesses a ledger's config lists (ledger/witness-config.ts), each push: the
 * checkpoint pushed goes to every witness at once, by c2sp.org/tlog-witness §add-checkpoint: the old size is the size
 * this witness last cosigned (the ledger's record of its cosignatures, else 0), with the RFC 6962 consistency proof
 * from there; a 409 `text/x.tlog.size` gives the size it holds, and the request is sent once more from that size.
 * Each 200's lines are verified with that witness's key alone (tlog-witness: "MUST ignore any cosignatures from
 * unknown keys") and stored only if its own cosignature verifies.
 *
 * A witness never stops the push: each one's outcome is reported (cosigned, down, refused, bad cosignature) and the
 * others, and the team server, go on. Whether the quorum is met is then read from the ledger's stored cosignatures.
 */
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { splitSignatureLines } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { parseTlogPolicy, quorumMet } from '../core/tlog-policy.js';
import { parseTlogSize, TLOG_SIZE_CONTENT_TYPE } from '../core/witness-protocol.js';
import type { Ledger } from '../ledger/ledger.js';
import { quorumRule, type ConfiguredWitness } from '../ledger/witness-config.js';
import { AwayError, Connection, oneLine, type RetryOptions } from './connection.js';
import { addCheckpointBody } from './plan.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';

export type WitnessStatus = 'cosigned' | 'down' | 'refused' | 'bad-cosignature';

export interface WitnessOutcome {
  /** Its name in the config (and the policy). */
  name: string;
  url: string;
  /** The joined team server's witness: its cosignature comes with the ordinary push, it is not asked twice. */
  teamServer: boolean;
  status: WitnessStatus;
  /** The largest size it has cosigned, as the ledger now holds it (checked). */
  cosigned: number | null;
  /** refused: the HTTP status it answered, when it answered. */
  httpStatus?: number;
  /** down: why; refused: what it said; bad-cosignature: what was wrong. One line. */
  detail?: string;
}

export interface QuorumOutcome {
  /** "2 of w1, w2, w3". */
  rule: string;
  /** The checkpoint judged: the one pushed. */
  size: number;
  met: boolean;
  /** The policy's witnesses whose cosignatures on it the ledger holds, and the others. */
  witnessed: string[];
  missing: string[];
}

/**
 * Asks one witness to cosign the checkpoint `note` (the ledger's head, or a checkpoint it still holds) and stores
 * its cosignature. Never throws for what the witness does: the outcome says it.
 */
/** add-checkpoint requests one push sends a witness: the first, and two more after a 409 names its size. */
const MAX_ATTEMPTS = 3;

export async function collectCosignature(ledger: Ledger, note: string, w: ConfiguredWitness, opts: RetryOptions): Promise<WitnessOutcome> {
  const cp = parseSignedCheckpoint(note);
  const base: Omit<WitnessOutcome, 'status' | 'cosigned'> = { name: w.name, url: w.url, teamServer: false };
  const cosigned = () => ledger.lastCosigned(undefined, w.verifier.name)?.size ?? null;
  const refused = (detail: string, httpStatus?: number): WitnessOutcome => ({ ...base, status: 'refused', cosigned: cosigned(), ...(httpStatus !== undefined ? { httpStatus } : {}), detail });
  const last = ledger.lastCosigned(undefined, w.verifier.name);
  if (last && last.size === cp.size && last.root.equals(cp.root)) return { ...base, status: 'cosigned', cosigned: cp.size };
  if (last && last.size > cp.size) return refused(`it already cosigned ${last.size} entries of this log, but the ledger holds ${cp.size}: entries were removed or an older copy was restored (run ffaudit verify)`);
  const conn = new Connection(w.url, opts, `the witness ${w.name}`);
  const tried = new Set<number>();
  try {
    for (let oldSize = last?.size ?? 0; ; ) {
      tried.add(oldSize);
      const a = await conn.request('POST', '/add-checkpoint', addCheckpointBody(ledger, oldSize, note, cp.size), { 'content-type': 'text/plain; charset=utf-8' });
      if (a.status === 200) {
        let lines: string[];
        try {
          lines = splitSignatureLines(a.text);
        } catch {
          return { ...base, status: 'bad-cosignature', cosigned: cosigned(), detail: `it answered 200 without note signature lines (${oneLine(a.text)})` };
        }
        try {
          const stored = ledger.addCosignatures(cp.size, cp.root.toString('hex'), lines, w.url, note, [w.verifier]);
          if (stored.length === 0) return { ...base, status: 'bad-cosignature', cosigned: cosigned(), detail: `it answered 200 without a cosignature by its key ${w.verifier.name}` };
        } catch (e) {
          if (!(e instanceof FfauditError) || e.code !== 'INTEGRITY') throw e;
          return { ...base, status: 'bad-cosignature', cosigned: cosigned(), detail: `its answer does not verify with its key ${w.verifier.name}: nothing of it was kept` };
        }
        opts.log?.(`checkpoint ${cp.size} (from ${oldSize}): cosigned by the witness ${w.name}`);
        // Its largest: it cosigned this one, and nothing above it (it would have answered 409).
        return { ...base, status: 'cosigned', cosigned: cp.size };
      }
      if (a.status === 409 && a.type === TLOG_SIZE_CONTENT_TYPE) {
        let held: number;
        try {
          held = parseTlogSize(a.text);
        } catch {
          return refused(`409 with a malformed ${TLOG_SIZE_CONTENT_TYPE} body (${oneLine(a.text)})`, 409);
        }
        if (held > cp.size) return refused(`409: it already cosigned ${held} entries of this log, but the ledger holds ${cp.size}: entries were removed or an older copy was restored (run ffaudit verify)`, 409);
        if (tried.has(held)) return refused(`409: it holds another checkpoint of ${held} entries of this log than the ledger's: the log was forked (run ffaudit verify)`, 409);
        // tlog-witness: one 409 tells the size the witness holds, and the request sent again from there is decided.
        // A witness that names yet another size each time (racing pushes aside) is not followed further.
        if (tried.size >= MAX_ATTEMPTS) return refused(`409 again: it named ${held} entries after ${[...tried].join(', ')}: not followed further`, 409);
        opts.log?.(`the witness ${w.name} last cosigned size ${held}: sending the checkpoint again from there`);
        oldSize = held;
        continue;
      }
      const hint = a.status === 404 ? ` (it does not witness this log: its operator registers it, e.g. ffaudit serve hosts add NAME --log-vkey ${ledger.vkey})` : '';
      return refused(`${a.status}${a.text ? `: ${oneLine(a.text)}` : ''}${hint}`, a.status);
    }
  } catch (e) {
    if (e instanceof AwayError) return { ...base, status: 'down', cosigned: cosigned(), detail: e.why };
    if (e instanceof FfauditError) return refused(e.message);
    throw e;
  }
}

/**
 * Whether the ledger's stored cosignatures of the checkpoint `note` meet the quorum of its policy (derived from its
 * config); undefined when the config sets no quorum.
 */
export function quorumOf(ledger: Ledger, note: string): QuorumOutcome | undefined {
  const settings = ledger.witnessSettings();
  const rule = quorumRule(settings);
  if (rule === undefined) return undefined;
  const policy = parseTlogPolicy(Buffer.from(ledger.policyText(), 'utf8'), { mlDsa44 });
  const cp = parseSignedCheckpoint(note);
  // Checked reads: each row's line verified with its cosigner's key over this log's signed checkpoint.
  const rows = ledger.cosignatures(cp.size).filter((c) => c.root.equals(cp.root));
  const witnessed = new Set([...policy.witnessKeys].filter(([, k]) => rows.some((c) => c.name === k.name && c.keyId.equals(k.keyId))).map(([n]) => n));
  const names = policy.witnesses.filter((n) => witnessed.has(n));
  return { rule, size: cp.size, met: quorumMet(policy, witnessed), witnessed: names, missing: policy.witnesses.filter((n) => !witnessed.has(n)) };
}
