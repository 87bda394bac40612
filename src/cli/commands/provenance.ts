/** Provenance for people who were not there: trace, bundle, verify-bundle, report, export. */
import { closeSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { hashFile } from '../../capture/hash.js';
import { formatBundle, verifyBundle } from '../../core/bundle.js';
import { parseSignedCheckpoint } from '../../core/checkpoint.js';
import { runToEcs } from '../../core/ecs.js';
import { FfauditError } from '../../core/errors.js';
import { runToInToto } from '../../core/in-toto.js';
import { parseVerifierKey } from '../../core/note.js';
import { renderActivityReport, renderFileReport, type ReportVerification } from '../../core/report-html.js';
import { parseWhen } from '../../core/time.js';
import { runsInPeriod, type Period } from '../../ledger/activity.js';
import { bundleLineages } from '../../ledger/bundle.js';
import type { Ledger } from '../../ledger/ledger.js';
import { activityReport, fileReport } from '../../ledger/report.js';
import { traceContent, type Lineage } from '../../ledger/trace.js';
import { openLedger, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY } from '../exit.js';
import { progressBar } from '../format.js';
import { formatBundleVerdict, formatLineageTree, KEY_NOT_VERIFIED, printable } from '../lineage-format.js';

/** A bundle larger than this is refused before it is read (a real one for thousands of runs is a few MiB). */
export const MAX_BUNDLE_FILE = 1 << 30;

function out(text: string): void {
  process.stdout.write(text);
}

/** Writes OUT through a temporary file and a rename, so that a failure never leaves half a file under the name. */
function writeAtomically(path: string, text: string): void {
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, abs);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

interface Traced {
  lineage: Lineage;
  size: number;
}

async function traceFile(l: Ledger, file: string): Promise<Traced> {
  const path = resolve(file);
  const d = await hashFile(path);
  return { lineage: traceContent(l, path, d.sha256), size: d.size };
}

function unknownLine(t: Lineage): string {
  return `${printable(t.file.path)}: unknown to this ledger: no audited run produced or read these bytes and no custody note names them (sha256 ${t.file.sha256})\n`;
}

function lineageJson(t: Lineage): string {
  return `${JSON.stringify({
    file: t.file,
    known: t.known,
    runs: t.runs,
    sources: t.sources,
    notes: t.notes,
    read_by: t.readBy,
  })}\n`;
}

function period(o: { since?: string; until?: string }): Period {
  const now = Date.now();
  const p: Period = {};
  if (o.since !== undefined) p.since = parseWhen(o.since, now);
  if (o.until !== undefined) p.until = parseWhen(o.until, now);
  if (p.since !== undefined && p.until !== undefined && p.until < p.since) throw new FfauditError('USAGE', '--until must not be earlier than --since');
  return p;
}

function readInput(path: string, what: string, max: number): Buffer {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new FfauditError('IO', `${what} ${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (size > max) throw new FfauditError('INTEGRITY', `${what} ${path} is larger than ${max} bytes: not a bundle this tool makes`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FfauditError('IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * A reader that stops early (`ffaudit export … | head`) closes the pipe: that ends the output, it is not a
 * failure worth a stack trace. Any other write error is one line and exit 2.
 */
function endQuietlyOnClosedPipe(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.stderr.write(`ffaudit: cannot write to standard output: ${e.code ?? e.message}\n`);
    process.exit(2);
  });
}

export function registerProvenanceCommands(program: Command, setStatus: (s: number) => void): void {
  const g = () => program.opts<GlobalOptions>();
  endQuietlyOnClosedPipe();

  program
    .command('trace')
    .description("walk a file's lineage by content: the runs that produced these bytes, back to their sources (exit 1: unknown file)")
    .argument('<file>', 'the file to trace (renamed or copied files trace the same)')
    .option('--json', 'print {"file":{"path","sha256"},"runs":[…],…}, runs as in `log --json`, oldest first')
    .action(async (file: string, o: { json?: boolean }) => {
      const l = openLedger(g());
      try {
        const { lineage } = await traceFile(l, file);
        if (!lineage.known) setStatus(EXIT_INTEGRITY);
        if (o.json) out(lineageJson(lineage));
        else out(lineage.known ? formatLineageTree(lineage) : unknownLine(lineage));
      } finally {
        l.close();
      }
    });

  program
    .command('bundle')
    .description('write one self-contained evidence bundle for the lineage of each FILE (verify it with verify-bundle)')
    .argument('<files...>', 'the files the bundle vouches for')
    .requiredOption('-o, --output <file>', 'where to write the bundle')
    .option('--with-reports', "include FFmpeg's (redacted) report logs")
    .action(async (files: string[], o: { output: string; withReports?: boolean }) => {
      const l = openLedger(g());
      try {
        const traced: Lineage[] = [];
        for (const f of files) {
          const { lineage } = await traceFile(l, f);
          if (!lineage.known) {
            process.stderr.write(`ffaudit: ${unknownLine(lineage)}`);
            setStatus(EXIT_INTEGRITY);
            return;
          }
          traced.push(lineage);
        }
        const bundle = bundleLineages(l, traced, { withReports: o.withReports ?? false });
        const text = formatBundle(bundle);
        writeAtomically(o.output, text);
        const runs = new Set(traced.flatMap((t) => (t.runs.length > 0 ? t.runs : t.readBy).map((r) => r.id))).size;
        out(`wrote ${o.output}: ${bundle.entries.length} entries (${runs} runs), ${bundle.blobs.length} blobs, ${text.length} bytes, against the checkpoint at tree size ${parseSignedCheckpoint(bundle.checkpoint).size}\n`);
      } finally {
        l.close();
      }
    });

  program
    .command('verify-bundle')
    .description('check an evidence bundle offline (no ledger, no network); exit 0 valid, 1 invalid, 2 could not run')
    .argument('<bundle>', 'the bundle file')
    .option('--file <file>', 'the file the bundle should vouch for: its SHA-256 must be the bundle\'s final output')
    .option('--pubkey <file>', "the log's verifier key, obtained independently (without it the key itself is not verified)")
    .option('--json', 'print the verdict as JSON')
    .action(async (bundlePath: string, o: { file?: string; pubkey?: string; json?: boolean }) => {
      let pubkey;
      if (o.pubkey !== undefined) {
        const text = readInput(o.pubkey, 'the key file', 64 * 1024).toString('utf8');
        try {
          pubkey = parseVerifierKey(text);
        } catch (e) {
          throw new FfauditError('USAGE', `${o.pubkey} does not hold a verifier key (name+keyid+key): ${(e as Error).message}`);
        }
      }
      const fileSha256 = o.file !== undefined ? (await hashFile(resolve(o.file))).sha256 : undefined;
      const bytes = readInput(bundlePath, 'the bundle', MAX_BUNDLE_FILE);
      const v = verifyBundle(bytes, { ...(pubkey ? { pubkey } : {}), ...(fileSha256 !== undefined ? { fileSha256 } : {}) });
      if (o.json) {
        out(`${JSON.stringify({ ok: v.ok, key_verified: v.keyVerified, failures: v.failures, origin: v.origin, checkpoint_size: v.checkpointSize, key_id: v.keyId, key_fingerprint: v.keyFingerprint, subjects: v.subjects, file: v.file ?? null, runs: v.runs, notes: v.notes })}\n`);
      } else {
        out(formatBundleVerdict(bundlePath, v));
      }
      if (!v.keyVerified) process.stderr.write(`ffaudit: ${KEY_NOT_VERIFIED[0]!.replace(/!/g, '').trim()}: no --pubkey was given\n`);
      if (!v.ok && !o.json) process.stderr.write(`ffaudit: the bundle is INVALID: ${printable(v.failures[0] ?? 'unknown failure')}\n`);
      setStatus(v.ok ? 0 : EXIT_INTEGRITY);
    });

  program
    .command('report')
    .description('write a self-contained, printable HTML chain-of-custody report for FILE, or an activity report for a period')
    .argument('[file]', 'the file to report on')
    .option('-o, --output <file>', 'where to write the HTML (default: standard output)')
    .option('--since <when>', 'activity report: runs started at or after (RFC 3339 time, date, or age such as 7d)')
    .option('--until <when>', 'activity report: runs started at or before')
    .action(async (file: string | undefined, o: { output?: string; since?: string; until?: string }) => {
      if (file !== undefined && (o.since !== undefined || o.until !== undefined)) throw new FfauditError('USAGE', 'give either FILE or --since/--until, not both');
      if (file === undefined && o.since === undefined && o.until === undefined) throw new FfauditError('USAGE', 'give a FILE, or --since/--until for an activity report');
      const p = file === undefined ? period(o) : undefined;
      const l = openLedger(g());
      let html: string;
      let checked: ReportVerification;
      try {
        const bar = process.stderr.isTTY ? progressBar('verifying') : undefined;
        if (file !== undefined) {
          const { lineage, size } = await traceFile(l, file);
          if (!lineage.known) {
            process.stderr.write(`ffaudit: ${unknownLine(lineage)}`);
            setStatus(EXIT_INTEGRITY);
            return;
          }
          const m = await fileReport(l, lineage, size, { onProgress: bar?.update });
          html = renderFileReport(m);
          checked = m.verification;
        } else {
          const m = await activityReport(l, p!, { onProgress: bar?.update });
          html = renderActivityReport(m);
          checked = m.verification;
        }
        bar?.done();
      } finally {
        l.close();
      }
      if (o.output !== undefined) writeAtomically(o.output, html);
      else out(html);
      // The document is written either way (it says what failed); the status says it too.
      if (!checked.ledger.ok) {
        const n = checked.ledger.problems.length;
        process.stderr.write(`ffaudit: the ledger fails verification (${n} problem${n === 1 ? '' : 's'}; run ffaudit verify): the report says so and is not marked VERIFIED\n`);
        setStatus(EXIT_INTEGRITY);
      } else if (!checked.ok) {
        process.stderr.write(`ffaudit: the report's entries fail verification (${printable(checked.failures[0] ?? 'unknown failure')}): the report says so\n`);
        setStatus(EXIT_INTEGRITY);
      }
    });

  program
    .command('export')
    .description('print runs as NDJSON: Elastic Common Schema documents (ecs) or in-toto Statements with the link predicate (in-toto)')
    .requiredOption('--format <format>', 'ecs or in-toto')
    .option('--since <when>', 'runs started at or after (RFC 3339 time, date, or age such as 7d)')
    .option('--until <when>', 'runs started at or before')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .action((o: { format: string; since?: string; until?: string; output?: string }) => {
      if (o.format !== 'ecs' && o.format !== 'in-toto') throw new FfauditError('USAGE', `--format must be ecs or in-toto, not ${JSON.stringify(o.format)}`);
      const p = period(o);
      const l = openLedger(g());
      let fd: number | undefined;
      const tmp = o.output !== undefined ? join(dirname(resolve(o.output)), `.${basename(o.output)}.${process.pid}.tmp`) : undefined;
      try {
        if (tmp !== undefined) fd = openSync(tmp, 'w', 0o644);
        const write = (s: string) => (fd !== undefined ? writeSync(fd, s) : out(s));
        for (const run of runsInPeriod(l, p)) {
          const doc = o.format === 'ecs' ? runToEcs(run, l.origin) : runToInToto(run, l.origin);
          write(`${JSON.stringify(doc)}\n`);
        }
        if (fd !== undefined) {
          closeSync(fd);
          fd = undefined;
          renameSync(tmp!, resolve(o.output!));
        }
      } catch (e) {
        if (e instanceof FfauditError) throw e;
        throw new FfauditError('IO', `cannot write ${o.output ?? 'the export'}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      } finally {
        if (fd !== undefined) closeSync(fd);
        l.close();
      }
    });
}
