/**
 * `verify` on a ledger, with the checkpoint it is trusted to extend (docs/design.md, threat model: a rollback, or a
 * history rewritten with the signing key, is found only against a checkpoint kept elsewhere): one saved earlier, an
 * archive's latest, or, by default, that of the archive the ledger's config names. Lives in archive/ because the
 * last two read archives; a ledger with no archive is verified the same way.
 */
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { FfauditError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Problem } from '../ledger/problems.js';
import type { VerifyReport } from '../ledger/verify.js';
import { readArchiveCheckpointText } from './archive.js';
import { DEFAULT_MAX_LAG, readArchiveConfig } from './config.js';
import { parseDuration } from './duration.js';
import { archiveBehindProblems } from './lag.js';
import { openTarget } from './open-target.js';
import type { ArchiveTarget } from './target.js';

/** The checkpoint to check the log's extension of: its text, or the latest one of an archive (s3://… or a directory). */
export type Trusted = { checkpoint: string } | { archive: string };

export interface LedgerVerifyOptions {
  trusted?: Trusted | undefined;
  /** Without `trusted`: check against the archive the ledger's config names (archive.to), if any. */
  configuredArchive?: boolean;
  /** S3 endpoint for an s3:// archive (else the AWS environment; for the configured archive, else its config). */
  endpoint?: string | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface LedgerVerifyResult {
  report: VerifyReport;
  /** The archive whose checkpoint was trusted: as given, or the one the config names (`configured`). */
  archive?: { location: string; configured: boolean };
  /** The archive the config names, when it could not be checked against, and why: the verdict is then the ledger's alone. */
  skippedArchive?: { location: string; reason: string };
}

export async function verifyLedger(ledger: Ledger, opts: LedgerVerifyOptions = {}): Promise<LedgerVerifyResult> {
  let trusted: string | undefined;
  let archive: LedgerVerifyResult['archive'];
  let skippedArchive: LedgerVerifyResult['skippedArchive'];
  if (opts.trusted && 'archive' in opts.trusted) {
    trusted = await readArchiveCheckpoint(opts.trusted.archive, opts.endpoint);
    archive = { location: opts.trusted.archive, configured: false };
  } else if (opts.trusted) {
    trusted = opts.trusted.checkpoint;
  } else if (opts.configuredArchive) {
    const configured = await configuredArchiveCheckpoint(ledger, opts.endpoint);
    if (configured && 'checkpoint' in configured) {
      trusted = configured.checkpoint;
      archive = { location: configured.location, configured: true };
    } else if (configured) {
      skippedArchive = configured;
    }
  }
  const report = await ledger.verify({ trusted, onProgress: opts.onProgress });
  if (archive && trusted !== undefined) {
    const behind = archiveLagProblems(ledger, trusted);
    report.problems.push(...behind);
    report.ok &&= behind.length === 0;
  }
  return { report, ...(archive ? { archive } : {}), ...(skippedArchive ? { skippedArchive } : {}) };
}

/**
 * The latest checkpoint of an archive, to use as the trusted one. The S3 endpoint: `endpoint` (--endpoint), else the
 * AWS environment variables; never the ledger's config, which whoever rewrote the ledger can also rewrite to point
 * at a server of their own.
 */
async function readArchiveCheckpoint(location: string, endpoint: string | undefined): Promise<string> {
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
 * The latest checkpoint of the archive the ledger's config names (`archive.to`), read where `archive` writes it
 * (`endpoint`, else `archive.endpoint`, else the AWS environment). An archive that cannot be read, holds nothing yet
 * or holds another log is a reason, never a failure: the caller says it, and the verdict is the ledger's alone.
 * This rests on the ledger's own config, which whoever can rewrite the ledger can rewrite too: it catches a restored
 * backup or a rewrite that left the config alone; for proof, name the archive yourself (`verify --trusted LOCATION`).
 */
async function configuredArchiveCheckpoint(ledger: Ledger, endpoint: string | undefined): Promise<{ location: string; checkpoint: string } | { location: string; reason: string } | undefined> {
  const cfg = readArchiveConfig(ledger.dir);
  if (cfg.to === undefined) return undefined;
  // eslint-disable-next-line no-control-regex
  const where = cfg.to.replace(/[\u0000-\u001f\u007f]/g, '?');
  const skip = (reason: string) => ({ location: where, reason });
  let target: ArchiveTarget | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    target = await openTarget(cfg.to, { endpoint: endpoint ?? cfg.endpoint });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FfauditError('ARCHIVE', `no answer within ${CONFIGURED_ARCHIVE_TIMEOUT_S} s`)), CONFIGURED_ARCHIVE_TIMEOUT_S * 1000);
    });
    const text = await Promise.race([readArchiveCheckpointText(target), timeout]);
    if (text === undefined) return skip('it holds no checkpoint (nothing was archived there yet)');
    let origin: string;
    try {
      origin = parseSignedCheckpoint(text).origin;
    } catch (e) {
      return skip(`its checkpoint is malformed (${(e as Error).message}); check it with ffaudit verify --from`);
    }
    if (origin !== ledger.origin) return skip(`it holds another log (origin ${JSON.stringify(origin)})`);
    return { location: target.location, checkpoint: text };
  } catch (e) {
    return skip((e instanceof Error ? e.message : String(e)).split('\n')[0]!);
  } finally {
    clearTimeout(timer);
    target?.close();
  }
}

/**
 * Against an archive: local entries the archive never received, older than the ledger's archive.maxLag (default
 * 24h), are an `archive-behind` finding.
 */
function archiveLagProblems(ledger: Ledger, archivedCheckpoint: string): Problem[] {
  let size: number;
  try {
    size = parseSignedCheckpoint(archivedCheckpoint).size;
  } catch {
    return []; // verify reports a malformed trusted checkpoint itself
  }
  const maxLag = parseDuration(readArchiveConfig(ledger.dir).maxLag ?? DEFAULT_MAX_LAG, 'archive.maxLag in the ledger config');
  return archiveBehindProblems(ledger, size, maxLag);
}
