/**
 * GET /healthz, without a token, for load balancers and monitoring: 200 when the database answers within two seconds
 * and its schema is the newest this code knows (db/migrations.ts), else 503 with the reason. Never cached.
 */
import type { Hono } from 'hono';
import { MIGRATIONS } from '../db/migrations.js';
import type { AppEnv, ServerDeps } from '../deps.js';

const HEALTH_TIMEOUT_MS = 2000;

export function healthRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  app.get('/healthz', async (c) => {
    c.header('Cache-Control', 'no-store');
    let schema: number | null;
    try {
      const { rows } = await Promise.race([
        deps.db.pool.query<{ v: number | null }>({ text: 'SELECT max(version) AS v FROM ffaudit_schema', query_timeout: HEALTH_TIMEOUT_MS } as never),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS).unref()),
      ]);
      schema = rows[0]?.v ?? null;
    } catch {
      return c.json({ ok: false, schema: null, reason: 'the database does not answer' }, 503);
    }
    if (schema !== newest) {
      return c.json({ ok: false, schema, reason: schema !== null && schema > newest ? `the database's schema (${schema}) is newer than this server knows (${newest})` : `the database's schema (${schema ?? 'none'}) is not migrated to ${newest}` }, 503);
    }
    return c.json({ ok: true, schema });
  });
}
