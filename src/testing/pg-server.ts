/**
 * Tests' access to a real PostgreSQL: the cluster named by FFAUDIT_TEST_PG_URL (started by .ci/run through
 * scripts/pg-test-server.sh), else one started here with that script, once per test process, and stopped when the
 * process exits. Each test takes a database of its own (`createDatabase`), so tests never see each other's rows.
 * In CI (CI=true) a missing PostgreSQL is a failure, never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/pg-test-server.sh');

let started: { url: string } | { skip: string } | undefined;

function startCluster(): { url: string } | { skip: string } {
  const fromEnv = process.env.FFAUDIT_TEST_PG_URL;
  if (fromEnv) return { url: fromEnv };
  const dir = mkdtempSync(join(tmpdir(), 'ffaudit-pg-'));
  const r = spawnSync('bash', [SCRIPT, 'start', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('export FFAUDIT_TEST_PG_URL='));
  if (r.status !== 0 || !line) {
    spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    const why = `could not start PostgreSQL for the tests: ${r.stderr.trim().split('\n').slice(-1)[0] ?? r.status}`;
    if (process.env.CI === 'true') throw new Error(why);
    return { skip: why };
  }
  process.on('exit', () => {
    spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore' });
  });
  return { url: line.slice('export FFAUDIT_TEST_PG_URL='.length).trim() };
}

/** The test cluster's admin URL (database `postgres`), or a reason to skip outside CI. */
export function testPostgres(): { url: string } | { skip: string } {
  started ??= startCluster();
  return started;
}

/** Creates an empty database of its own for one test; returns its URL. */
export async function createDatabase(adminUrl: string, prefix = 't'): Promise<string> {
  const { default: pg } = await import('pg');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
