/**
 * The read side of the team server's API (`/api/v1`, described by the OpenAPI document it serves at
 * /api/v1/openapi.json), for `ffaudit log|trace|bundle|report --server URL`. A bearer token authenticates every
 * request; it comes from FFAUDIT_TOKEN or a file, never from the command line (where `ps` and shell histories
 * would show it), and is sent only over HTTPS, or plain HTTP to this machine's loopback.
 *
 * Answers are untrusted input: bounded in size, parsed strictly by the callers (records.ts), and the server's
 * error bodies are shown as one line with control characters removed.
 */
import { collectBounded } from '../core/bounded.js';
import { FfauditError, type ErrorCode } from '../core/errors.js';

/** A JSON page, a lineage: far above what a page of 1,000 runs takes. */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;
/** A bundle or a report: the same bound `verify-bundle` puts on a bundle file. */
export const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 120_000;

export interface RemoteServer {
  /** The server's base URL, without a trailing slash. */
  base: string;
  token: string;
  fetch?: typeof fetch | undefined;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Checks the server URL and the token, and returns the server to send requests to. */
export function remoteServer(url: string, token: string, fetchFn?: typeof fetch): RemoteServer {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FfauditError('USAGE', `--server takes a URL such as https://audit.example.org, not ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new FfauditError('USAGE', `--server takes an http(s) URL, not ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw new FfauditError('USAGE', `${u.protocol}//${u.host}: no credentials in the server's URL (the token comes from FFAUDIT_TOKEN or --token-file)`);
  if (u.search !== '' || u.hash !== '') throw new FfauditError('USAGE', `--server takes the server's base URL, without a query or fragment`);
  // A bearer token is a password: over plain HTTP anyone on the way could read it and use it.
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) throw new FfauditError('USAGE', `${u.origin}: use https:// (a token sent over plain HTTP can be read on the way; http is allowed to this machine only)`);
  if (token === '' || token.length > 4096 || /\s/.test(token)) throw new FfauditError('USAGE', 'the API token is one word, as `ffaudit serve tokens add` printed it');
  return { base: `${u.origin}${u.pathname.replace(/\/+$/, '')}`, token, fetch: fetchFn };
}

/** A server's one-line answer, for a message: control characters removed, cut short. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const t = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

/** What an error status means here, mirrored on the server's one mapping (src/server/http.ts). */
function codeFor(status: number): ErrorCode {
  if (status === 400) return 'USAGE';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 413) return 'TOO_LARGE';
  if (status === 422) return 'INTEGRITY';
  if (status === 503) return 'STORE';
  return 'IO';
}

/** The body's error reason: `{"error": "…"}` or a plain line. */
function reason(text: string): string {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { error?: unknown }).error === 'string') return oneLine((v as { error: string }).error);
  } catch {
    // not JSON: the plain one-line body
  }
  return oneLine(text);
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** GET `path` (under /api/v1) with `params`; any status but 200 is an error carrying the server's reason. */
export async function get(server: RemoteServer, path: string, params: URLSearchParams, max = MAX_JSON_BYTES): Promise<Answer> {
  const query = params.toString();
  const url = `${server.base}/api/v1${path}${query ? `?${query}` : ''}`;
  let res: Response;
  try {
    res = await (server.fetch ?? fetch)(url, {
      headers: { authorization: `Bearer ${server.token}`, accept: 'application/json, text/html;q=0.9, */*;q=0.1' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      redirect: 'error', // a redirect could carry the token to another host
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new FfauditError('IO', `cannot reach the server ${server.base}: ${why}`);
  }
  const body = res.body ? await collectBounded(res.body as AsyncIterable<Uint8Array>, max, () => new FfauditError('BAD_INPUT', `the server's answer is larger than ${max} bytes`)) : Buffer.alloc(0);
  if (res.status !== 200) {
    const text = reason(body.toString('utf8'));
    const hint = res.status === 401 ? ' (set FFAUDIT_TOKEN or --token-file to a token from `ffaudit serve tokens add`)' : res.status === 403 ? " (the token's role does not allow this)" : '';
    throw new FfauditError(codeFor(res.status), `the server ${server.base} answered ${res.status}${text ? `: ${text}` : ''}${hint}`);
  }
  return { status: res.status, headers: res.headers, body };
}

/** GET and parse JSON (the caller checks its shape). */
export async function getJson(server: RemoteServer, path: string, params: URLSearchParams): Promise<unknown> {
  const a = await get(server, path, params);
  try {
    return JSON.parse(a.body.toString('utf8')) as unknown;
  } catch {
    throw new FfauditError('BAD_INPUT', `the server's answer to ${path} is not JSON`);
  }
}
