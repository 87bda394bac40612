/**
 * `ffaudit join URL`: enrols this ledger with a team server. POST <URL>/join with the one-time token an
 * administrator issued (`ffaudit serve hosts add NAME`), the log's origin and verifier key; the server answers with
 * the host name it enrolled and its cosigner keys (witness and mirror, and the witness's ML-DSA-44 key when it has
 * one), which go into the ledger's config (server-config.ts): every cosignature is checked against them from then
 * on. The token is sent once and kept nowhere (not in the config, not in a log, never on a command line).
 */
import { FfauditError } from '../core/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { serverVerifiers, writeServerConfig, type ServerConfig } from '../ledger/server-config.js';

const JOIN_TIMEOUT_MS = 30_000;
const MAX_ANSWER_BYTES = 64 * 1024;

/** A server URL as the config keeps it: http(s), no trailing slash, no credentials, query or fragment. */
export function serverUrl(given: string): string {
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    throw new FfauditError('USAGE', `${JSON.stringify(given)} is not a URL (https://SERVER)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new FfauditError('USAGE', `${given}: a team server is reached over https:// (or http://)`);
  // A password in the URL would end up in the config and in every log line that names the server.
  if (u.username !== '' || u.password !== '') throw new FfauditError('USAGE', `${u.protocol}//${u.host}: no credentials in the server's URL (the join token is read from standard input or --token-file)`);
  if (u.search !== '' || u.hash !== '') throw new FfauditError('USAGE', `${u.protocol}//${u.host}${u.pathname}: no query or fragment in the server's URL`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

/** One printable line of what the server said. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const t = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

/**
 * Enrols `ledger` with the server at `url` using `token`, and stores what it answers in the ledger's config.
 * FORBIDDEN for a token the server refuses (wrong, expired or used), CONFLICT when another host enrolled this
 * origin, IO when the server cannot be reached, BAD_INPUT for an answer that is not the expected JSON or holds keys
 * that are not two distinct cosigner keys.
 */
export async function joinServer(ledger: Ledger, url: string, token: string, opts: { fetch?: typeof fetch; signal?: AbortSignal } = {}): Promise<ServerConfig> {
  const base = serverUrl(url);
  if (token === '' || token.length > 4096 || /\s/.test(token)) throw new FfauditError('USAGE', 'the join token is one word, as `ffaudit serve hosts add` printed it');
  const fetchFn = opts.fetch ?? fetch;
  let res: Response;
  let text: string;
  try {
    const signals = [AbortSignal.timeout(JOIN_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])];
    res = await fetchFn(`${base}/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, origin: ledger.origin, vkey: ledger.vkey }),
      signal: AbortSignal.any(signals),
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_ANSWER_BYTES) throw new FfauditError('BAD_INPUT', `the server ${base} answered with more than ${MAX_ANSWER_BYTES} bytes`);
    text = body.toString('utf8');
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${JOIN_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new FfauditError('IO', `cannot reach the server ${base}: ${why}`);
  }
  if (res.status === 403) throw new FfauditError('FORBIDDEN', `the server ${base} refused the token (wrong, expired or already used): ask for a new one (ffaudit serve hosts add)${text ? `: ${oneLine(text)}` : ''}`);
  if (res.status === 409) throw new FfauditError('CONFLICT', `the server ${base} has this log's origin ${ledger.origin} enrolled by another host${text ? `: ${oneLine(text)}` : ''}`);
  if (res.status !== 200) throw new FfauditError(res.status === 404 ? 'NOT_FOUND' : 'IO', `the server ${base} answered ${res.status} to POST /join${text ? `: ${oneLine(text)}` : ''}`);
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new FfauditError('BAD_INPUT', `the server ${base} answered POST /join with something that is not JSON`);
  }
  const { host, witness, mirror, witness_ml_dsa44: pq } = (answer ?? {}) as Record<string, unknown>;
  if (typeof host !== 'string' || typeof witness !== 'string' || typeof mirror !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(host)) {
    throw new FfauditError('BAD_INPUT', `the server ${base} answered POST /join without {"host", "witness", "mirror"}`);
  }
  if (pq !== undefined && typeof pq !== 'string') throw new FfauditError('BAD_INPUT', `the server ${base} answered POST /join with a witness_ml_dsa44 that is not a string`);
  const config: ServerConfig = { url: base, host, witness, mirror, ...(pq !== undefined ? { witnessMlDsa44: pq } : {}) };
  try {
    serverVerifiers(config); // two distinct, well-formed cosigner keys, or nothing is written
  } catch (e) {
    throw new FfauditError('BAD_INPUT', `the server ${base} answered POST /join with unusable keys: ${(e as Error).message}`);
  }
  writeServerConfig(ledger.dir, config);
  return config;
}
