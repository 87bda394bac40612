/** Asking a TSA for a token over HTTP (RFC 3161 §3.4) and keeping only what verifies. */
import { collectBounded } from '../core/bounded.js';
import { FfauditError } from '../core/errors.js';
import { imprintRequest, noteImprint } from './request.js';
import { verifyTimestampToken, type VerifiedTimestamp } from './verify.js';

export interface RequestOptions {
  /** Largest reply read (default 256 KiB: a token with a chain of a few certificates is a few KiB). */
  maxBytes?: number;
  timeoutMs?: number;
  now?: Date;
  /** Abandons the request early (a server shutting down). */
  signal?: AbortSignal | undefined;
}

const DEFAULT_MAX_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** https anywhere; plain http to this machine only (a test TSA, a local proxy), never across a network. */
export function tsaUrl(url: string, what = '--tsa'): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FfauditError('USAGE', `${what} ${JSON.stringify(url)} is not a URL`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new FfauditError('USAGE', `the TSA must be reached over https (plain http to loopback only): ${u.origin}`);
  if (u.username !== '' || u.password !== '') throw new FfauditError('USAGE', 'the TSA URL must not hold credentials');
  return u;
}

/** A token over `data`: a checkpoint's note body, or the DER of an earlier token (a renewal). */
export function requestTimestamp(url: string, data: string | Uint8Array, caCerts: string, opts: RequestOptions = {}): Promise<VerifiedTimestamp & { imprint: Buffer }> {
  return requestImprintTimestamp(url, noteImprint(data), caCerts, opts);
}

/** A token for a SHA-256 imprint the caller computed (a renewal's: SHA-256 of the earlier token's DER). */
export async function requestImprintTimestamp(url: string, imprint: Buffer, caCerts: string, opts: RequestOptions = {}): Promise<VerifiedTimestamp & { imprint: Buffer }> {
  const target = tsaUrl(url);
  const req = imprintRequest(imprint);
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: req.der,
      redirect: 'error',
      signal: opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)]) : AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (e) {
    throw new FfauditError('IO', `the TSA at ${target.origin} could not be reached: ${(e as Error).message}`);
  }
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const tooLarge = () => new FfauditError('TOO_LARGE', `the TSA's reply is larger than ${max} bytes`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new FfauditError('IO', `the TSA at ${target.origin} answered HTTP ${res.status}`);
  }
  const type = res.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/timestamp-reply') {
    await res.body?.cancel();
    throw new FfauditError('IO', `the TSA at ${target.origin} answered ${type ?? 'no content type'}, not application/timestamp-reply`);
  }
  const body = res.body ? await collectBounded(res.body, max, tooLarge) : Buffer.alloc(0);
  const verified = verifyTimestampToken(body, { imprint: req.imprint, nonce: req.nonce, caCerts, now: opts.now });
  return { ...verified, imprint: req.imprint };
}
