/** Which mirrored logs are a server's own access log (hosts.access_log) rather than a host's FFmpeg runs. */
import type { Db } from '../../db/pool.js';
import { readOnly } from '../../search/read.js';

export async function accessLogOrigins(db: Db): Promise<Set<string>> {
  const rows = await readOnly(db, async (c) => (await c.query<{ origin: string }>('SELECT origin FROM hosts WHERE access_log AND origin IS NOT NULL')).rows);
  return new Set(rows.map((r) => r.origin));
}

/** The names of the hosts whose runs a person may filter by (enrolled hosts' logs, not the servers' access logs). */
export async function runHostNames(db: Db): Promise<string[]> {
  const rows = await readOnly(db, async (c) => (await c.query<{ name: string }>("SELECT name FROM hosts WHERE NOT access_log AND origin IS NOT NULL ORDER BY name")).rows);
  return rows.map((r) => r.name);
}
