/**
 * One search and one lineage across hosts, as people use it: a real `ffaudit serve` on a real PostgreSQL, three
 * ledgers as three hosts (a workstation renders a master, a render node transcodes it, an ingest station delivers
 * it), real FFmpeg runs pushed as they end, and then the same questions asked of each local ledger and of the
 * server with `--server`: the server's answers are the union of the local ones, each with its log's origin; its
 * trace crosses the hosts; its bundle verifies offline with the three logs' keys and the server's witness.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { startServe, type ServeProcess } from '../testing/serve-process.js';
import { cleanEnv, isOneErrorLine, runCliAsync, tempDir } from '../testing/fixtures.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
const tmp = tempDir('ffaudit-search-');
let db = '';
let server: ServeProcess | undefined;
let url = '';
const keys = join(tmp.dir, 'server-keys');
const hosts: { name: string; origin: string; dir: string }[] = [];
const file = (name: string) => join(tmp.dir, name);
let auditor = '';
let viewer = '';

function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  return runCliAsync(args, cleanEnv(opts.env ?? {}), opts.input);
}

async function ok(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const r = await cli(args, opts);
  assert.equal(r.status, 0, `ffaudit ${args.join(' ')}: ${r.stderr}`);
  return r;
}

async function enrol(name: string, origin: string): Promise<string> {
  const dir = join(tmp.dir, name);
  await ok(['--ledger', dir, 'init', '--origin', origin]);
  const token = await ok(['serve', 'hosts', 'add', name, '--db', db]);
  await ok(['--ledger', dir, 'join', url], { input: token.stdout });
  hosts.push({ name, origin, dir });
  return dir;
}

function ffmpeg(dir: string, args: string[]) {
  return ok(['--ledger', dir, 'ffmpeg', '-v', 'error', '-nostdin', ...args], { env: { FFAUDIT_PUSH: 'sync', FFAUDIT_ACTOR: 'editor@example.org' } });
}

before(async () => {
  if (skip) return;
  db = await createDatabase((pgc as { url: string }).url);
  await ok(['serve', 'init', '--name', 'audit.test', '--keys', keys]);
  server = await startServe(db, keys);
  url = server.url;
  const ws = await enrol('edit-ws-1', 'edit-ws-1.test/ffaudit');
  const render = await enrol('render-7', 'render-7.test/ffaudit');
  const ingest = await enrol('ingest-2', 'ingest-2.test/ffaudit');
  await ffmpeg(ws, ['-f', 'lavfi', '-i', 'testsrc=duration=0.4:size=64x64:rate=5', '-y', file('master.mp4')]);
  await ffmpeg(ws, ['-i', file('master.mp4'), '-vf', 'scale=32:32', '-y', file('mezzanine.mp4')]);
  await ffmpeg(render, ['-i', file('mezzanine.mp4'), '-vf', 'hflip', '-y', file('proxy.mp4')]);
  await ffmpeg(ingest, ['-i', file('proxy.mp4'), '-vf', 'scale=16:16', '-y', file('delivery.mp4')]);
  await ok(['--ledger', ingest, 'note', 'delivered to the client', '--file', file('delivery.mp4'), '--actor', 'ops@example.org']);
  for (const h of hosts) await ok(['--ledger', h.dir, 'push']);
  auditor = (await ok(['serve', 'tokens', 'add', '--role', 'auditor', '--name', 'audit-team', '--db', db])).stdout.trim();
  viewer = (await ok(['serve', 'tokens', 'add', '--role', 'viewer', '--name', 'producers', '--db', db])).stdout.trim();
});

after(async () => {
  await server?.stop();
  tmp.cleanup();
});

const lines = (text: string) => text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
const timeOf = (x: Record<string, unknown>) => String(x.type === 'custody.note' ? x.time : x.started_at);

/** What the three local ledgers answer, each item with its log's origin, in the server's order. */
async function localUnion(args: string[]): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  for (const h of hosts) {
    const r = await cli(['--ledger', h.dir, 'log', '--json', ...args]);
    for (const x of lines(r.stdout)) all.push({ ...x, log: h.origin });
  }
  return all.sort((a, b) => (timeOf(a) < timeOf(b) ? -1 : timeOf(a) > timeOf(b) ? 1 : 0));
}

