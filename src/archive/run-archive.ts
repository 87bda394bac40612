/**
 * One archive run as `ffaudit archive` and the automatic archiver do it: the settings (given, else the ledger's
 * config, else the defaults), the per-ledger lock, the target, archiveLedger, and the refusal note that runs
 * archiving by themselves show until an archive there succeeds (auto.ts).
 */
import { FfauditError, isFfauditError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { archiveLedger, type ArchiveResult } from './archive.js';
import { clearArchiveRefusal, recordArchiveRefusal } from './auto.js';
import { readArchiveConfig } from './config.js';
import { acquireArchiveLock } from './lock.js';
import { DEFAULT_MODE, DEFAULT_RETAIN, parseLockMode, parseRetention, type Retention } from './retention.js';
import { openTarget } from './open-target.js';
import { parseArchiveLocation } from './target.js';

export interface RunArchiveOptions {
  /** s3://BUCKET/PREFIX or a directory (default: the config's archive.to). */
  to?: string | undefined;
  endpoint?: string | undefined;
  mode?: string | undefined;
  retain?: string | undefined;
  full?: boolean;
  /** When another archive of this ledger is running: return `busy` instead of failing. */
  ifIdle?: boolean;
  /** Told where and how long objects are kept, once the target is open and before anything is written. */
  onStart?: (start: { location: string; kind: 's3' | 'dir'; retention: Retention }) => void;
  onProgress?: ((done: number, total: number) => void) | undefined;
  /** Told what the ledger's TSA schedule did first (timestamp/ledger-stamps.ts), one line each. */
  onTimestamp?: ((line: string) => void) | undefined;
}

export type ArchiveRun = { busy: true } | { busy: false; location: string; retention: Retention; result: ArchiveResult };

export async function runArchive(ledger: Ledger, opts: RunArchiveOptions = {}): Promise<ArchiveRun> {
  const cfg = readArchiveConfig(ledger.dir);
  const to = opts.to ?? cfg.to;
  if (!to) throw new FfauditError('USAGE', 'say where to archive: --to s3://BUCKET/PREFIX or --to DIR (or set "archive": {"to": …} in the ledger config)');
  const retention = parseRetention(parseLockMode(opts.mode ?? cfg.mode ?? DEFAULT_MODE), opts.retain ?? cfg.retain ?? DEFAULT_RETAIN);
  let release: () => void;
  try {
    release = acquireArchiveLock(ledger.dir);
  } catch (e) {
    if (opts.ifIdle && isFfauditError(e) && e.code === 'BUSY') return { busy: true };
    throw e;
  }
  try {
    // With a TSA configured, the head is timestamped first (whatever the age of the last token) so that the archive
    // publishes a token over the checkpoint it publishes; a TSA that is down leaves the archive to go on without.
    const stampCa = await stampFirst(ledger, opts.onTimestamp);
    const target = await openTarget(to, { endpoint: opts.endpoint ?? cfg.endpoint, create: true });
    try {
      opts.onStart?.({ location: target.location, kind: parseArchiveLocation(to).kind, retention });
      const result = await archiveLedger(ledger, target, { retention, full: opts.full === true, onProgress: opts.onProgress, stampCa });
      if (result.ok) clearArchiveRefusal(ledger.dir, to);
      else recordArchiveRefusal(ledger.dir, to, result.problems);
      return { busy: false, location: target.location, retention, result };
    } finally {
      target.close();
    }
  } finally {
    release();
  }
}

/** Runs the ledger's TSA schedule when one is configured; returns its CA (PEM text) for publishing tokens. */
async function stampFirst(ledger: Ledger, tell: ((line: string) => void) | undefined): Promise<string | undefined> {
  if ((ledger.config as Record<string, unknown>).tsa === undefined) return undefined;
  const [{ stampsForLedger }, { readCaFile, readTsaConfig }] = await Promise.all([import('../timestamp/ledger-stamps.js'), import('../timestamp/config.js')]);
  for (const line of await stampsForLedger(ledger, { always: true })) tell?.(line);
  try {
    const tsa = readTsaConfig(ledger.dir);
    return tsa && readCaFile(tsa.ca);
  } catch {
    return undefined; // stampsForLedger said why
  }
}
