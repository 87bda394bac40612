/**
 * The people who sign in to the web interface: local accounts with a password (`ffaudit serve users add`), stored
 * as scrypt's output only (RFC 7914, node:crypto), each with a role as API tokens have (viewer < auditor < admin).
 *
 * Guessing is slowed per account: after 5 failed attempts, each further attempt must wait twice as long as the
 * last (1 s, 2 s, 4 s, … up to 15 minutes) before its password is even checked. A successful sign-in resets it.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { FfauditError } from '../../core/errors.js';
import { isRole, ROLES, type Role } from '../api/auth.js';
import type { Db } from '../db/pool.js';

/** scrypt's cost: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds here); stored with each hash so it can grow. */
const COST = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
/** Free attempts before the wait starts, the first wait, and the longest. */
export const FREE_ATTEMPTS = 5;
const FIRST_WAIT_MS = 1000;
const MAX_WAIT_MS = 15 * 60_000;
/** A password: 12 to 1024 characters (a passphrase, not a PIN; bounded so hashing cannot be made to run long). */
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;

export interface UserRow {
  id: number;
  name: string;
  role: Role;
  created_at: Date;
  disabled_at: Date | null;
  has_password: boolean;
  oidc_subject: string | null;
}

function scrypt(password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, KEY_BYTES, opts, (e, key) => (e ? reject(e) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches `stored`; a stored value of another shape (hostile or damaged) never matches. */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{1,64})\$([A-Za-z0-9+/=]{1,128})$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Bounds on what a stored row can make us compute: a hostile row must not make one sign-in take minutes.
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  if (expected.length !== KEY_BYTES) return false;
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64'), { N, r, p });
  return timingSafeEqual(key, expected);
}

/** An account name: 1 to 64 characters of letters, digits and . _ @ + - (it appears in the access log and pages). */
export function checkUserName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/.test(name)) throw new FfauditError('USAGE', 'user name: 1 to 64 letters, digits and . _ @ + -, starting with a letter or digit');
}

