/** WORM copies: archive to S3 Object Lock or a directory as C2SP tlog-tiles, and verification of an archived copy. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FfauditError, isFfauditError } from '../../core/errors.js';
import type { ArchiveResult } from '../../archive/archive.js';
import { parseDuration } from '../../archive/duration.js';
import { describeRetention, DEFAULT_MODE, DEFAULT_RETAIN } from '../../archive/retention.js';
import { runArchive } from '../../archive/run-archive.js';
import { verifyArchiveAt, type ArchiveVerifyReport } from '../../archive/verify-archive.js';
import { openLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY, reportError } from '../exit.js';
import { formatProblems, plural, progressBar, verdictWord } from '../format.js';
import { locationFrom, pathFrom, type Io } from '../io.js';
import { repeatUntilSignalled } from '../repeat.js';

interface ArchiveCliOptions {
  to?: string;
  endpoint?: string;
  mode?: string;
  retain?: string;
  json?: boolean;
  watch?: boolean;
  interval: string;
  ifIdle?: boolean;
  full?: boolean;
}

function formatArchiveResult(location: string, r: ArchiveResult): string {
  const lines = [`archive    ${location}`];
  if (!r.ok) {
    lines.push(
      r.problems.every((p) => p.kind === 'checkpoint-signature-invalid')
        ? "verdict    REFUSED: the archive's checkpoint is not validly signed by this log's key; nothing was written"
        : r.problems.every((p) => p.kind === 'blob-missing')
          ? 'verdict    REFUSED: entries to be archived name reports or values that are missing from the ledger (run ffaudit verify); nothing was written'
          : `verdict    REFUSED: the local log is not an append-only extension of the archive (size ${r.size}); nothing was written`,
    );
    lines.push(...formatProblems(r.problems));
    return `${lines.join('\n')}\n`;
  }
  const w = r.written;
  const parts = [plural(w.tiles, 'hash tile'), plural(w.bundles, 'entry bundle'), plural(w.blobs, 'report')];
  if (w.vkey) parts.push('the vkey');
  if (w.checkpoint) parts.push('the checkpoint');
  const count = w.tiles + w.bundles + w.blobs + (w.vkey ? 1 : 0) + (w.checkpoint ? 1 : 0);
  if (count === 0) lines.push(`archived   nothing new: the archive already holds the log at size ${r.size}`);
  else lines.push(`archived   size ${r.size} (the archive held ${r.previousSize}): wrote ${parts.join(', ')}`);
  if (r.alreadyThere > 0) lines.push(`           ${plural(r.alreadyThere, 'object')} already there, left untouched`);
  if (r.mode === 'full') lines.push('           (the whole archive was listed and reconciled)');
  if (r.protection) lines.push(`protection ${r.protection}`);
  return `${lines.join('\n')}\n`;
}

/** One archive run: returns the exit status. */
async function archiveCommand(io: Io, g: GlobalOptions, o: ArchiveCliOptions): Promise<number> {
  const ledger = openLedger(g, io);
  try {
    const bar = o.json ? undefined : progressBar(io, 'archiving');
    const run = await runArchive(ledger, {
      to: o.to === undefined ? undefined : locationFrom(io, o.to),
      endpoint: o.endpoint,
      mode: o.mode,
      retain: o.retain,
      full: o.full === true,
      ifIdle: o.ifIdle === true,
      onStart: ({ kind, retention }) => {
        if (o.json) return;
        io.out(kind === 's3' ? `retention  ${describeRetention(retention)}\n` : 'retention  none on a directory: files are made read-only, and immutable (chattr +i) where privileges allow\n');
      },
      onProgress: bar?.update,
      onTimestamp: (line) => (o.json ? io.err(`ffaudit: ${line}\n`) : io.out(`${line.replace(/^timestamp: /, 'timestamp  ')}\n`)),
    });
    bar?.done();
    if (run.busy) return 0;
    const { result: r, retention } = run;
    io.out(o.json ? `${JSON.stringify({ ...r, location: run.location, retention: { mode: retention.mode, until: retention.until.toISOString() } })}\n` : formatArchiveResult(run.location, r));
    return r.ok ? 0 : EXIT_INTEGRITY;
  } finally {
    ledger.close();
  }
}

/** `archive --watch`: archives, waits, again, until interrupted. Transient failures are reported and retried. */
async function watchArchive(io: Io, g: GlobalOptions, o: ArchiveCliOptions): Promise<number> {
  const interval = parseDuration(o.interval, '--interval');
  const status = await repeatUntilSignalled(interval, async () => {
    let status: number;
    try {
      status = await archiveCommand(io, g, o);
    } catch (e) {
      status = reportError(e, g.verbose ?? false, io.err);
      if (isFfauditError(e) && (e.code === 'ARCHIVE' || e.code === 'BUSY' || e.code === 'IO')) status = 0;
    }
    return status !== 0 ? status : undefined; // a fork, or a setting that will not fix itself
  });
  return status ?? 0;
}

