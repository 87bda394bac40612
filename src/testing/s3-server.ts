/**
 * Tests' access to a real S3 server with Object Lock: the one named by FFAUDIT_TEST_S3_ENDPOINT (started by
 * .ci/run through scripts/s3-test-server.sh), else one started here with that script and stopped afterwards,
 * else a reason to skip (no radosgw on this machine).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3TestServer {
  endpoint: string;
  /** The AWS_* variables a client needs (credentials of the test user). */
  env: Record<string, string>;
  stop(): void;
}

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/s3-test-server.sh');

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

export function startS3TestServer(): S3TestServer | { skip: string } {
  const fromEnv = process.env.FFAUDIT_TEST_S3_ENDPOINT;
  if (fromEnv) {
    const env: Record<string, string> = {};
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) if (process.env[k]) env[k] = process.env[k];
    return { endpoint: fromEnv, env, stop: () => undefined };
  }
  if (!onPath('radosgw')) return { skip: 'no S3 server: FFAUDIT_TEST_S3_ENDPOINT is unset and radosgw is not installed (see scripts/s3-test-server.sh)' };
  const dir = mkdtempSync(join(tmpdir(), 'ffaudit-s3-'));
  const r = spawnSync('bash', [SCRIPT, 'start', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('export '));
  if (r.status !== 0 || !line) {
    spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    return { skip: `could not start the S3 test server: ${r.stderr.trim().split('\n').slice(-1)[0] ?? r.status}` };
  }
  const env: Record<string, string> = {};
  for (const kv of line.slice('export '.length).trim().split(/\s+/)) {
    const eq = kv.indexOf('=');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const endpoint = env.FFAUDIT_TEST_S3_ENDPOINT!;
  delete env.FFAUDIT_TEST_S3_ENDPOINT;
  return {
    endpoint,
    env,
    stop: () => {
      spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