describe('one search and one lineage across hosts', { skip }, () => {
  const asAuditor = () => ({ env: { FFAUDIT_TOKEN: auditor } });

  it('log --server answers what the three ledgers answer, each item naming its log', async () => {
    for (const filter of [[], ['--user', process.env.USER ?? 'root'], ['--actor', 'editor@example.org'], ['--type', 'note'], ['--status', 'ok'], ['--grep', 'HFLIP'], ['--file', file('mezzanine.mp4')], ['--limit', '2']]) {
      const local = await localUnion(filter);
      const remote = lines((await ok(['log', '--json', '--server', url, ...filter], asAuditor())).stdout);
      if (filter[0] === '--limit') assert.deepEqual(remote, local.slice(-2), 'the two most recent across the logs');
      else assert.deepEqual(remote, local, `log ${filter.join(' ')}`);
    }
    const both = lines((await ok(['log', '--json', '--server', url, '--file', file('mezzanine.mp4')], asAuditor())).stdout);
    assert.deepEqual(both.map((x) => x.log), ['edit-ws-1.test/ffaudit', 'render-7.test/ffaudit'], 'the producer on one host, the reader on another');
    const table = (await ok(['log', '--server', url, '--host', 'render-7'], asAuditor())).stdout;
    assert.match(table, /^RUN\s+LOG\s+ENTRY/);
    assert.equal(table.trim().split('\n').length, 2, 'one run on render-7');
  });

  it('trace --server walks from the delivery back across the three hosts to the run that rendered the master from a lavfi graph', async () => {
    const local = JSON.parse((await ok(['--ledger', hosts[2]!.dir, 'trace', '--json', file('delivery.mp4')])).stdout) as { runs: unknown[] };
    assert.equal(local.runs.length, 1, 'the ingest station alone knows one run');
    const t = JSON.parse((await ok(['trace', '--json', '--server', url, file('delivery.mp4')], asAuditor())).stdout) as {
      log: string;
      runs: { log?: string; argv: string[] }[];
      sources: { path: string; basis: string | null }[];
      notes: { text: string }[];
    };
    assert.equal(t.log, 'ingest-2.test/ffaudit');
    assert.deepEqual(t.runs.map((r) => r.log ?? t.log), ['edit-ws-1.test/ffaudit', 'edit-ws-1.test/ffaudit', 'render-7.test/ffaudit', 'ingest-2.test/ffaudit']);
    // The first run read no file (a lavfi graph is not an input file): the walk ends there, with no source file.
    assert.deepEqual(t.sources, []);
    assert.ok(t.runs[0]!.argv.includes('testsrc=duration=0.4:size=64x64:rate=5'));
    assert.deepEqual(t.notes.map((n) => n.text), ['delivered to the client']);
    const tree = (await ok(['trace', '--server', url, file('delivery.mp4')], asAuditor())).stdout;
    assert.match(tree, /hflip/);
    assert.match(tree, /produced by .* in log edit-ws-1\.test\/ffaudit/, 'a run of another log says which');
  });

  it('bundle --server is evidence across the logs that verify-bundle checks offline with their keys and the server witness', async () => {
    const out = file('delivery.bundle.json');
    writeFileSync(file('stranger.bin'), 'bytes no run ever touched');
    const unknown = await cli(['bundle', '--server', url, file('stranger.bin'), '-o', out], asAuditor());
    assert.equal(unknown.status, 1, unknown.stderr);
    assert.match(unknown.stderr, /stranger\.bin: unknown to the logs of the team server/);
    const b = await ok(['bundle', '--server', url, file('delivery.mp4'), '-o', out], asAuditor());
    assert.match(b.stdout, /from 3 logs/);
    const pubkeys: string[] = [];
    for (const h of hosts) {
      const k = file(`${h.name}.vkey`);
      writeFileSync(k, (await ok(['--ledger', h.dir, 'pubkey'])).stdout);
      pubkeys.push('--pubkey', k);
    }
    await ok(['verify-bundle', out, '--file', file('delivery.mp4'), ...pubkeys]);
    // Only two of the three keys: the third log's checkpoint cannot be trusted.
    const missing = await cli(['verify-bundle', out, ...pubkeys.slice(0, 4)]);
    assert.equal(missing.status, 1, missing.stdout + missing.stderr);
    assert.match(missing.stdout + missing.stderr, /ingest-2\.test\/ffaudit/);
    // A policy naming the three logs and the server's witness as the quorum.
    const witness = (await ok(['serve', 'key', '--keys', keys])).stdout.split('\n').find((l) => l.startsWith('witness '))!.split(/\s+/)[1]!;
    const policy = [...hosts.map((h) => `log ${readFileSync(file(`${h.name}.vkey`), 'utf8').trim()}`), `witness audit ${witness}`, 'quorum audit', ''].join('\n');
    writeFileSync(file('policy.txt'), policy);
    await ok(['verify-bundle', out, '--policy', file('policy.txt')]);
  });

  it('report --server writes the chain-of-custody report across the logs, marked verified', async () => {
    const out = file('delivery.html');
    await ok(['report', '--server', url, file('delivery.mp4'), '-o', out], asAuditor());
    const html = readFileSync(out, 'utf8');
    for (const h of hosts) assert.ok(html.includes(h.origin), h.origin);
    assert.match(html, /VERIFIED/);
  });

  it('tokens and roles: none, unknown, revoked and too low are refused in one line', async () => {
    const none = await cli(['log', '--server', url]);
    assert.equal(none.status, 2);
    assert.ok(isOneErrorLine(none.stderr), none.stderr);
    const unknown = await cli(['log', '--server', url], { env: { FFAUDIT_TOKEN: 'ffaudit-api-not-a-token' } });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /401/);
    assert.ok(isOneErrorLine(unknown.stderr), unknown.stderr);
    const low = await cli(['bundle', '--server', url, file('delivery.mp4'), '-o', file('x.json')], { env: { FFAUDIT_TOKEN: viewer } });
    assert.equal(low.status, 2);
    assert.match(low.stderr, /403/);
    assert.ok(isOneErrorLine(low.stderr), low.stderr);
    const tokenFile = file('viewer.token');
    writeFileSync(tokenFile, `${viewer}\n`, { mode: 0o600 });
    await ok(['log', '--server', url, '--token-file', tokenFile]);
    const list = await ok(['serve', 'tokens', 'list', '--db', db]);
    assert.ok(!list.stdout.includes(viewer), 'tokens are never shown again');
    const id = /^(\d+)\s+producers/m.exec(list.stdout)?.[1];
    assert.ok(id, list.stdout);
    await ok(['serve', 'tokens', 'revoke', id, '--db', db]);
    const revoked = await cli(['log', '--server', url, '--token-file', tokenFile]);
    assert.equal(revoked.status, 2);
    assert.match(revoked.stderr, /401/);
    assert.ok(!server!.log().includes(viewer) && !server!.log().includes(auditor), 'no token reaches the request log');
  });

  it('refuses a token over plain HTTP to another machine, and a token on the command line is not an option', async () => {
    const r = await cli(['log', '--server', 'http://audit.example.org'], asAuditor());
    assert.equal(r.status, 2);
    assert.match(r.stderr, /https/);
    const t = await cli(['log', '--server', url, '--token', auditor]);
    assert.equal(t.status, 2);
  });
});