export function registerArchiveCommands(program: Command, { io, setStatus }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();
  program
    .command('archive')
    .description('copy the log, its vkey and its reports to write-once storage as C2SP tlog-tiles (incremental)')
    .option('--to <location>', 's3://BUCKET/PREFIX or a directory (default: the ledger config\'s archive.to)')
    .option('--endpoint <url>', 'S3 endpoint URL for S3-compatible servers (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)')
    .option('--mode <mode>', `Object Lock mode: governance or compliance (default: ${DEFAULT_MODE})`)
    .option('--retain <period>', `how long every object stays locked: <n>d or <n>y (default: ${DEFAULT_RETAIN})`)
    .option('--watch', 'keep archiving every --interval until interrupted')
    .option('--interval <duration>', 'with --watch: time between runs (s, m, h, d)', '60s')
    .option('--if-idle', 'do nothing (exit 0) when another archive of this ledger is running')
    .option('--full', 'list the whole archive and write whatever is missing, instead of starting from its checkpoint')
    .option('--json', 'print the result as JSON')
    .action(async (o: ArchiveCliOptions) => {
      if (o.to !== undefined && o.to === '') throw new FfauditError('USAGE', '--to must not be empty');
      setStatus(o.watch ? await watchArchive(io, g(), o) : await archiveCommand(io, g(), o));
    });
}

function formatArchiveVerify(location: string, r: ArchiveVerifyReport): string {
  const lines = [`archive  ${location}`, `origin   ${r.origin}`];
  lines.push(
    r.keyVerified
      ? `key      ${r.vkey} (the key you gave)`
      : `key      ${r.vkey}\n         !! NOT VERIFIED: this is the archive's own vkey. Anyone able to write an archive can sign it with a key of\n         !! their own; compare this key with one you trust, or pass --pubkey FILE.`,
  );
  lines.push(
    `checked  ${r.checked.entries} entries in their bundles, ${plural(r.checked.tiles, 'hash tile')}, ${plural(r.checked.checkpoints, 'signed checkpoint')}, ${plural(r.checked.blobs, 'report')}, ${
      // A log read over HTTP shows no retention (archive/http-source.ts): nothing of it was checked.
      r.checked.objects > 0 ? `and the retention of ${plural(r.checked.objects, 'object')}` : 'and no retention (a log read over HTTP does not show it)'
    }`,
  );
  const t = r.timestamps;
  if (t.found > 0) {
    lines.push(
      t.checked
        ? `tokens   ${t.verified} of ${plural(t.found, 'time-stamp token')} verified against the TSA CA${t.otherCa ? ` (${t.otherCa} under a CA not given: they state no time here)` : ''}${t.newest !== undefined ? `; ${t.newest}` : ''}`
        : `tokens   ${plural(t.found, 'time-stamp token')} published, NOT CHECKED: give the TSA's CA with --tsa-ca FILE`,
    );
  }
  if (r.ok) {
    lines.push(`verdict  INTACT: all ${r.size} archived entries are exactly as signed, rebuilt from the tiles into the signed root${r.keyVerified ? '' : ' (by the unverified key above)'}.`);
  } else {
    lines.push(`verdict  ${verdictWord(r.problems)}: ${plural(r.problems.length, 'problem')} found`, ...formatProblems(r.problems));
  }
  return `${lines.join('\n')}\n`;
}

/** `verify --from LOCATION [--pubkey FILE] [--json]`: returns the exit status. */
export async function verifyArchiveCommand(io: Io, location: string, opts: { pubkey?: string | undefined; json?: boolean | undefined; endpoint?: string | undefined; tsaCa?: string | undefined }): Promise<number> {
  let pubkey: string | undefined;
  if (opts.pubkey !== undefined) {
    try {
      pubkey = readFileSync(pathFrom(io, opts.pubkey), 'utf8');
    } catch (e) {
      throw new FfauditError('IO', `cannot read the verifier key ${opts.pubkey}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  const bar = opts.json ? undefined : progressBar(io, 'verifying');
  const v = await verifyArchiveAt(locationFrom(io, location), { pubkey, endpoint: opts.endpoint, onProgress: bar?.update, tsaCa: opts.tsaCa });
  bar?.done();
  const r = v.report;
  io.out(opts.json ? `${JSON.stringify({ ok: r.ok, size: r.size, key_verified: r.keyVerified, origin: r.origin, problems: r.problems, ...(r.timestamps.found > 0 || r.timestamps.checked ? { timestamps: r.timestamps } : {}) })}\n` : formatArchiveVerify(v.location, r));
  return r.ok ? 0 : EXIT_INTEGRITY;
}
