/**
 * What the pages share to read a request: a bounded form body with its CSRF check, the client's address; and what
 * the pages and the API share to record it in the access log.
 */
import type { Context } from 'hono';
import { FfauditError } from '../../core/errors.js';
import { callerOf } from '../api/auth.js';
import type { AccessEvent, AppEnv } from '../deps.js';
import { readBody } from '../http.js';
import { checkCsrf, webUser } from './session.js';

/** Forms are small: names, roles, a password; 64 KiB is far above any of them. */
const MAX_FORM = 64 * 1024;

/**
 * The fields of a POSTed form (application/x-www-form-urlencoded only; each name once, the first kept), after its
 * CSRF check (session.ts). Every POST of the web interface reads its body through this.
 */
export async function readForm(c: Context<AppEnv>, opts: { csrf?: 'session' | 'none' } = {}): Promise<Record<string, string>> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FfauditError('BAD_INPUT', 'a form is sent as application/x-www-form-urlencoded');
  const params = new URLSearchParams((await readBody(c.req.raw, MAX_FORM)).toString('utf8'));
  const form: Record<string, string> = {};
  for (const [k, v] of params) if (!(k in form)) form[k] = v;
  if (opts.csrf !== 'none') checkCsrf(c, form);
  return form;
}

/** The peer's address as the socket saw it (a proxy in front shows as itself); undefined in in-process tests. */
export function clientAddress(c: Context<AppEnv>): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/**
 * A search's or an export's filter as the access log records it: decoded, after a '?', so that every parameter is one
 * the access log's redaction recognises (a credential in a URL, a token=…-like parameter is removed before it is
 * written; percent-encoded, it would pass unseen).
 */
export function queryText(params: URLSearchParams): string {
  return `?${[...params].map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/**
 * Appends what this request does with the evidence to the server's access log (deps.ts AccessLog) before the answer
 * is sent: when it cannot be recorded there is no answer (STORE: 503), as the access log is evidence too.
 */
export async function recordAccess(c: Context<AppEnv>, e: Omit<AccessEvent, 'user' | 'via' | 'client'> & { user?: string }): Promise<void> {
  if (!c.get('deps').access) return;
  await appendAccess(c, { ...e, user: e.user ?? webUser(c).user, via: 'web', client: clientAddress(c) });
}

/** As recordAccess, for the API: the caller is the bearer token's name (never the token). */
export async function recordApiAccess(c: Context<AppEnv>, e: Omit<AccessEvent, 'user' | 'via' | 'client'>): Promise<void> {
  await appendAccess(c, { ...e, user: callerOf(c).name, via: 'api', client: clientAddress(c) });
}

async function appendAccess(c: Context<AppEnv>, event: AccessEvent): Promise<void> {
  const log = c.get('deps').access;
  if (!log) return;
  try {
    await log.record(event);
  } catch (err) {
    c.get('deps').log(`error: access log: ${(err as Error).message?.split('\n')[0] ?? String(err)}`);
    throw new FfauditError('STORE', 'the access log could not record this request, so it is not answered');
  }
}