export function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new FfauditError('USAGE', `a password has at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw new FfauditError('USAGE', `a password has at most ${MAX_PASSWORD} characters`);
}

export async function addUser(db: Db, name: string, role: Role, password: string): Promise<UserRow> {
  checkUserName(name);
  if (!isRole(role)) throw new FfauditError('USAGE', `role: one of ${ROLES.join(', ')}`);
  checkNewPassword(password);
  const hash = await hashPassword(password);
  const { rows } = await db.pool.query<{ id: number }>('INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id', [name, role, hash]);
  if (!rows[0]) throw new FfauditError('CONFLICT', `a user named ${name} exists already`);
  return (await findUser(db, name))!;
}

export async function findUser(db: Db, name: string): Promise<UserRow | undefined> {
  const { rows } = await db.pool.query<UserRow>(
    'SELECT id, name, role, created_at, disabled_at, password_hash IS NOT NULL AS has_password, oidc_subject FROM users WHERE name = $1',
    [name],
  );
  return rows[0];
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  const { rows } = await db.pool.query<UserRow>('SELECT id, name, role, created_at, disabled_at, password_hash IS NOT NULL AS has_password, oidc_subject FROM users ORDER BY name');
  return rows;
}

export type SignInResult =
  | { ok: true; user: { id: number; name: string; role: Role } }
  /** `known`: whether the name is an account's (for the access log only: the person is told the same either way). */
  | { ok: false; reason: 'wrong' | 'throttled'; known: boolean; retryAfterS?: number };

/** A hash of nothing anyone knows, checked for unknown accounts so that they take as long as known ones. */
let decoy: Promise<string> | undefined;

/** The wait after the n-th failure in a row: none before the 5th, then 2^(n-5) seconds, at most 15 minutes. */
export const waitAfterFailures = (n: number): number => (n < FREE_ATTEMPTS ? 0 : Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(n - FREE_ATTEMPTS, 30)));

/**
 * Names that are no account are throttled alike, in memory (so the answer never says whether an account exists);
 * at most 10,000 names are remembered, the oldest forgotten first.
 */
const unknownNames = new Map<string, { failures: number; nextAt: number }>();
const MAX_UNKNOWN_NAMES = 10_000;

async function failUnknown(name: string, password: string): Promise<SignInResult> {
  const now = Date.now();
  const seen = unknownNames.get(name);
  if (seen && seen.nextAt > now) return { ok: false, reason: 'throttled', known: false, retryAfterS: Math.ceil((seen.nextAt - now) / 1000) };
  await checkPassword(password, await (decoy ??= hashPassword(randomBytes(16).toString('hex'))));
  const failures = (seen?.failures ?? 0) + 1;
  unknownNames.delete(name);
  if (unknownNames.size >= MAX_UNKNOWN_NAMES) unknownNames.delete(unknownNames.keys().next().value!);
  unknownNames.set(name, { failures, nextAt: now + waitAfterFailures(failures) });
  return { ok: false, reason: 'wrong', known: false };
}

/**
 * Checks a name and password. Unknown accounts, disabled accounts and wrong passwords give the same answer, and are
 * throttled alike. The attempt is counted before the password is checked, in one statement that only an account not
 * waiting out its throttle passes: attempts sent together cannot all see the old count (each is one of the n). A
 * right password then resets the count.
 */
export async function signInWithPassword(db: Db, name: string, password: string): Promise<SignInResult> {
  if (password.length > MAX_PASSWORD || name.length > 64) return { ok: false, reason: 'wrong', known: false };
  const { rows } = await db.pool.query<{ id: number; name: string; role: Role; password_hash: string | null; disabled: boolean }>(
    `UPDATE users SET failed_attempts = failed_attempts + 1,
            next_attempt_at = CASE WHEN failed_attempts + 1 >= $2
              THEN now() + least($3::float8, $4::float8 * power(2, least(failed_attempts + 1 - $2, 30))) * interval '1 millisecond'
              ELSE NULL END
      WHERE name = $1 AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      RETURNING id, name, role, password_hash, disabled_at IS NOT NULL AS disabled`,
    [name, FREE_ATTEMPTS, MAX_WAIT_MS, FIRST_WAIT_MS],
  );
  const u = rows[0];
  if (!u) {
    const held = await db.pool.query<{ wait_ms: number }>('SELECT greatest(0, extract(epoch FROM (next_attempt_at - now())) * 1000)::float8 AS wait_ms FROM users WHERE name = $1', [name]);
    if (!held.rows[0]) return failUnknown(name, password);
    return { ok: false, reason: 'throttled', known: true, retryAfterS: Math.max(1, Math.ceil(held.rows[0].wait_ms / 1000)) };
  }
  const good = u.password_hash !== null && (await checkPassword(password, u.password_hash));
  if (good && !u.disabled) {
    await db.pool.query('UPDATE users SET failed_attempts = 0, next_attempt_at = NULL WHERE id = $1', [u.id]);
    return { ok: true, user: { id: u.id, name: u.name, role: u.role } };
  }
  return { ok: false, reason: 'wrong', known: true };
}

async function changeUser(db: Db, name: string, set: string, params: unknown[], endSessions: boolean): Promise<UserRow> {
  await db.tx(async (c) => {
    const { rows } = await c.query<{ id: number }>(`UPDATE users SET ${set} WHERE name = $1 RETURNING id`, [name, ...params]);
    if (!rows[0]) throw new FfauditError('NOT_FOUND', `no user named ${name}`);
    // In the same transaction: no request can see the change without the sessions being gone too.
    if (endSessions) await c.query('DELETE FROM web_sessions WHERE user_id = $1', [rows[0].id]);
  });
  return (await findUser(db, name))!;
}

/** Gives `name` a new role; their open sessions carry it from their next request (session.ts reads it each time). */
export function setUserRole(db: Db, name: string, role: Role): Promise<UserRow> {
  if (!isRole(role)) throw new FfauditError('USAGE', `role: one of ${ROLES.join(', ')}`);
  return changeUser(db, name, 'role = $2', [role], false);
}

/** Disables `name` and ends every session of theirs at once; a disabled account keeps its name and history. */
export function disableUser(db: Db, name: string): Promise<UserRow> {
  return changeUser(db, name, 'disabled_at = coalesce(disabled_at, now())', [], true);
}

export function enableUser(db: Db, name: string): Promise<UserRow> {
  return changeUser(db, name, 'disabled_at = NULL', [], false);
}

/**
 * Sets a new password for `name` and ends their sessions (whoever knew the old one is signed out). The throttle is
 * cleared: the failures it counted were guesses at a password that no longer exists.
 */
export async function setPassword(db: Db, name: string, password: string): Promise<UserRow> {
  checkNewPassword(password);
  const hash = await hashPassword(password);
  return changeUser(db, name, 'password_hash = $2, failed_attempts = 0, next_attempt_at = NULL', [hash], true);
}

/** A name for an account made through OpenID Connect: the provider's name for the person, made to fit checkUserName. */
export function oidcUserName(preferred: string): string {
  const safe = preferred
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._@+-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return safe === '' ? 'user' : safe;
}

/**
 * The account of the person the provider calls `subject` (issuer + ' ' + sub), made at their first sign-in with a
 * name from `preferred` and given `role` at every sign-in, as the provider's claims say today. A local account of
 * the same name is never taken over: the new one gets the name with a short suffix of its subject. Refused
 * (FORBIDDEN) for a disabled account.
 */
export async function oidcAccount(db: Db, subject: string, preferred: string, role: Role): Promise<{ id: number; name: string; role: Role }> {
  const { rows } = await db.pool.query<{ id: number; name: string; disabled: boolean }>(
    'UPDATE users SET role = CASE WHEN disabled_at IS NULL THEN $2 ELSE role END WHERE oidc_subject = $1 RETURNING id, name, disabled_at IS NOT NULL AS disabled',
    [subject, role],
  );
  const found = rows[0];
  if (found?.disabled) throw new FfauditError('FORBIDDEN', 'this account is disabled: ask an admin');
  if (found) return { id: found.id, name: found.name, role };
  const base = oidcUserName(preferred);
  const suffix = createHash('sha256').update(subject).digest('hex').slice(0, 6);
  for (const name of [base, `${base.slice(0, 57)}-${suffix}`]) {
    checkUserName(name);
    const ins = await db.pool.query<{ id: number; name: string }>(
      'INSERT INTO users (name, role, oidc_subject) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id, name',
      [name, role, subject],
    );
    if (ins.rows[0]) return { ...ins.rows[0], role };
    // A concurrent first sign-in of the same person made the account: theirs is ours.
    const again = await db.pool.query<{ id: number; name: string; disabled: boolean }>('SELECT id, name, disabled_at IS NOT NULL AS disabled FROM users WHERE oidc_subject = $1', [subject]);
    if (again.rows[0]?.disabled) throw new FfauditError('FORBIDDEN', 'this account is disabled: ask an admin');
    if (again.rows[0]) return { id: again.rows[0].id, name: again.rows[0].name, role };
  }
  throw new FfauditError('CONFLICT', `no free account name for ${base}: ask an admin`);
}
