/** The ledger's own commands: init, note, checkpoint, pubkey, entry, proof, consistency, verify. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import type { FileRecord } from '../../core/entry.js';
import { hashFile } from '../../capture/hash.js';
import { Ledger } from '../../ledger/ledger.js';
import { recordNote } from '../../ledger/notes.js';
import { isArchiveLocation } from '../../archive/target.js';
import { verifyLedger, type LedgerStampSummary, type Trusted } from '../../archive/verify-ledger.js';
import { keyPathFrom, ledgerLocation, withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY, EXIT_QUORUM } from '../exit.js';
import { locationFrom, pathFrom, type Io } from '../io.js';
import { readSmall } from '../inputs.js';
import type { TlogPolicy } from '../../core/tlog-policy.js';
import { parseIndex } from '../arguments.js';
import { formatVerifyReport, progressBar } from '../format.js';
import { mlDsa44 } from '../../pq/ml-dsa44.js';

export function registerLedgerCommands(program: Command, { io, setStatus }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();
  const out = io.out;

  program
    .command('init')
    .description('create a ledger (never overwrites one)')
    .option('--origin <name>', 'the log origin line and key name (default: unique per ledger)')
    .action((o: { origin?: string }) => {
      const loc = ledgerLocation(g(), io);
      const l = Ledger.init(loc.dir, { origin: o.origin, keyPath: keyPathFrom(g(), io) });
      out(`created ledger ${l.dir}\norigin ${l.origin}\nvkey ${l.vkey}\n`);
      l.close();
    });

  program
    .command('note')
    .description('append a custody note (received, viewed, handed over…), with the SHA-256 of each named file')
    .argument('<text>', 'what happened')
    .option('--file <path>', 'a file the note is about (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--actor <name>', 'who did it, as asserted by the caller (default: $FFAUDIT_ACTOR)')
    .option('--json', 'print the result as JSON')
    .action(async (text: string, o: { file: string[]; actor?: string; json?: boolean }) => {
      // Every file is hashed before the ledger is opened: one that cannot be read appends nothing.
      const files: FileRecord[] = [];
      for (const f of o.file) {
        const path = pathFrom(io, f);
        const d = await hashFile(path);
        files.push({ path, size: d.size, sha256: d.sha256 });
      }
      return withLedger(g(), io, (l) => {
        const r = recordNote(l, { text, files, actor: o.actor ?? io.env.FFAUDIT_ACTOR });
        out(o.json ? `${JSON.stringify({ index: r.index, size: r.size })}\n` : `entry ${r.index}\n`);
      });
    });

  program
    .command('checkpoint')
    .description('print the latest signed checkpoint, byte-exact')
    .action(() => {
      return withLedger(g(), io, (l) => {
        out(l.checkpoint());
      });
    });

  program
    .command('reindex')
    .description("rebuild the search index from the entries (after verify reports index-mismatch); the log itself is not touched")
    .action(() => {
      return withLedger(g(), io, (l) => {
        out(`search index rebuilt from ${l.rebuildIndex()} entries\n`);
      });
    });

  program
    .command('pubkey')
    .description("print the log's verifier key (vkey)")
    .action(() => {
      return withLedger(g(), io, (l) => {
        out(`${l.vkey}\n`);
      });
    });

  program
    .command('entry')
    .description("print entry N (pretty JSON; --raw: the exact stored bytes)")
    .argument('<n>', 'entry index')
    .option('--raw', 'the exact stored bytes, nothing added')
    .action((n: string, o: { raw?: boolean }) => {
      return withLedger(g(), io, (l) => {
        const bytes = l.entry(parseIndex(n, 'N'));
        if (o.raw) out(bytes);
        else {
          let pretty: string;
          try {
            pretty = JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
          } catch {
            throw new FfauditError('INTEGRITY', `entry ${n} is not valid JSON (run ffaudit verify)`);
          }
          out(`${pretty}\n`);
        }
      });
    });

  program
    .command('proof')
    .description('print a c2sp.org/tlog-proof@v1 receipt for entry N against the latest checkpoint')
    .argument('<n>', 'entry index')
    .action((n: string) => {
      return withLedger(g(), io, (l) => {
        out(l.proof(parseIndex(n, 'N')));
      });
    });

  program
    .command('consistency')
    .description('print a consistency proof between tree sizes OLD and NEW (default: the latest size)')
    .argument('<old>', 'the older tree size')
    .argument('[new]', 'the newer tree size')
    .option('--json', 'print {"old_size","size","hashes"}')
    .action((oldText: string, newText: string | undefined, o: { json?: boolean }) => {
      return withLedger(g(), io, (l) => {
        const oldSize = parseIndex(oldText, 'OLD');
        const newSize = newText === undefined ? l.size() : parseIndex(newText, 'NEW');
        const hashes = l.consistency(oldSize, newSize).map((h) => h.toString('base64'));
        out(o.json ? `${JSON.stringify({ old_size: oldSize, size: newSize, hashes })}\n` : hashes.map((h) => `${h}\n`).join(''));
      });
    });

  program
    .command('verify')
    .description('check the whole ledger; exit 0 intact, 1 integrity failure, 2 could not run')
    .option('--trusted <file>', 'a checkpoint saved earlier, an archive (s3://…, DIR), or a team server (https://…: the latest checkpoint its witness cosigned): prove the log is an append-only extension of it')
    .option('--from <location>', 'verify an archived copy (s3://BUCKET/PREFIX or a directory), or a tlog-tiles log over http(s):// such as a mirror of `ffaudit serve` (https://SERVER/mirror/<sha256 of the origin>, with --pubkey), on its own, without a local ledger')
    .option('--pubkey <file>', 'with --from: the verifier key to check the archive against')
    .option('--endpoint <url>', 'S3 endpoint URL for an s3:// --from or --trusted on an S3-compatible server (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL; never the ledger\'s config), or for the archive the config names')
    .option('--no-archive', "without --trusted: do not check the ledger against the archive its config names (archive.to)")
    .option('--policy <file>', "a C2SP tlog-policy (instead of the one derived from the ledger's config): its witnesses' stored cosignatures are checked, and its quorum must have cosigned the latest checkpoint they cosigned (exit 3 when that is all that is wrong)")
    .option('--tsa-ca <file>', "PEM file of the TSA CA the timestamp tokens must chain to (default: the config's tsa.ca; with --from: none, and the archive's tokens are not checked)")
    .option('--json', 'print {"ok","size","problems":[…]}')
    .action(async (o: { trusted?: string; from?: string; pubkey?: string; endpoint?: string; policy?: string; json?: boolean; archive: boolean; tsaCa?: string }) => {
      const tsaCa = o.tsaCa === undefined ? undefined : readSmall(pathFrom(io, o.tsaCa), 'the TSA CA file', o.tsaCa).toString('utf8');
      if (o.from !== undefined) {
        const { verifyArchiveCommand } = await import('./archive.js');
        setStatus(await verifyArchiveCommand(io, o.from, { pubkey: o.pubkey, json: o.json, endpoint: o.endpoint, tsaCa }));
        return;
      }
      const trusted = o.trusted === undefined ? undefined : trustedFrom(io, o.trusted);
      const l = Ledger.open(ledgerLocation(g(), io), { keyPath: keyPathFrom(g(), io) });
      try {
        const policy = o.policy === undefined ? undefined : await policyFor(io, o.policy, l);
        const bar = o.json ? undefined : progressBar(io, 'verifying');
        // Without --trusted, the archive the ledger's config names is checked against by default (docs/archive.md).
        const r = await verifyLedger(l, { trusted, configuredArchive: o.archive, endpoint: o.endpoint, onProgress: bar?.update, policy, tsaCa });
        bar?.done();
        if (r.skippedArchive) io.err(`ffaudit: warning: the ledger was not checked against the archive its config names (${r.skippedArchive.location}): ${r.skippedArchive.reason}\n`);
        const against = r.server
          ? `the team server ${r.server.url} (cosigned by its witness ${r.server.cosigner})`
          : r.archive && (r.archive.configured ? `the archive ${r.archive.location} (named in the ledger's config)` : `the archive ${o.trusted!}`);
        const stamps = r.timestamps;
        out(
          o.json
            ? `${JSON.stringify({ ok: r.report.ok, size: r.report.size, problems: r.report.problems, ...(r.report.cosigned ? { cosigned: r.report.cosigned } : {}), ...(r.report.quorum ? { quorum: r.report.quorum } : {}), ...(stamps ? { timestamps: stamps } : {}) })}\n`
            : formatVerifyReport(l, r.report, against, stamps ? [formatStamps(stamps)] : []),
        );
        setStatus(r.report.ok ? 0 : r.report.problems.every((p) => p.kind === 'quorum-not-met') ? EXIT_QUORUM : EXIT_INTEGRITY);
      } finally {
        l.close();
      }
    });
}

/**
 * verify --policy: a tlog-policy file, read as verify-bundle reads one. Its logs, when it lists any, must include this
 * ledger's key (tlog-policy: a checkpoint is valid if signed by one of the listed logs).
 */
