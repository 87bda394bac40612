/**
 * Enrolment of hosts (one host = one ledger = one log origin). `hosts add` issues a one-time token, stored only as
 * its SHA-256 and expiring; `join` spends it to register the ledger's origin and verifier key. `disable` makes the
 * log unknown again (tlog-witness: 404) and keeps everything mirrored; `reset` starts a new epoch for a host whose
 * ledger was innocently restored from a backup, keeping the old history and the conflict as evidence.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import { FfauditError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import type { Db } from './db/pool.js';

export const TOKEN_PREFIX = 'ffaudit-join-';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const tokenHash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
export const originHash = (origin: string): Buffer => createHash('sha256').update(origin, 'utf8').digest();

function checkName(name: string): void {
  if (!NAME.test(name)) throw new FfauditError('USAGE', `host name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-' only, at most 63`);
}

export interface HostRow {
  id: number;
  name: string;
  status: 'pending' | 'active' | 'disabled';
  origin: string | null;
  vkey: string | null;
  epoch: number;
  hold: string | null;
  /** Registered by `hosts add NAME --log-vkey`: witnessed, never mirrored. */
  witness_only: boolean;
}

/**
 * Creates host NAME (or, for a host not yet joined, replaces its token) and returns a new one-time token valid for
 * `ttlSeconds`. A host that has joined gets no new token: its origin is fixed (disable it and add a new name).
 */
export async function addHost(db: Db, name: string, ttlSeconds = 24 * 3600): Promise<{ token: string; expires: Date }> {
  checkName(name);
  const token = TOKEN_PREFIX + randomBytes(24).toString('base64url');
  const expires = new Date(Date.now() + ttlSeconds * 1000);
  await db.tx(async (c) => {
    const { rows } = await c.query<HostRow>('INSERT INTO hosts (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING *', [name]);
    const host = rows[0]!;
    if (host.status !== 'pending') throw new FfauditError('USAGE', `host ${name} has already joined (status ${host.status})`);
    await c.query('DELETE FROM enrol_tokens WHERE host_id = $1', [host.id]);
    await c.query('INSERT INTO enrol_tokens (token_hash, host_id, expires_at) VALUES ($1, $2, $3)', [tokenHash(token), host.id, expires]);
  });
  return { token, expires };
}

/**
 * Registers a log to be witnessed only, with no join (c2sp.org/tlog-witness: "each witness is configured with a list
 * of supported log public keys"): host NAME, active at once, for the origin the log's verifier key names. Its
 * add-checkpoint requests are cosigned as any host's; the mirror takes none of its entries (add-entries answers 404).
 * USAGE when NAME or the origin is taken.
 */
export async function registerLog(db: Db, name: string, vkey: string): Promise<{ origin: string }> {
  checkName(name);
  let origin: string;
  try {
    origin = parseVerifierKey(vkey.trim()).name;
  } catch {
    throw new FfauditError('USAGE', "--log-vkey: not a log's verifier key (name+keyid+key, as ffaudit pubkey prints it)");
  }
  await db.tx(async (c) => {
    const taken = await c.query<{ name: string }>('SELECT name FROM hosts WHERE name = $1 OR origin = $2', [name, origin]);
    if (taken.rows[0]) throw new FfauditError('USAGE', taken.rows[0].name === name ? `host ${name} already exists` : `the log ${origin} is already registered as host ${taken.rows[0].name}`);
    await c.query("INSERT INTO hosts (name, status, origin, origin_hash, vkey, joined_at, witness_only) VALUES ($1, 'active', $2, $3, $4, now(), true)", [name, origin, originHash(origin), vkey.trim()]);
  });
  return { origin };
}

async function hostByName(c: PoolClient, name: string): Promise<HostRow> {
  const { rows } = await c.query<HostRow>('SELECT * FROM hosts WHERE name = $1 FOR UPDATE', [name]);
  if (!rows[0]) throw new FfauditError('NOT_FOUND', `no host named ${JSON.stringify(name)}`);
  return rows[0];
}

export async function disableHost(db: Db, name: string): Promise<void> {
  await db.tx(async (c) => {
    const h = await hostByName(c, name);
    await c.query("UPDATE hosts SET status = 'disabled' WHERE id = $1", [h.id]);
    await c.query('DELETE FROM enrol_tokens WHERE host_id = $1', [h.id]);
  });
}

