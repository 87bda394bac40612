/**
 * Bearer tokens for the read API (/api/v1): `ffaudit-api-<base64url of 32 random bytes>`, shown once when made and
 * stored only as their SHA-256 (api_tokens, db/migrations.ts v3), each with a role: viewer < auditor < admin.
 *
 * The API takes a token from the `Authorization: Bearer` header (RFC 6750 §2.1) and from nowhere else: no cookie, so
 * no cross-site request a browser makes on its own can carry it (nothing to forge, no CSRF); no query string, which
 * ends up in proxies' logs, browser history and Referer headers (RFC 6750 §2.3, §5.3).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { FfauditError } from '../../core/errors.js';
import type { Db } from '../db/pool.js';
import type { ApiCallerVar, AppEnv } from '../deps.js';

export const API_TOKEN_PREFIX = 'ffaudit-api-';
/** The prefix and exactly 32 bytes in unpadded base64url (43 characters). */
const TOKEN_SHAPE = /^ffaudit-api-[A-Za-z0-9_-]{43}$/;

export const ROLES = ['viewer', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 0, auditor: 1, admin: 2 };

/** Whether `role` may do what `min` may (the pages' sessions use the same order). */
export const atLeast = (role: Role, min: Role): boolean => RANK[role] >= RANK[min];

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** Who made a request: the token's row, never the token. */
export type ApiCaller = ApiCallerVar;

export interface TokenListing {
  id: number;
  name: string;
  role: Role;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const apiTokenHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A token name is a label for people: 1 to 100 characters, no control characters. */
function checkTokenName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 100 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new FfauditError('USAGE', 'token name: 1 to 100 characters, no control characters');
  }
}

/** Makes a token; the token itself is returned once and never stored. */
export async function addToken(db: Db, name: string, role: Role): Promise<{ id: number; token: string }> {
  checkTokenName(name);
  if (!isRole(role)) throw new FfauditError('USAGE', `role: one of ${ROLES.join(', ')}`);
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const { rows } = await db.pool.query<{ id: number }>('INSERT INTO api_tokens (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id', [name, role, apiTokenHash(token)]);
  return { id: rows[0]!.id, token };
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export async function listTokens(db: Db): Promise<TokenListing[]> {
  const { rows } = await db.pool.query<{ id: number; name: string; role: Role; created_at: Date; last_used_at: Date | null; revoked_at: Date | null }>(
    'SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id',
  );
  return rows.map((r) => ({ id: r.id, name: r.name, role: r.role, created_at: iso(r.created_at)!, last_used_at: iso(r.last_used_at), revoked_at: iso(r.revoked_at) }));
}

/** Revokes token `id` at once (the next request with it gets 401); a token revoked before keeps its first time. */
export async function revokeToken(db: Db, id: number): Promise<TokenListing> {
  if (!Number.isSafeInteger(id) || id < 1) throw new FfauditError('USAGE', 'a token id is a positive integer (see tokens list)');
  const { rows } = await db.pool.query<{ id: number }>('UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [id]);
  if (!rows[0]) throw new FfauditError('NOT_FOUND', `no API token with id ${id}`);
  return (await listTokens(db)).find((t) => t.id === id)!;
}

/** How often a token's last_used_at is written at most (per token, per process, and by the UPDATE's own condition). */
const LAST_USED_EVERY_MS = 60_000;
const lastUsedWritten = new Map<number, number>();

/**
 * The caller behind an Authorization header, or UNAUTHORIZED. Every failure (no header, another scheme, a malformed,
 * unknown or revoked token) gives the same answer, so a client learns nothing about which part failed; the lookup is
 * by the token's hash, so there is no comparison of secrets to time.
 */
export async function authenticate(db: Db, authorization: string | undefined, nowMs = Date.now()): Promise<ApiCaller> {
  const refused = new FfauditError('UNAUTHORIZED', 'a valid API token is required: Authorization: Bearer ffaudit-api-…');
  // RFC 7235 §2.1: the scheme is case-insensitive; one space, then the token68.
  const m = /^bearer ([^\s]+)$/i.exec(authorization ?? '');
  if (!m || !TOKEN_SHAPE.test(m[1]!)) throw refused;
  const { rows } = await db.pool.query<{ id: number; name: string; role: Role; revoked: boolean }>(
    'SELECT id, name, role, revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE token_hash = $1',
    [apiTokenHash(m[1]!)],
  );
  const row = rows[0];
  if (!row || row.revoked) throw refused;
  const last = lastUsedWritten.get(row.id);
  if (last === undefined || nowMs - last >= LAST_USED_EVERY_MS) {
    lastUsedWritten.set(row.id, nowMs);
    await db.pool.query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", [row.id]);
  }
  return { tokenId: row.id, name: row.name, role: row.role };
}

/** The caller a route's `requireRole` admitted. */
export function callerOf(c: Context<AppEnv>): ApiCaller {
  const caller = c.get('apiCaller');
  if (!caller) throw new FfauditError('INTERNAL', 'a route of the API ran without its token check');
  return caller;
}

/**
 * The middleware in front of every /api/v1 route but the OpenAPI document: 401 (with `WWW-Authenticate: Bearer
 * realm="ffaudit"`, RFC 6750 §3) without a valid token, 403 when the token's role is below `min`.
 */
export function requireRole(min: Role): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let caller: ApiCaller;
    try {
      caller = await authenticate(c.get('deps').db, c.req.header('authorization'));
    } catch (e) {
      if (e instanceof FfauditError && e.code === 'UNAUTHORIZED') {
        c.header('WWW-Authenticate', 'Bearer realm="ffaudit"');
        c.header('Cache-Control', 'no-store');
        return c.text(`${e.message}\n`, 401);
      }
      throw e;
    }
    if (!atLeast(caller.role, min)) throw new FfauditError('FORBIDDEN', `this needs a token of role ${min} or above; this token's role is ${caller.role}`);
    c.set('apiCaller', caller);
    await next();
    return undefined;
  };
}