async function policyFor(io: Io, file: string, l: Ledger): Promise<TlogPolicy> {
  const { parseTlogPolicy } = await import('../../core/tlog-policy.js');
  let policy: TlogPolicy;
  try {
    policy = parseTlogPolicy(readSmall(pathFrom(io, file), 'the policy file', file), { mlDsa44 });
  } catch (e) {
    if (e instanceof FfauditError && e.code === 'BAD_INPUT') throw new FfauditError('USAGE', `${file}: ${e.message}`);
    throw e;
  }
  if (policy.logs.length > 0 && !policy.logs.some((k) => k.publicKey.equals(l.verifier.publicKey))) throw new FfauditError('USAGE', `${file}: the policy does not list this ledger's key (${l.vkey})`);
  return policy;
}

/** --trusted: a team server (http(s)://…), an archive (s3://… or a directory), else a checkpoint file saved earlier. */
function trustedFrom(io: Io, given: string): Trusted {
  if (/^https?:\/\//i.test(given)) return { server: given };
  const location = locationFrom(io, given);
  if (isArchiveLocation(location)) return { archive: location };
  try {
    return { checkpoint: readFileSync(location, 'utf8') };
  } catch (e) {
    throw new FfauditError('IO', `cannot read the trusted checkpoint ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** One line on the stored time-stamp tokens: the sentence of the newest valid one, or why none was checked. */
function formatStamps(s: LedgerStampSummary): string {
  if (s.unchecked !== undefined) return `tokens   ${s.stored} time-stamp token${s.stored === 1 ? '' : 's'} stored, NOT CHECKED: ${s.unchecked}`;
  const other = s.otherCa ? ` (${s.otherCa} under a CA not configured: they state no time here)` : '';
  const head = `tokens   ${s.valid} of ${s.stored} time-stamp token${s.stored === 1 ? '' : 's'} verified against the TSA CA${other}`;
  return s.newest !== undefined ? `${head}; ${s.newest}` : head;
}
