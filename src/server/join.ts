/**
 * POST /join: a host spends its one-time token to enrol its log (hosts.ts), and learns the server's cosigner keys:
 * `{"host", "witness", "mirror"}`, and `"witness_ml_dsa44"` when the server has that key (a field older hosts ignore).
 */
import type { Hono } from 'hono';
import { FfauditError } from '../core/errors.js';
import type { AppEnv, ServerDeps } from './deps.js';
import { readBody } from './http.js';
import { joinHost } from './hosts.js';
import { serverVkeys } from './keys.js';

const MAX_JOIN_BODY = 16 * 1024;

export function joinRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.post('/join', async (c) => {
    const body = await readBody(c.req.raw, MAX_JOIN_BODY);
    let req: unknown;
    try {
      req = JSON.parse(body.toString('utf8'));
    } catch {
      throw new FfauditError('BAD_INPUT', 'the body is not JSON');
    }
    const { token, origin, vkey } = (req ?? {}) as Record<string, unknown>;
    if (typeof token !== 'string' || typeof origin !== 'string' || typeof vkey !== 'string' || origin.length === 0 || origin.length > 1024) {
      throw new FfauditError('BAD_INPUT', 'the body must be {"token", "origin", "vkey"} strings');
    }
    const { host } = await joinHost(deps.db, token, origin, vkey);
    const v = serverVkeys(deps.keys);
    return c.json({ host, witness: v.witness, mirror: v.mirror, ...(v.witnessMlDsa44 ? { witness_ml_dsa44: v.witnessMlDsa44 } : {}) });
  });
}
