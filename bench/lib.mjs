// Shared helpers for the benchmark scripts: timing, argument parsing, and a report line format.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}

export function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result: r };
}

export async function timeAsync(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result: r };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function header(title) {
  console.log(`# ${title}`);
  console.log(`# ${new Date().toISOString()} · node ${process.version} · ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`);
}

export function row(label, ours, baseline, unit, note = '') {
  const ratio = baseline ? (ours / baseline).toFixed(2) : 'n/a';
  console.log(`${label.padEnd(44)} ours ${fmt(ours)} ${unit} · baseline ${fmt(baseline)} ${unit} · ratio ${ratio}${note ? ` · ${note}` : ''}`);
}

function fmt(x) {
  return typeof x === 'number' ? (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(3)) : String(x);
}

/**
 * The environment the capture benchmarks give their children: without FFAUDIT_* and FFREPORT (a run configured by
 * the caller's shell is not the run measured), and without NODE_EXTRA_CA_CERTS unless --keep-extra-ca-certs is
 * given: with it, every node process parses those certificates as it starts (~40–50 ms on a VM whose variable names
 * the whole system bundle), which is node's start-up, not ffaudit's, and not the usual case.
 */
export function captureBenchEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FFAUDIT_') || k === 'FFREPORT') delete env[k];
  const keep = process.argv.includes('--keep-extra-ca-certs');
  if (!keep) delete env.NODE_EXTRA_CA_CERTS;
  console.log(`NODE_EXTRA_CA_CERTS ${keep && env.NODE_EXTRA_CA_CERTS ? `kept (${env.NODE_EXTRA_CA_CERTS})` : 'unset'} in the children's environment`);
  return env;
}

/**
 * A real `ffaudit serve` process (bin/ffaudit.js) on `dbUrl` with the keys in `keysDir`, listening on a free loopback
 * port: its URL, and stop() (SIGTERM, resolved when it has exited).
 */
export async function startServe(dbUrl, keysDir) {
  const { spawn } = await import('node:child_process');
  const bin = new URL('../bin/ffaudit.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'serve', '--db', dbUrl, '--keys', keysDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /listening on (\S+?);/.exec(buf);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${buf}`)));
  });
  child.stdout.resume();
  return { url, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

/** Creates the server's schema on `dbUrl` and enrols each log (origin, vkey) as host-<i>, as `join` would. */
export async function enrolLogs(dbUrl, logs) {
  const { openDb, migrate } = await import('../dist/server/db/pool.js');
  const { addHost, joinHost } = await import('../dist/server/hosts.js');
  const db = await openDb(dbUrl);
  await migrate(db);
  for (const [i, l] of logs.entries()) {
    const { token } = await addHost(db, `host-${i}`);
    await joinHost(db, token, l.origin, l.vkey);
  }
  await db.close();
}

let keepAlive;
/** A POST over one kept-alive agent (up to 256 sockets): its status and body as text. */
export async function post(url, body, headers = {}) {
  const http = await import('node:http');
  keepAlive ??= new http.Agent({ keepAlive: true, maxSockets: 256 });
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: keepAlive, headers: { 'content-length': body.length, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Closes post()'s kept-alive sockets, so that the script can end. */
export function closePosts() {
  keepAlive?.destroy();
}

/**
 * A throwaway PostgreSQL cluster (scripts/pg-test-server.sh) in a temporary folder, stopped when the process exits;
 * its admin URL and folder (the cluster's user reads files put there). Exits with the script's error when it
 * cannot start.
 */
export async function startBenchPostgres() {
  const [{ spawnSync }, { mkdtempSync }, { tmpdir }, { join }] = await Promise.all([import('node:child_process'), import('node:fs'), import('node:os'), import('node:path')]);
  const script = new URL('../scripts/pg-test-server.sh', import.meta.url).pathname;
  const pgdir = mkdtempSync(join(tmpdir(), 'ffaudit-bench-pg-'));
  const started = spawnSync('bash', [script, 'start', pgdir], { encoding: 'utf8' });
  if (started.status !== 0) {
    console.error(started.stderr);
    process.exit(1);
  }
  process.on('exit', () => spawnSync('bash', [script, 'stop', pgdir]));
  return { url: started.stdout.trim().replace(/^export FFAUDIT_TEST_PG_URL=/, ''), dir: pgdir };
}
