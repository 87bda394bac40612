/** Provenance for people who were not there: trace, bundle, verify-bundle, report, export. */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { hashFile } from '../../capture/hash.js';
import { formatBundle, verifyBundle, type VerifierKey } from '../../core/bundle.js';
import type { BundleTimestamps } from '../../core/bundle-time.js';
import { parseSignedCheckpoint } from '../../core/checkpoint.js';
import { FfauditError } from '../../core/errors.js';
import { renderActivityReport, renderFileReport, type ReportVerification } from '../../render/report-html.js';
import { parseWhen } from '../../time/time.js';
import { parseTlogPolicy, type TlogPolicy } from '../../core/tlog-policy.js';
import { mlDsa44 } from '../../pq/ml-dsa44.js';
import type { Period } from '../../ledger/activity.js';
import { bundleLineages } from '../../ledger/bundle.js';
import { exportAs } from '../../ledger/export.js';
import type { Ledger } from '../../ledger/ledger.js';
import { atomicFile, writeFileAtomically, type AtomicFile } from '../../ledger/safe-files.js';
import { activityReport, fileReport } from '../../ledger/report.js';
import { traceContent, type Lineage, type TraceOptions } from '../../ledger/trace.js';
import { openLedger, withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY } from '../exit.js';
import { progressBar } from '../format.js';
import { formatBundleVerdict, formatLineageTree, KEY_NOT_VERIFIED, lineageJson, printable } from '../lineage-format.js';
import { readKey, readSmall } from '../inputs.js';
import { formatTimeVerdict, ledgerTsaCa, timestampCheck, timestampsJson, tsaCaText, untimedText } from '../trusted-time.js';
import { pathFrom, type Io } from '../io.js';
import { collect } from '../arguments.js';
import { addServerOptions, serverFrom, type ServerOptions } from '../remote.js';
import type { RemoteServer } from '../../remote/client.js';

/** A bundle larger than this is refused before it is read (a real one for thousands of runs is a few MiB). */
export const MAX_BUNDLE_FILE = 1 << 30;

/**
 * Writes OUT through an unpredictable, exclusively created temporary file and a rename (safe-files.ts), so that a
 * failure never leaves half a file under the name and a link planted in the folder is never written through.
 */
