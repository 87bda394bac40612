/** WORM copies: archive to S3 Object Lock or a directory as C2SP tlog-tiles, and verification against them. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FfauditError, isFfauditError } from '../../core/errors.js';
import { archiveLedger, readArchiveCheckpointText, type ArchiveResult } from '../../archive/archive.js';
import { readArchiveConfig, DEFAULT_MAX_LAG } from '../../archive/config.js';
import { parseDuration } from '../../archive/duration.js';
import { archiveBehindProblems } from '../../archive/lag.js';
import { clearArchiveRefusal, recordArchiveRefusal } from '../../archive/auto.js';
import { acquireArchiveLock } from '../../archive/lock.js';
import { describeRetention, DEFAULT_MODE, DEFAULT_RETAIN, parseLockMode, parseRetention } from '../../archive/retention.js';
import { openTarget } from '../../archive/open-target.js';
import { isArchiveLocation as isArchive, parseArchiveLocation, type ArchiveTarget } from '../../archive/target.js';
import { verifyArchive, type ArchiveVerifyReport } from '../../archive/verify-archive.js';
import { parseSignedCheckpoint } from '../../core/checkpoint.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { Problem } from '../../ledger/problems.js';
import { openLedger, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY, reportError } from '../exit.js';
import { formatProblems, progressBar, verdictWord } from '../format.js';

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

function out(text: string): void {
  process.stdout.write(text);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function formatArchiveResult(target: ArchiveTarget, r: ArchiveResult): string {
  const lines = [`archive    ${target.location}`];
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
async function runArchive(g: GlobalOptions, o: ArchiveCliOptions): Promise<number> {
  const ledger = openLedger(g);
  try {
    const cfg = readArchiveConfig(ledger.dir);
    const to = o.to ?? cfg.to;
    if (!to) throw new FfauditError('USAGE', 'say where to archive: --to s3://BUCKET/PREFIX or --to DIR (or set "archive": {"to": …} in the ledger config)');
    const retention = parseRetention(parseLockMode(o.mode ?? cfg.mode ?? DEFAULT_MODE), o.retain ?? cfg.retain ?? DEFAULT_RETAIN);
    let release: () => void;
    try {
      release = acquireArchiveLock(ledger.dir);
    } catch (e) {
      if (o.ifIdle && isFfauditError(e) && e.code === 'BUSY') return 0;
      throw e;
    }
    const target = await openTarget(to, { endpoint: o.endpoint ?? cfg.endpoint, create: true });
    try {
      if (!o.json) {
        out(
          parseArchiveLocation(to).kind === 's3'
            ? `retention  ${describeRetention(retention)}\n`
            : 'retention  none on a directory: files are made read-only, and immutable (chattr +i) where privileges allow\n',
        );
      }
      const bar = !o.json && process.stderr.isTTY ? progressBar('archiving') : undefined;
      const r = await archiveLedger(ledger, target, { retention, full: o.full === true, onProgress: bar?.update });
      bar?.done();
      out(o.json ? `${JSON.stringify({ ...r, location: target.location, retention: { mode: retention.mode, until: retention.until.toISOString() } })}\n` : formatArchiveResult(target, r));
      // Runs that archive by themselves say a refusal on their stderr until an archive there succeeds (auto.ts).
      if (r.ok) clearArchiveRefusal(ledger.dir, to);
      else recordArchiveRefusal(ledger.dir, to, r.problems);
      return r.ok ? 0 : EXIT_INTEGRITY;
    } finally {
      target.close();
      release();
    }
  } finally {
    ledger.close();
  }
}

/** `archive --watch`: archives, waits, again, until interrupted. Transient failures are reported and retried. */
async function watchArchive(g: GlobalOptions, o: ArchiveCliOptions): Promise<number> {
  const interval = parseDuration(o.interval, '--interval');
  let stop: () => void = () => undefined;
  let stopped = false;
  const stopped$ = new Promise<void>((resolve) => {
    stop = () => {
      stopped = true;
      resolve();
    };
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopped) {
    let status: number;
    try {
      status = await runArchive(g, o);
    } catch (e) {
      status = reportError(e, g.verbose ?? false);
      if (isFfauditError(e) && (e.code === 'ARCHIVE' || e.code === 'BUSY' || e.code === 'IO')) status = 0;
    }
    if (status !== 0) return status; // a fork, or a setting that will not fix itself
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped$, new Promise<void>((resolve) => (timer = setTimeout(resolve, interval)))]);
    clearTimeout(timer);
  }
  return 0;
}

export function registerArchiveCommands(program: Command, setStatus: (s: number) => void): void {
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
      setStatus(o.watch ? await watchArchive(g(), o) : await runArchive(g(), o));
    });
}

/** True when a --trusted/--from value names an archive (s3://… or a directory) rather than a checkpoint file. */
export function isArchiveLocation(location: string): boolean {
  return isArchive(location);
}

/**
 * The latest checkpoint of an archive, to use as the trusted one. The S3 endpoint: `endpoint` (--endpoint), else the
 * AWS environment variables; never the ledger's config, which whoever rewrote the ledger can also rewrite to point
 * at a server of their own.
 */
export async function readArchiveCheckpoint(location: string, endpoint: string | undefined): Promise<string> {
  const target = await openTarget(location, { endpoint });
  try {
    const o = await target.get('checkpoint');
    if (!o) throw new FfauditError('ARCHIVE', `${target.location} holds no checkpoint: nothing was archived there`);
    return o.data.toString('utf8');
  } finally {
    target.close();
  }
}

