/**
 * `verify` on a ledger, with the checkpoint it is trusted to extend (docs/design.md, threat model: a rollback, or a
 * history rewritten with the signing key, is found only against a checkpoint kept elsewhere): one saved earlier, an
 * archive's latest, the latest one the team server's witness cosigned, or, by default, that of the archive the
 * ledger's config names. Lives in archive/ because most of these are read from elsewhere; a ledger with none is
 * verified the same way.
 */
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { verifiedCosignatures } from '../core/cosignature.js';
import { sha256Hex } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { TlogPolicy } from '../core/tlog-policy.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Problem } from '../ledger/problems.js';
import type { VerifyReport } from '../ledger/verify.js';
import { readArchiveCheckpointText } from './archive.js';
import { DEFAULT_MAX_LAG, readArchiveConfig } from './config.js';
import { parseDuration } from './duration.js';
import { archiveBehindProblems } from './lag.js';
import { openTarget } from './open-target.js';
import type { ArchiveTarget } from './target.js';

/**
 * The checkpoint to check the log's extension of: its text, the latest one of an archive (s3://… or a directory),
 * or the latest one the witness of a team server (http(s)://…) cosigned for this log.
 */
export type Trusted = { checkpoint: string } | { archive: string } | { server: string };

export interface LedgerVerifyOptions {
  trusted?: Trusted | undefined;
  /** Without `trusted`: check against the archive the ledger's config names (archive.to), if any. */
  configuredArchive?: boolean;
  /** S3 endpoint for an s3:// archive (else the AWS environment; for the configured archive, else its config). */
  endpoint?: string | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
  /** The fetch to reach a team server with (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** A tlog-policy to check the witnesses' cosignatures against, instead of the config's (Ledger.verify). */
  policy?: TlogPolicy | undefined;
  /** PEM text of the TSA CA the stored tokens must chain to (default: the file the config's tsa.ca names). */
  tsaCa?: string | undefined;
  now?: Date | undefined;
}

/** The stored time-stamp tokens: how many, how many verified, or why none was checked; the newest sentence. */
export interface LedgerStampSummary {
  stored: number;
  valid: number;
  /** Why the tokens were not checked (no CA configured or given, or it could not be read); absent when they were. */
  unchecked?: string | undefined;
  /** Tokens sound but under a CA not configured (and their renewals): not checked against it, not findings. */
  otherCa?: number | undefined;
  newest?: string | undefined;
}

export interface LedgerVerifyResult {
  report: VerifyReport;
  /** The archive whose checkpoint was trusted: as given, or the one the config names (`configured`). */
  archive?: { location: string; configured: boolean };
  /** The archive the config names, when it could not be checked against, and why: the verdict is then the ledger's alone. */
  skippedArchive?: { location: string; reason: string };
  /** The team server whose witness's latest cosigned checkpoint was trusted, and the cosigner that vouched for it. */
  server?: { url: string; cosigner: string };
  /** Absent when the ledger keeps no token. */
  timestamps?: LedgerStampSummary;
}

