/** What the pages search: every log, as every API token does (api/routes.ts), and how a run's log maps to its host id. */
import type { Db } from '../../db/pool.js';
import { logsInScope, readOnly } from '../../search/read.js';
import type { Scope } from '../../search/types.js';

export const ALL_LOGS: Scope = { hostIds: null };

/** The host id of each log's origin: the order key of a run names its host by id (search/query.ts). */
export async function hostIds(db: Db): Promise<Map<string, number>> {
  const logs = await readOnly(db, (c) => logsInScope(c, ALL_LOGS));
  return new Map(logs.map((l) => [l.origin, l.id]));
}
