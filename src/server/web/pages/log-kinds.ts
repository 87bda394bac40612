/** Which mirrored logs are a server's own access log (hosts.access_log) rather than a host's FFmpeg runs. */
import type { Db } from '../../db/pool.js';
import { readOnly } from '../../search/read.js';

export async function accessLogOrigins(db: Db): Promise<Set<string>> {
  const rows = await readOnly(db, async (c) => (await c.query<{ origin: string }>('SELECT origin FROM hosts WHERE access_log AND origin IS NOT NULL')).rows);
  return new Set(rows.map((r) => r.origin));
}