export async function verifyLedger(ledger: Ledger, opts: LedgerVerifyOptions = {}): Promise<LedgerVerifyResult> {
  let trusted: string | undefined;
  let archive: LedgerVerifyResult['archive'];
  let skippedArchive: LedgerVerifyResult['skippedArchive'];
  let server: LedgerVerifyResult['server'];
  if (opts.trusted && 'archive' in opts.trusted) {
    trusted = await readArchiveCheckpoint(opts.trusted.archive, opts.endpoint);
    archive = { location: opts.trusted.archive, configured: false };
  } else if (opts.trusted && 'server' in opts.trusted) {
    const got = await readWitnessCheckpoint(ledger, opts.trusted.server, opts.fetch ?? fetch);
    trusted = got.checkpoint;
    server = { url: opts.trusted.server, cosigner: got.cosigner };
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
  const report = await ledger.verify({ trusted, onProgress: opts.onProgress, policy: opts.policy });
  if (archive && trusted !== undefined) {
    const behind = archiveLagProblems(ledger, trusted);
    report.problems.push(...behind);
    report.ok &&= behind.length === 0;
  }
  const timestamps = await checkTimestamps(ledger, opts.tsaCa, opts.now);
  if (timestamps) {
    report.problems.push(...timestamps.problems);
    report.ok &&= timestamps.problems.length === 0;
  }
  return { report, ...(archive ? { archive } : {}), ...(skippedArchive ? { skippedArchive } : {}), ...(server ? { server } : {}), ...(timestamps ? { timestamps: timestamps.summary } : {}) };
}

/**
 * The stored tokens checked against the CA given, else the one the config names (timestamp/ledger-check.ts).
 * Without a CA they are not checked, and the summary says so: a token is believed only against a CA the verifier
 * chose. The config's CA rests on the ledger's folder like the rest of its config; for proof, give --tsa-ca.
 */
async function checkTimestamps(ledger: Ledger, given: string | undefined, now: Date | undefined): Promise<{ problems: Problem[]; summary: LedgerStampSummary } | undefined> {
  let stored: number;
  try {
    stored = ledger.timestamps().length;
  } catch {
    return undefined; // the damaged store is verify's finding
  }
  if (stored === 0) return undefined;
  const [{ readCaFile, readTsaConfig }, { checkStoredTimestamps }, { parseCaCertificates }] = await Promise.all([import('../timestamp/config.js'), import('../timestamp/ledger-check.js'), import('../timestamp/verify.js')]);
  let ca = given;
  if (ca !== undefined) parseCaCertificates(ca);
  else {
    try {
      const cfg = readTsaConfig(ledger.dir);
      if (!cfg) return { problems: [], summary: { stored, valid: 0, unchecked: 'no TSA CA is configured (tsa.ca in config.json) or given (--tsa-ca FILE)' } };
      ca = readCaFile(cfg.ca);
      parseCaCertificates(ca);
    } catch (e) {
      return { problems: [], summary: { stored, valid: 0, unchecked: (e as Error).message.split('\n')[0]! } };
    }
  }
  const r = checkStoredTimestamps(ledger, ca, now);
  return { problems: r.problems, summary: { stored, valid: r.valid.length, ...(r.otherCa > 0 ? { otherCa: r.otherCa } : {}), newest: r.newest } };
}

/** How long `verify --trusted URL` waits for the server, and the most it reads of the answer (a checkpoint is tiny). */
const SERVER_TIMEOUT_MS = 30_000;
const MAX_CHECKPOINT_BYTES = 64 * 1024;

/**
 * The latest checkpoint the team server's witness cosigned for this log (`GET <url>/witness/<hex SHA-256 of the
 * origin>/checkpoint`: the witness's monitoring prefix, c2sp.org/tlog-witness), to use as the trusted one. It must
 * carry a valid cosignature by each witness key of the ledger's config (from `ffaudit join`, never from the answer
 * itself), else it is refused. The log's own signature is checked by verify: a checkpoint the server cosigned that
 * this ledger's current key did not sign is a fork (the key was replaced), not a reason to stop.
 */
async function readWitnessCheckpoint(ledger: Ledger, url: string, fetchFn: typeof fetch): Promise<{ checkpoint: string; cosigner: string }> {
  const joined = ledger.server();
  if (!joined) {
    throw new FfauditError('USAGE', `the ledger at ${ledger.dir} has joined no server, so the witness key to check ${url}'s answer with is unknown: run ffaudit join URL first`);
  }
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new FfauditError('USAGE', `--trusted ${JSON.stringify(url)} is not a URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new FfauditError('USAGE', `--trusted ${url}: only http(s) servers`);
  const where = `${url.replace(/\/+$/, '')}/witness/${sha256Hex(Buffer.from(ledger.origin, 'utf8'))}/checkpoint`;
  let res: Response;
  try {
    res = await fetchFn(where, { signal: AbortSignal.timeout(SERVER_TIMEOUT_MS), headers: { accept: 'text/plain' } });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${SERVER_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new FfauditError('IO', `cannot reach the server ${url}: ${why}`);
  }
  const body = await readLimited(res, MAX_CHECKPOINT_BYTES).catch(() => undefined);
  if (res.status === 404) throw new FfauditError('NOT_FOUND', `the server ${url} has cosigned no checkpoint of this log (404): push to it first (ffaudit push)`);
  if (res.status !== 200) throw new FfauditError('IO', `the server ${url} answered ${res.status} for ${where}`);
  if (body === undefined) throw new FfauditError('BAD_INPUT', `the server ${url} sent more than ${MAX_CHECKPOINT_BYTES} bytes for a checkpoint`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(body);
  // Every witness key the config names must vouch for it: with an ML-DSA-44 key as well, both, so that the trust
  // does not rest on Ed25519 alone once the host knows better.
  const keys = [joined.witness, ...(joined.witnessMlDsa44 ? [joined.witnessMlDsa44] : [])];
  let cosigned: { name: string }[][];
  try {
    if (parseSignedCheckpoint(text).origin !== ledger.origin) throw new FfauditError('BAD_INPUT', 'it is for another log');
    cosigned = keys.map((k) => verifiedCosignatures(text, [k]));
  } catch (e) {
    throw new FfauditError('BAD_INPUT', `the checkpoint the server ${url} sent is not usable: ${(e as Error).message}`);
  }
  const missing = keys.findIndex((_, i) => cosigned[i]!.length === 0);
  if (missing >= 0) {
    const what = missing === 0 ? 'witness key' : 'ML-DSA-44 witness key';
    throw new FfauditError('BAD_INPUT', `the checkpoint the server ${url} sent carries no valid cosignature by its ${what} ${keys[missing]!.name} (from the ledger's config): refused`);
  }
  return { checkpoint: text, cosigner: cosigned[0]![0]!.name };
}

/** The body of a response, or a rejection once it passes `max` bytes (the rest is not read). */
async function readLimited(res: Response, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  // Leaving the loop early cancels the stream.
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    n += chunk.byteLength;
    if (n > max) throw new Error('too large');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
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