/** Makes a disabled host known again, with the history it had. */
export async function enableHost(db: Db, name: string): Promise<void> {
  await db.tx(async (c) => {
    const h = await hostByName(c, name);
    if (h.status !== 'disabled') throw new FfauditError('USAGE', `host ${name} is not disabled (status ${h.status})`);
    await c.query("UPDATE hosts SET status = 'active' WHERE id = $1", [h.id]);
  });
}

/**
 * Accepts a new history for NAME: its epoch goes up, so the witness and mirror start again from size 0 for that
 * origin, and the last checkpoint cosigned under the old epoch is kept as a 'reset' conflict beside the old rows.
 */
export async function resetHost(db: Db, name: string, reason: string): Promise<{ epoch: number }> {
  return db.tx(async (c) => {
    const h = await hostByName(c, name);
    if (h.status === 'pending') throw new FfauditError('USAGE', `host ${name} has not joined yet: nothing to reset`);
    const { rows } = await c.query<{ note: string; size: number }>('SELECT note, size FROM witness_state WHERE host_id = $1', [h.id]);
    await c.query('INSERT INTO conflicts (host_id, epoch, kind, size, note, detail) VALUES ($1, $2, $3, $4, $5, $6)', [
      h.id,
      h.epoch,
      'reset',
      rows[0]?.size ?? 0,
      rows[0]?.note ?? '',
      `history of epoch ${h.epoch} set aside by an administrator: ${reason}`,
    ]);
    await c.query('DELETE FROM witness_state WHERE host_id = $1', [h.id]);
    await c.query('DELETE FROM mirror_state WHERE host_id = $1', [h.id]);
    await c.query('UPDATE hosts SET epoch = epoch + 1, hold = NULL WHERE id = $1', [h.id]);
    return { epoch: h.epoch + 1 };
  });
}

export type HostListing = HostRow & { witness_size: number | null; mirror_size: number | null; conflicts: number };

export async function listHosts(db: Db): Promise<HostListing[]> {
  const { rows } = await db.pool.query<HostListing>(`
    SELECT h.id, h.name, h.status, h.origin, h.vkey, h.epoch, h.hold, h.witness_only,
           w.size AS witness_size, m.size AS mirror_size,
           (SELECT count(*)::int FROM conflicts x WHERE x.host_id = h.id AND x.kind <> 'reset') AS conflicts
      FROM hosts h LEFT JOIN witness_state w ON w.host_id = h.id LEFT JOIN mirror_state m ON m.host_id = h.id
     ORDER BY h.name`);
  return rows;
}

/**
 * Spends a token: registers the ledger's origin and verifier key for the token's host. Refused (FORBIDDEN) when the
 * token is unknown, used or expired, and (CONFLICT) when another host already holds that origin.
 */
export async function joinHost(db: Db, token: string, origin: string, vkey: string): Promise<{ host: string }> {
  let verifier;
  try {
    verifier = parseVerifierKey(vkey);
  } catch {
    throw new FfauditError('BAD_INPUT', 'vkey: not a signed-note verifier key');
  }
  if (verifier.name !== origin) throw new FfauditError('BAD_INPUT', "vkey: its name is not the log's origin");
  return db.tx(async (c) => {
    const { rows } = await c.query<{ host_id: number; expired: boolean; used: boolean }>(
      'SELECT host_id, expires_at < now() AS expired, used_at IS NOT NULL AS used FROM enrol_tokens WHERE token_hash = $1 FOR UPDATE',
      [tokenHash(token)],
    );
    const t = rows[0];
    if (!t || t.used || t.expired) throw new FfauditError('FORBIDDEN', t?.expired ? 'the token has expired' : 'the token is not valid');
    const other = await c.query<{ name: string }>('SELECT name FROM hosts WHERE origin = $1 AND id <> $2', [origin, t.host_id]);
    if (other.rows[0]) throw new FfauditError('CONFLICT', `origin ${JSON.stringify(origin)} is already enrolled as host ${other.rows[0].name}`);
    const { rows: hr } = await c.query<HostRow>(
      "UPDATE hosts SET status = 'active', origin = $2, origin_hash = $3, vkey = $4, joined_at = now() WHERE id = $1 AND status = 'pending' RETURNING *",
      [t.host_id, origin, originHash(origin), vkey],
    );
    if (!hr[0]) throw new FfauditError('FORBIDDEN', 'the token is not valid');
    await c.query('UPDATE enrol_tokens SET used_at = now() WHERE token_hash = $1', [tokenHash(token)]);
    return { host: hr[0].name };
  });
}