/** How long `verify` waits for the archive its config names before it goes on without it. */
const CONFIGURED_ARCHIVE_TIMEOUT_S = 30;

/**
 * `verify` without --trusted, on a ledger whose config names an archive (`archive.to`): that archive's latest
 * checkpoint, read where `archive` writes it (--endpoint, else `archive.endpoint`, else the AWS environment), to
 * check the ledger against. An archive that cannot be read, holds nothing yet or holds another log is a warning on
 * stderr that names it, and the verdict is then the ledger's alone: never a failure, never silence. This rests on
 * the ledger's own config, which whoever can rewrite the ledger can rewrite too: it catches a restored backup or a
 * rewrite that left the config alone; for proof, name the archive yourself (`verify --trusted LOCATION`).
 */
export async function configuredArchiveCheckpoint(ledger: Ledger, endpoint: string | undefined): Promise<{ location: string; checkpoint: string } | undefined> {
  const cfg = readArchiveConfig(ledger.dir);
  if (cfg.to === undefined) return undefined;
  // eslint-disable-next-line no-control-regex
  const where = cfg.to.replace(/[\u0000-\u001f\u007f]/g, '?');
  const warn = (why: string): undefined => {
    process.stderr.write(`ffaudit: warning: the ledger was not checked against the archive its config names (${where}): ${why}\n`);
    return undefined;
  };
  let target: ArchiveTarget | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    target = await openTarget(cfg.to, { endpoint: endpoint ?? cfg.endpoint });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FfauditError('ARCHIVE', `no answer within ${CONFIGURED_ARCHIVE_TIMEOUT_S} s`)), CONFIGURED_ARCHIVE_TIMEOUT_S * 1000);
    });
    const text = await Promise.race([readArchiveCheckpointText(target), timeout]);
    if (text === undefined) return warn('it holds no checkpoint (nothing was archived there yet)');
    let origin: string;
    try {
      origin = parseSignedCheckpoint(text).origin;
    } catch (e) {
      return warn(`its checkpoint is malformed (${(e as Error).message}); check it with ffaudit verify --from`);
    }
    if (origin !== ledger.origin) return warn(`it holds another log (origin ${JSON.stringify(origin)})`);
    return { location: target.location, checkpoint: text };
  } catch (e) {
    return warn((e instanceof Error ? e.message : String(e)).split('\n')[0]!);
  } finally {
    clearTimeout(timer);
    target?.close();
  }
}

/**
 * `verify --trusted ARCHIVE`: local entries the archive never received, older than the ledger's archive.maxLag
 * (default 24h), are an `archive-behind` finding.
 */
export function archiveLagProblems(ledger: Ledger, archivedCheckpoint: string): Problem[] {
  let size: number;
  try {
    size = parseSignedCheckpoint(archivedCheckpoint).size;
  } catch {
    return []; // verify reports a malformed trusted checkpoint itself
  }
  const maxLag = parseDuration(readArchiveConfig(ledger.dir).maxLag ?? DEFAULT_MAX_LAG, 'archive.maxLag in the ledger config');
  return archiveBehindProblems(ledger, size, maxLag);
}

function formatArchiveVerify(location: string, r: ArchiveVerifyReport): string {
  const lines = [`archive  ${location}`, `origin   ${r.origin}`];
  lines.push(
    r.keyVerified
      ? `key      ${r.vkey} (the key you gave)`
      : `key      ${r.vkey}\n         !! NOT VERIFIED: this is the archive's own vkey. Anyone able to write an archive can sign it with a key of\n         !! their own; compare this key with one you trust, or pass --pubkey FILE.`,
  );
  lines.push(
    `checked  ${r.checked.entries} entries in their bundles, ${plural(r.checked.tiles, 'hash tile')}, ${plural(r.checked.checkpoints, 'signed checkpoint')}, ${plural(r.checked.blobs, 'report')}, and the retention of ${plural(r.checked.objects, 'object')}`,
  );
  if (r.ok) {
    lines.push(`verdict  INTACT: all ${r.size} archived entries are exactly as signed, rebuilt from the tiles into the signed root${r.keyVerified ? '' : ' (by the unverified key above)'}.`);
  } else {
    lines.push(`verdict  ${verdictWord(r.problems)}: ${plural(r.problems.length, 'problem')} found`, ...formatProblems(r.problems));
  }
  return `${lines.join('\n')}\n`;
}

/** `verify --from LOCATION [--pubkey FILE] [--json]`: returns the exit status. */
export async function verifyArchiveCommand(location: string, opts: { pubkey?: string; json?: boolean; endpoint?: string }): Promise<number> {
  let pubkey: string | undefined;
  if (opts.pubkey !== undefined) {
    try {
      pubkey = readFileSync(opts.pubkey, 'utf8');
    } catch (e) {
      throw new FfauditError('IO', `cannot read the verifier key ${opts.pubkey}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  const target = await openTarget(location, { endpoint: opts.endpoint });
  try {
    const bar = !opts.json && process.stderr.isTTY ? progressBar('verifying') : undefined;
    const r = await verifyArchive(target, { pubkey, onProgress: bar?.update });
    bar?.done();
    out(
      opts.json
        ? `${JSON.stringify({ ok: r.ok, size: r.size, key_verified: r.keyVerified, origin: r.origin, problems: r.problems })}\n`
        : formatArchiveVerify(target.location, r),
    );
    return r.ok ? 0 : EXIT_INTEGRITY;
  } finally {
    target.close();
  }
}