function writeAtomically(path: string, given: string, text: string): void {
  try {
    writeFileAtomically(path, text, 0o644);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

interface Traced {
  lineage: Lineage;
  size: number;
}

async function traceFile(io: Io, l: Ledger, file: string, opts: TraceOptions = {}): Promise<Traced> {
  const path = pathFrom(io, file);
  const d = await hashFile(path);
  return { lineage: await traceContent(l, path, d.sha256, opts), size: d.size };
}

function unknownLine(file: { path: string; sha256: string }, where = 'this ledger'): string {
  return `${printable(file.path)}: unknown to ${where}: no audited run produced or read these bytes and no custody note names them (sha256 ${file.sha256})\n`;
}

/** The lineage of FILE's bytes across the logs the team server mirrors. */
async function traceRemote(io: Io, server: RemoteServer, file: string): Promise<Traced> {
  const path = pathFrom(io, file);
  const d = await hashFile(path);
  const { remoteTrace } = await import('../../remote/queries.js');
  return { lineage: await remoteTrace(server, { path, sha256: d.sha256 }), size: d.size };
}

const SERVER_LOGS = 'the logs of the team server';

function period(o: { since?: string; until?: string }): Period {
  const now = Date.now();
  const p: Period = {};
  if (o.since !== undefined) p.since = parseWhen(o.since, now);
  if (o.until !== undefined) p.until = parseWhen(o.until, now, 'until');
  if (p.since !== undefined && p.until !== undefined && p.until < p.since) throw new FfauditError('USAGE', '--until must not be earlier than --since');
  return p;
}

/** `path`: where to read; `given`: as the user typed it, for messages. */
function readInput(path: string, given: string, what: string, max: number): Buffer {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new FfauditError('IO', `${what} ${given} is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read ${what} ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (size > max) throw new FfauditError('INTEGRITY', `${what} ${given} is larger than ${max} bytes: not a bundle this tool makes`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FfauditError('IO', `cannot read ${what} ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * The keys a bundle may be signed by, from --pubkey (repeatable) and --policy (c2sp.org/tlog-policy), and the
 * policy itself (its witness quorum is checked against the bundle's cosignatures). Without either, only
 * --insecure-any-key lets the bundle's own key stand in: a script that checks only the exit status must not accept
 * a bundle anyone could have made.
 */
function acceptedKeys(io: Io, o: { pubkey?: string[]; policy?: string; insecureAnyKey?: boolean }): { keys: VerifierKey[]; policy?: TlogPolicy } {
  const files = o.pubkey ?? [];
  const keyed = files.length > 0 || o.policy !== undefined;
  if (o.insecureAnyKey && keyed) throw new FfauditError('USAGE', '--insecure-any-key cannot be combined with --pubkey or --policy');
  if (!keyed && !o.insecureAnyKey) {
    throw new FfauditError('USAGE', "verify-bundle needs the log's key, obtained independently: give --pubkey VKEY_FILE (as `ffaudit pubkey` prints it) or --policy FILE (or --insecure-any-key to check the bundle against its own key only)");
  }
  const keys = files.map((f) => readKey(pathFrom(io, f), f));
  if (o.policy !== undefined) {
    let policy: TlogPolicy;
    try {
      policy = parseTlogPolicy(readSmall(pathFrom(io, o.policy), 'the policy file', o.policy), { mlDsa44 });
    } catch (e) {
      if (e instanceof FfauditError && e.code === 'BAD_INPUT') throw new FfauditError('USAGE', `${o.policy}: ${e.message}`);
      throw e;
    }
    if (policy.logs.length === 0) throw new FfauditError('USAGE', `${o.policy}: the policy lists no log, so no checkpoint could satisfy it`);
    keys.push(...policy.logs);
    return { keys, policy };
  }
  return { keys };
}

/** The bundle command's words for the tokens it carries (bundle-time.ts); nothing when it carries none. */
function timeNote(ts: readonly BundleTimestamps[] | undefined): string {
  const t = ts?.[0];
  if (!t) return '';
  const n = t.tokens.length;
  return `, with ${n} time-stamp token${n === 1 ? '' : 's'} over the checkpoint at tree size ${parseSignedCheckpoint(t.checkpoint).size}`;
}

export function registerProvenanceCommands(program: Command, { io, setStatus }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();
  const out = io.out;

  /** `bundle --server`: the server assembles the bundle across its logs; it is checked here before it is written. */
  /**
   * The server answers 404 naming the bytes (sha256) when no log knows them: that is the local commands' "unknown
   * file" (exit 1), said of the file the user named. Any other 404 (a wrong URL) stays an error.
   */
  async function unlessUnknown<T>(files: readonly { path: string; sha256: string }[], ask: () => Promise<T>): Promise<T | undefined> {
    try {
      return await ask();
    } catch (e) {
      const unknown = e instanceof FfauditError && e.code === 'NOT_FOUND' ? files.find((f) => e.message.includes(f.sha256)) : undefined;
      if (!unknown) throw e;
      io.err(`ffaudit: ${unknownLine(unknown, SERVER_LOGS)}`);
      setStatus(EXIT_INTEGRITY);
      return undefined;
    }
  }

  const hashed = async (files: readonly string[]) => {
    const out: { path: string; sha256: string }[] = [];
    for (const f of files) {
      const path = pathFrom(io, f);
      out.push({ path, sha256: (await hashFile(path)).sha256 });
    }
    return out;
  };

  /** `bundle --server`: the server traces and assembles the bundle across its logs; it is checked here before it is written. */
  async function remoteBundleCommand(server: RemoteServer, files: string[], o: { output: string; withReports?: boolean }): Promise<void> {
    const subjects = await hashed(files);
    const { remoteBundle } = await import('../../remote/queries.js');
    const bytes = await unlessUnknown(subjects, () => remoteBundle(server, subjects, o.withReports ?? false));
    if (bytes === undefined) return;
    // Whoever asks the server still checks what it gets: every proof against its checkpoint, with the bundle's own
    // keys (who signed is for verify-bundle to establish, with keys obtained independently), and the files it is for.
    const v = verifyBundle(bytes, {});
    if (!v.ok) throw new FfauditError('INTEGRITY', `the server's bundle does not verify: ${printable(v.failures[0] ?? 'unknown failure')}`);
    const asked = [...new Set(subjects.map((s) => s.sha256))].sort();
    const got = [...new Set(v.subjects.map((s) => s.sha256))].sort();
    if (JSON.stringify(got) !== JSON.stringify(asked)) throw new FfauditError('INTEGRITY', `the server's bundle vouches for other files than those asked for (${got.length} subjects)`);
    writeAtomically(pathFrom(io, o.output), o.output, bytes.toString('utf8'));
    const logs = v.logs?.length ?? 1;
    out(`wrote ${o.output}: ${v.entries} entries (${v.runs.length} runs) from ${logs} log${logs === 1 ? '' : 's'}, ${bytes.length} bytes\n`);
  }

  /** `report --server FILE`: the server's chain-of-custody report across its logs. */
  async function remoteReportCommand(server: RemoteServer, file: string, output: string | undefined): Promise<void> {
    const subject = await hashed([file]);
    const { remoteReport } = await import('../../remote/queries.js');
    const report = await unlessUnknown(subject, () => remoteReport(server, subject[0]!));
    if (report === undefined) return;
    if (output !== undefined) writeAtomically(pathFrom(io, output), output, report.html.toString('utf8'));
    else io.out(report.html.toString('utf8'));
    if (report.verified !== true) {
      io.err('ffaudit: the server found evidence of this lineage that fails verification: the report says so and is not marked VERIFIED\n');
      setStatus(EXIT_INTEGRITY);
    }
  }

  const traceCommand = program
    .command('trace')
    .description("walk a file's lineage by content: the runs that produced these bytes, back to their sources (exit 1: unknown file)")
    .argument('<file>', 'the file to trace (renamed or copied files trace the same)')
    .option('--json', 'print {"file":{"path","sha256"},"runs":[…],…}, runs as in `log --json`, oldest first')
    .option('--no-index-check', 'do not check the search index against the entries before naming sources: sources are then marked unproven');
  addServerOptions(traceCommand)
    .action(async (file: string, o: { json?: boolean; indexCheck: boolean } & ServerOptions) => {
      const server = await serverFrom(io, o);
      if (server) {
        if (!o.indexCheck) throw new FfauditError('USAGE', '--no-index-check is for a local ledger: the server checks its indexes itself');
        const { lineage } = await traceRemote(io, server, file);
        if (!lineage.known) setStatus(EXIT_INTEGRITY);
        if (o.json) out(lineageJson(lineage));
        else out(lineage.known ? formatLineageTree(lineage) : unknownLine(lineage.file, SERVER_LOGS));
        return;
      }
      return withLedger(g(), io, async (l) => {
        const { lineage } = await traceFile(io, l, file, { checkIndex: o.indexCheck });
        if (!lineage.known) setStatus(EXIT_INTEGRITY);
        if (o.json) out(lineageJson(lineage));
        else out(lineage.known ? formatLineageTree(lineage) : unknownLine(lineage.file));
      });
    });

  const bundleCommand = program
    .command('bundle')
    .description('write one self-contained evidence bundle for the lineage of each FILE (verify it with verify-bundle)')
    .argument('<files...>', 'the files the bundle vouches for')
    .requiredOption('-o, --output <file>', 'where to write the bundle')
    .option('--with-reports', "include FFmpeg's (redacted) report logs");
  addServerOptions(bundleCommand)
    .action(async (files: string[], o: { output: string; withReports?: boolean } & ServerOptions) => {
      const server = await serverFrom(io, o);
      if (server) return remoteBundleCommand(server, files, o);
      return withLedger(g(), io, async (l) => {
        const traced: Lineage[] = [];
        for (const f of files) {
          const { lineage } = await traceFile(io, l, f);
          if (!lineage.known) {
            io.err(`ffaudit: ${unknownLine(lineage.file)}`);
            setStatus(EXIT_INTEGRITY);
            return;
          }
          traced.push(lineage);
        }
        const bundle = await bundleLineages(l, traced, { withReports: o.withReports ?? false });
        const text = formatBundle(bundle);
        writeAtomically(pathFrom(io, o.output), o.output, text);
        const runs = new Set(traced.flatMap((t) => (t.runs.length > 0 ? t.runs : t.readBy).map((r) => r.id))).size;
        out(`wrote ${o.output}: ${bundle.entries.length} entries (${runs} runs), ${bundle.blobs.length} blobs, ${Buffer.byteLength(text, 'utf8')} bytes, against the checkpoint at tree size ${parseSignedCheckpoint(bundle.checkpoint).size}${timeNote(bundle.timestamps)}\n`);
      });
    });

  program
    .command('verify-bundle')
    .description(
      'check an evidence bundle offline (no ledger, no network) against the log key you obtained independently: give --pubkey or --policy ' +
        '(--insecure-any-key is the only way to go without); exit 0 valid, 1 invalid, 2 could not run',
    )
    .argument('<bundle>', 'the bundle file')
    .option('--file <file>', 'the file the bundle should vouch for: its SHA-256 must be the bundle\'s final output')
    .option('--pubkey <file>', "the log's verifier key (as `ffaudit pubkey` prints it), obtained independently; repeatable: any one of them may have signed, and a bundle across several logs needs one for each log", collect)
    .option('--policy <file>', "a C2SP tlog-policy file: its log lines are the accepted keys, and its quorum of witnesses must have cosigned the bundle's checkpoint (every log's, for a bundle across logs)")
    .option('--insecure-any-key', "check the bundle against its own key: proves internal consistency only, not who made it (a warning is printed)")
    .option('--tsa-ca <file>', "PEM file of the CA certificates a time-stamping authority's certificate must chain to, for the bundle's RFC 3161 tokens; repeatable (without it, a token's signature and imprint are checked but not who the TSA is)", collect)
    .option('--require-timestamp', 'invalid unless a token verified against --tsa-ca vouches for every entry of the bundle')
    .option('--json', 'print the verdict as JSON')
    .action(async (bundlePath: string, o: { file?: string; pubkey?: string[]; policy?: string; insecureAnyKey?: boolean; tsaCa?: string[]; requireTimestamp?: boolean; json?: boolean }) => {
      const { keys: pubkeys, policy } = acceptedKeys(io, o);
      const caPem = await tsaCaText(io, o.tsaCa);
      if (o.requireTimestamp && caPem === null) throw new FfauditError('USAGE', '--require-timestamp needs --tsa-ca FILE: a token is trusted only through a CA you trust');
      const fileSha256 = o.file !== undefined ? (await hashFile(pathFrom(io, o.file))).sha256 : undefined;
      const bytes = readInput(pathFrom(io, bundlePath), bundlePath, 'the bundle', MAX_BUNDLE_FILE);
      const timestamps = await timestampCheck(caPem);
      const v = verifyBundle(bytes, { pubkeys, timestamps, ...(policy ? { policy } : {}), ...(fileSha256 !== undefined ? { fileSha256 } : {}) });
      if (o.requireTimestamp && v.untimed.length > 0) {
        // The requirement is part of the verdict: a bundle that misses it is invalid for whoever required it.
        for (const u of untimedText(v)) v.failures.push(`no time-stamp token verified against the CA you gave vouches for ${u} (--require-timestamp)`);
        v.ok = false;
      }
      // Trusted time is shown when the bundle carries tokens or the user asked (--tsa-ca): the verdict on a bundle
      // without tokens, for a user who did not ask, is exactly what it always was.
      const askedTime = v.time.length > 0 || caPem !== null;
      if (o.json) {
        // A v2 bundle (several logs) adds `logs`; a v1 bundle's JSON is exactly as it always was.
        const logs = v.logs?.map((l) => ({ origin: l.origin, checkpoint_size: l.checkpointSize, key_id: l.keyId, key_fingerprint: l.keyFingerprint, entries: l.entries, ...(l.quorum ? { quorum: l.quorum } : {}) }));
        out(`${JSON.stringify({ ok: v.ok, key_verified: v.keyVerified, failures: v.failures, origin: v.origin, checkpoint_size: v.checkpointSize, key_id: v.keyId, key_fingerprint: v.keyFingerprint, ...(logs ? { logs } : {}), ...(v.quorum ? { quorum: v.quorum } : {}), subjects: v.subjects, file: v.file ?? null, runs: v.runs, notes: v.notes, lineage: { signed_links: v.lineage.signedLinks, content_links: v.lineage.contentLinks, signed_sources: v.lineage.signedSources, unsigned_sources: v.lineage.unsignedSources }, ...(askedTime ? { timestamps: timestampsJson(v, timestamps.anchored), untimed: v.untimed } : {}) })}\n`);
      } else {
        out(formatBundleVerdict(bundlePath, v, askedTime ? formatTimeVerdict(v, timestamps.anchored) : []));
      }
      if (!v.keyVerified) io.err(`ffaudit: ${KEY_NOT_VERIFIED[0]!.replace(/!/g, '').trim()}: --insecure-any-key was given\n`);
      if (!v.ok && !o.json) io.err(`ffaudit: the bundle is INVALID: ${printable(v.failures[0] ?? 'unknown failure')}\n`);
      setStatus(v.ok ? 0 : EXIT_INTEGRITY);
    });

  const reportCommand = program
    .command('report')
    .description('write a self-contained, printable HTML chain-of-custody report for FILE, or an activity report for a period')
    .argument('[file]', 'the file to report on')
    .option('-o, --output <file>', 'where to write the HTML (default: standard output)')
    .option('--since <when>', 'activity report: runs started at or after (RFC 3339 time, date, or age such as 7d)')
    .option('--until <when>', 'activity report: runs started at or before')
    .option('--tsa-ca <file>', "PEM file of the CA certificates the TSA's certificate must chain to, to state the time its tokens vouch for (default: the ledger's config.json \"tsa\": {\"ca\": FILE}); repeatable", collect);
  addServerOptions(reportCommand)
    .action(async (file: string | undefined, o: { output?: string; since?: string; until?: string; tsaCa?: string[] } & ServerOptions) => {
      if (file !== undefined && (o.since !== undefined || o.until !== undefined)) throw new FfauditError('USAGE', 'give either FILE or --since/--until, not both');
      if (file === undefined && o.since === undefined && o.until === undefined) throw new FfauditError('USAGE', 'give a FILE, or --since/--until for an activity report');
      const server = await serverFrom(io, o);
      if (server) {
        if (file === undefined) throw new FfauditError('USAGE', 'with --server, give a FILE: activity reports are of a local ledger');
        if (o.tsaCa) throw new FfauditError('USAGE', '--tsa-ca is for a local ledger: the server checks what it reports itself');
        return remoteReportCommand(server, file, o.output);
      }
      const p = file === undefined ? period(o) : undefined;
      const l = openLedger(g(), io);
      let html: string;
      let checked: ReportVerification;
      try {
        const caPem = (await tsaCaText(io, o.tsaCa)) ?? (await ledgerTsaCa(l.dir));
        // Only an anchored check states a time; without a CA the report says the tokens were not verified.
        const timestamps = caPem !== null ? { timestamps: await timestampCheck(caPem) } : {};
        const bar = progressBar(io, 'verifying');
        if (file !== undefined) {
          const { lineage, size } = await traceFile(io, l, file);
          if (!lineage.known) {
            io.err(`ffaudit: ${unknownLine(lineage.file)}`);
            setStatus(EXIT_INTEGRITY);
            return;
          }
          const m = await fileReport(l, lineage, size, { onProgress: bar?.update, ...timestamps });
          html = renderFileReport(m);
          checked = m.verification;
        } else {
          const m = await activityReport(l, p!, { onProgress: bar?.update, ...timestamps });
          html = renderActivityReport(m);
          checked = m.verification;
        }
        bar?.done();
      } finally {
        l.close();
      }
      if (o.output !== undefined) writeAtomically(pathFrom(io, o.output), o.output, html);
      else out(html);
      // The document is written either way (it says what failed); the status says it too.
      if (!checked.ledger.ok) {
        const n = checked.ledger.problems.length;
        io.err(`ffaudit: the ledger fails verification (${n} problem${n === 1 ? '' : 's'}; run ffaudit verify): the report says so and is not marked VERIFIED\n`);
        setStatus(EXIT_INTEGRITY);
      } else if (!checked.ok) {
        io.err(`ffaudit: the report's entries fail verification (${printable(checked.failures[0] ?? 'unknown failure')}): the report says so\n`);
        setStatus(EXIT_INTEGRITY);
      }
    });

  program
    .command('export')
    .description('print runs and custody notes as NDJSON: Elastic Common Schema documents (ecs) or in-toto Statements with the link predicate (in-toto)')
    .requiredOption('--format <format>', 'ecs or in-toto')
    .option('--sign', 'in-toto: each Statement in a DSSE envelope signed with the ledger\'s key')
    .option('--since <when>', 'runs started (notes recorded) at or after (RFC 3339 time, date, "YYYY-MM-DD HH:MM" (UTC), or age such as 7d)')
    .option('--until <when>', 'runs started (notes recorded) at or before; a date or a minute is included whole')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .action((o: { format: string; sign?: boolean; since?: string; until?: string; output?: string }) => {
      if (o.format !== 'ecs' && o.format !== 'in-toto') throw new FfauditError('USAGE', `--format must be ecs or in-toto, not ${JSON.stringify(o.format)}`);
      if (o.sign && o.format !== 'in-toto') throw new FfauditError('USAGE', '--sign applies to --format in-toto only');
      const p = period(o);
      const l = openLedger(g(), io);
      let file: AtomicFile | undefined;
      try {
        if (o.output !== undefined) file = atomicFile(pathFrom(io, o.output)); // never through a link planted at the name
        const write = (s: string) => (file ? file.write(s) : out(s));
        const leftOut = { runs: 0, notes: 0 };
        for (const x of exportAs(l, p, o.format, { sign: o.sign })) {
          if (x.leftOut) leftOut[x.leftOut]++;
          else write(`${JSON.stringify(x.doc)}\n`);
        }
        const what = [leftOut.runs > 0 ? `${leftOut.runs} run${leftOut.runs === 1 ? '' : 's'} with no hashed output` : '', leftOut.notes > 0 ? `${leftOut.notes} custody note${leftOut.notes === 1 ? '' : 's'} naming no hashed file` : ''].filter((x) => x !== '');
        if (what.length > 0) io.err(`ffaudit: left out ${what.join(' and ')}: an in-toto Statement needs a subject with a digest\n`);
        file?.commit();
      } catch (e) {
        if (e instanceof FfauditError) throw e;
        throw new FfauditError('IO', `cannot write ${o.output ?? 'the export'}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      } finally {
        file?.abort(); // nothing there once committed
        l.close();
      }
    });
}
