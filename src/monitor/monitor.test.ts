/**
 * `ffaudit monitor` through the real CLI: a real ledger archived to a directory with `ffaudit archive`, followed as
 * it grows, then archives tampered with as an attacker holding the log's key (or not) would; a real `ffaudit serve`
 * whose mirror is followed over HTTP with a policy; a loopback webhook receiving exactly the JSON lines.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatCosignerVkey, makeCosigner } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { runCliInProcess } from '../testing/cli.js';
import { cleanEnv, CLI, isOneErrorLine, runCliAsync, tempDir } from '../testing/fixtures.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { startServe } from '../testing/serve-process.js';
import type { Finding } from './finding.js';

const tmp = tempDir('monitor');
after(() => {
  // Archive directories hold immutable files (chattr +i): lift that first.
  spawnSync('chattr', ['-R', '-i', tmp.dir], { stdio: 'ignore' });
  tmp.cleanup();
});
const ORIGIN = 'example.org/monitored';
const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
let seq = 0;
const fresh = (name: string) => join(tmp.dir, `${name}-${++seq}`);

function makeLedger(count: number, opts: { keyPath?: string; text?: string } = {}): string {
  const dir = fresh('ledger');
  const l = Ledger.init(dir, { origin: ORIGIN, keyPath: opts.keyPath });
  grow(l, count, opts.text);
  l.close();
  return dir;
}

function grow(l: Ledger, count: number, text = 'entry'): void {
  l.append(Array.from({ length: count }, (_, i) => note(`${text} ${l.size() + i}`)));
}

async function archive(ledger: string, to: string): Promise<void> {
  const r = await runCliInProcess(['--ledger', ledger, 'archive', '--to', to]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

/** A copy of an archive an attacker may change: links kept as they are, immutability and read-only lifted. */
function tamperableCopy(dir: string): string {
  const copy = fresh('tampered');
  cpSync(dir, copy, { recursive: true, verbatimSymlinks: true });
  spawnSync('chattr', ['-R', '-i', copy], { stdio: 'ignore' });
  spawnSync('chmod', ['-R', 'u+w', copy]);
  return copy;
}

const monitor = (args: string[]) => runCliInProcess(['monitor', ...args]);
const lines = (stdout: string) => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Finding);
const checkpointOf = (dir: string) => readFileSync(join(dir, 'checkpoint'), 'utf8');
const stateOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { version: number; logs: Record<string, { size: number; root: string; note: string }>; sources: Record<string, number> };

describe('ffaudit monitor over a directory archive', () => {
  let honest = '';
  let arch = '';
  let vkey = '';
  let state = '';
  /** The state as it stood with the honest archive at 15, copied for each attack. */
  const stateCopy = () => {
    const f = fresh('state');
    copyFileSync(state, f);
    return f;
  };

  before(async () => {
    honest = makeLedger(10);
    vkey = join(honest, 'vkey');
    arch = fresh('archive');
    await archive(honest, arch);
    state = join(fresh('state-dir'), 'nested', 'monitor.json');
  });

  it('follows the log as it grows: exit 0, the state written with each verified checkpoint', async () => {
    const first = await monitor([arch, '--pubkey', vkey, '--state', state, '--once']);
    assert.deepEqual([first.status, first.stdout, first.stderr], [0, '', '']);
    const s1 = stateOf(state);
    assert.deepEqual(Object.keys(s1.logs), [ORIGIN]);
    assert.equal(s1.logs[ORIGIN]!.size, 10);
    assert.equal(s1.logs[ORIGIN]!.note, checkpointOf(arch));
    assert.deepEqual(s1.sources, { [arch]: 10 });

    const l = Ledger.open({ dir: honest, explicit: true });
    grow(l, 5, 'later');
    l.close();
    await archive(honest, arch);
    const second = await monitor([arch, '--pubkey', vkey, '--state', state, '--once']);
    assert.deepEqual([second.status, second.stdout, second.stderr], [0, '', '']);
    const s2 = stateOf(state);
    assert.equal(s2.logs[ORIGIN]!.size, 15);
    assert.equal(s2.logs[ORIGIN]!.note, checkpointOf(arch));
    assert.deepEqual(s2.sources, { [arch]: 15 });
    // Nothing new: still nothing found, nothing changed.
    const third = await monitor([arch, '--pubkey', vkey, '--state', state, '--once']);
    assert.deepEqual([third.status, third.stdout], [0, '']);
    assert.deepEqual(stateOf(state), s2);
    assert.equal(existsSync(`${state}.${process.pid}.tmp`), false);
  });

  it('finds a fork: the archive replaced by another history signed with the same key, longer', async () => {
    const stolen = join(fresh('stolen'), 'signing.key');
    spawnSync('mkdir', ['-p', join(stolen, '..')]);
    copyFileSync(join(honest, 'signing.key'), stolen);
    const forged = makeLedger(20, { keyPath: stolen, text: 'forged' });
    const forgedArchive = fresh('archive');
    await archive(forged, forgedArchive);
    const swapped = tamperableCopy(forgedArchive);
    const s = stateCopy();
    const before = readFileSync(s, 'utf8');
    const r = await monitor([swapped, '--pubkey', vkey, '--state', s, '--once']);
    assert.equal(r.status, 1, r.stderr);
    const [f, ...rest] = lines(r.stdout);
    assert.deepEqual(rest, []);
    assert.deepEqual([f!.kind, f!.origin, f!.old_size, f!.size, f!.source], ['fork', ORIGIN, 15, 20, swapped]);
    assert.equal(f!.evidence.note, checkpointOf(swapped));
    assert.equal(f!.evidence.old_note, checkpointOf(arch));
    assert.match(String(f!.evidence.reason), /^the consistency proof from size 15 to size 20, computed from the log's tiles, does not verify against both signed roots$/);
    assert.ok(Array.isArray(f!.evidence.proof) && (f!.evidence.proof as string[]).length > 0);
    assert.match(f!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // The forged checkpoint is not accepted: the state still holds the honest one, and the fork is found again.
    assert.equal(readFileSync(s, 'utf8'), before);
    assert.equal((await monitor([swapped, '--pubkey', vkey, '--state', s, '--once'])).status, 1);
  });

  it('finds equivocation: another history of the same size with the same key, alone and beside the honest archive', async () => {
    const forged = makeLedger(15, { keyPath: join(honest, 'signing.key'), text: 'forged' });
    const forgedArchive = fresh('archive');
    await archive(forged, forgedArchive);
    const r = await monitor([forgedArchive, '--pubkey', vkey, '--state', stateCopy(), '--once']);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(
      lines(r.stdout).map((f) => [f.kind, f.old_size, f.size, f.source, f.evidence.note, f.evidence.other_note]),
      [['equivocation', 15, 15, forgedArchive, checkpointOf(forgedArchive), checkpointOf(arch)]],
    );
    // Two sources of one log disagreeing, with no state at all: equivocation between them.
    const both = await monitor([arch, forgedArchive, '--pubkey', vkey, '--state', fresh('state'), '--once']);
    assert.equal(both.status, 1, both.stderr);
    assert.deepEqual(
      lines(both.stdout).map((f) => [f.kind, f.old_size, f.size, f.source, f.evidence.other_source, f.evidence.note, f.evidence.other_note]),
      [['equivocation', 15, 15, forgedArchive, arch, checkpointOf(forgedArchive), checkpointOf(arch)]],
    );
  });

  it('finds a rollback: the latest checkpoint swapped for an older one; a lagging second source is no finding', async () => {
    const rolled = tamperableCopy(arch);
    unlinkSync(join(rolled, 'checkpoint'));
    symlinkSync(join('checkpoints', '10'), join(rolled, 'checkpoint'));
    const r = await monitor([rolled, '--pubkey', vkey, '--state', stateCopy(), '--once']);
    assert.equal(r.status, 1, r.stderr);
    const found = lines(r.stdout);
    assert.deepEqual(found.map((f) => [f.kind, f.old_size, f.size, f.source, f.evidence.note, f.evidence.last_note]), [['rollback', 15, 10, rolled, checkpointOf(rolled), checkpointOf(arch)]]);
    // Seen fresh beside the archive at 15, the one at 10 is proven a prefix of it from the larger one's tiles.
    const s = fresh('state');
    const lag = await monitor([rolled, arch, '--pubkey', vkey, '--state', s, '--once']);
    assert.deepEqual([lag.status, lag.stdout, lag.stderr], [0, '', '']);
    assert.deepEqual(stateOf(s).sources, { [rolled]: 10, [arch]: 15 });
    assert.equal(stateOf(s).logs[ORIGIN]!.size, 15);
  });

  it('finds a bad signature: the checkpoint of the same origin signed by another key', async () => {
    const other = makeLedger(15, { text: 'other key' });
    const otherArchive = fresh('archive');
    await archive(other, otherArchive);
    const r = await monitor([otherArchive, '--pubkey', vkey, '--state', stateCopy(), '--once']);
    assert.equal(r.status, 1, r.stderr);
    const [f] = lines(r.stdout);
    assert.deepEqual([f!.kind, f!.origin, f!.old_size, f!.size, f!.evidence.note], ['bad-signature', ORIGIN, 15, 15, checkpointOf(otherArchive)]);
    const id = readFileSync(vkey, 'utf8').trim().split('+')[1]!;
    assert.equal(f!.evidence.reason, `not signed by the log's key ${ORIGIN}+${id}`);
  });

  it('finds missing cosignatures: a policy requiring a witness that never cosigned, named in the finding', async () => {
    const w = makeCosigner('witness.example/w1', randomBytes(32));
    const policy = fresh('policy');
    writeFileSync(policy, `log ${readFileSync(vkey, 'utf8').trim()}\nwitness w1 ${formatCosignerVkey(w.name, w.publicKey)}\nquorum w1\n`);
    const s = fresh('state');
    const r = await monitor([arch, '--policy', policy, '--state', s, '--once']);
    assert.equal(r.status, 1, r.stderr);
    const [f, ...rest] = lines(r.stdout);
    assert.deepEqual(rest, []);
    assert.deepEqual([f!.kind, f!.old_size, f!.size, f!.evidence], ['cosignatures-missing', null, 15, { note: checkpointOf(arch), quorum: 'w1', missing: ['w1'], invalid: [], witnessed: [] }]);
    assert.deepEqual(stateOf(s).logs, {}, 'a checkpoint without its cosignatures is not accepted');
  });

  it('could not run: a damaged state file (kept as it is), a source that cannot be read, a plain-http source elsewhere', async () => {
    const damaged = fresh('state');
    writeFileSync(damaged, '{"version":1,"logs":{');
    const r = await monitor([arch, '--pubkey', vkey, '--state', damaged, '--once']);
    assert.equal(r.status, 2);
    assert.ok(isOneErrorLine(r.stderr), r.stderr);
    assert.match(r.stderr, /the monitor state .* is damaged \(not JSON\): fix or remove it knowingly, it is not reset/);
    assert.equal(readFileSync(damaged, 'utf8'), '{"version":1,"logs":{');
    const s = stateCopy();
    const edited = stateOf(s);
    edited.logs[ORIGIN]!.size = 14;
    writeFileSync(s, JSON.stringify(edited));
    assert.match((await monitor([arch, '--pubkey', vkey, '--state', s, '--once'])).stderr, /does not match its size and root/);

    const missing = join(tmp.dir, 'no-such-archive');
    const gone = await monitor([missing, '--pubkey', vkey, '--state', stateCopy(), '--once']);
    assert.deepEqual([gone.status, gone.stdout], [2, '']);
    assert.equal(gone.stderr, `ffaudit: monitor: cannot read ${missing}: no archive at ${missing}\n`);
    // A finding elsewhere wins over an unreadable source: exit 1.
    const w = makeCosigner('witness.example/w1', randomBytes(32));
    const policy = fresh('policy');
    writeFileSync(policy, `log ${readFileSync(vkey, 'utf8').trim()}\nwitness w1 ${formatCosignerVkey(w.name, w.publicKey)}\nquorum w1\n`);
    assert.equal((await monitor([missing, arch, '--policy', policy, '--state', fresh('state'), '--once'])).status, 1);

    const http = await monitor(['http://example.org/mirror/ab', '--pubkey', vkey, '--state', fresh('state'), '--once']);
    assert.equal(http.status, 2);
    assert.ok(isOneErrorLine(http.stderr), http.stderr);
    assert.match(http.stderr, /use https:\/\/ \(plain http is allowed to this machine only\)/);
    const query = await monitor(['https://example.org/mirror/ab?x=1', '--pubkey', vkey, '--state', fresh('state'), '--once']);
    assert.deepEqual([query.status, query.stderr], [2, 'ffaudit: the URL of a log is a prefix: no query, no fragment\n']);
    const none = await monitor([arch, '--state', fresh('state'), '--once']);
    assert.deepEqual([none.status, none.stderr], [2, "ffaudit: give each log's verifier key with --pubkey FILE (or a --policy naming the logs)\n"]);
  });

  it('loop mode: a round every --every, a lasting finding printed once, exit 1 on SIGTERM after findings', async () => {
    const rolled = tamperableCopy(arch);
    unlinkSync(join(rolled, 'checkpoint'));
    symlinkSync(join('checkpoints', '10'), join(rolled, 'checkpoint'));
    const s = stateCopy();
    const child = spawn(process.execPath, [CLI, 'monitor', rolled, join(tmp.dir, 'not-yet'), '--pubkey', vkey, '--state', s, '--every', '1s'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Three rounds: each says the missing source on stderr; the rollback is printed by the first only.
    while ((err.match(/cannot read/g) ?? []).length < 3) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    assert.equal(await exited, 1);
    assert.deepEqual(lines(out).map((f) => [f.kind, f.old_size, f.size]), [['rollback', 15, 10]]);
    assert.equal(err, `ffaudit: monitor: cannot read ${join(tmp.dir, 'not-yet')}: no archive at ${join(tmp.dir, 'not-yet')}\n`.repeat(3));
  });

  it('POSTs each finding to the webhook as the same JSON line; a receiver that is down loses nothing from stdout', async () => {
    const received: { type: string | undefined; body: string }[] = [];
    let status = 204;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], body });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const rolled = tamperableCopy(arch);
      unlinkSync(join(rolled, 'checkpoint'));
      symlinkSync(join('checkpoints', '10'), join(rolled, 'checkpoint'));
      const other = makeLedger(15, { text: 'other key' });
      const otherArchive = fresh('archive');
      await archive(other, otherArchive);
      const r = await monitor([rolled, otherArchive, '--pubkey', vkey, '--state', stateCopy(), '--once', '--webhook', hook]);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(lines(r.stdout).map((f) => f.kind), ['bad-signature', 'rollback']);
      assert.deepEqual(received, r.stdout.split(/(?<=\n)/).map((body) => ({ type: 'application/json', body })));

      status = 500;
      received.length = 0;
      const down = await monitor([rolled, '--pubkey', vkey, '--state', stateCopy(), '--once', '--webhook', hook]);
      assert.equal(down.status, 1);
      assert.deepEqual(lines(down.stdout).map((f) => f.kind), ['rollback']);
      assert.equal(down.stderr, `ffaudit: monitor: the webhook http://127.0.0.1:${(server.address() as AddressInfo).port} did not take 1 finding(s) (HTTP 500); retried next round\n`);
      assert.equal(received.length, 1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;

describe("ffaudit monitor over a server's mirror (HTTP)", { skip }, () => {
  it('follows a joined, pushed ledger through /mirror/<hash> with a policy requiring the server\'s cosignature', async () => {
    const dir = fresh('serve');
    const cli = async (args: string[], input?: string) => {
      const r = await runCliAsync(args, undefined, input);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const db = await createDatabase((pgc as { url: string }).url);
    const keys = join(dir, 'keys');
    const init = await cli(['serve', 'init', '--name', 'audit.test', '--keys', keys]);
    const server = await startServe(db, keys);
    try {
      const ledger = join(dir, 'host');
      const origin = 'edit-ws-9.test/ffaudit';
      await cli(['--ledger', ledger, 'init', '--origin', origin]);
      await cli(['--ledger', ledger, 'join', server.url], await cli(['serve', 'hosts', 'add', 'edit-ws-9', '--db', db]));
      const l = Ledger.open({ dir: ledger, explicit: true });
      grow(l, 300);
      l.close();
      await cli(['--ledger', ledger, 'push']);
      // All of the server's cosigners: the mirror's cosignature is on the mirror's checkpoint, the witness's two
      // (Ed25519 and ML-DSA-44) are added from /witness/<hash>/checkpoint (monitor/server-mirror.ts).
      const serverKey = (name: string) => new RegExp(`^${name} +(\\S+)$`, 'm').exec(init)![1]!;
      const policy = join(dir, 'policy');
      writeFileSync(
        policy,
        `log ${readFileSync(join(ledger, 'vkey'), 'utf8').trim()}\nwitness w ${serverKey('witness')}\nwitness m ${serverKey('mirror')}\nwitness p ${serverKey('witness_ml_dsa44')}\ngroup server all w m p\nquorum server\n`,
      );
      const hash = (await import('node:crypto')).createHash('sha256').update(origin).digest('hex');
      const mirror = `${server.url}/mirror/${hash}`;
      const state = join(dir, 'state.json');
      const first = await monitor([mirror, '--policy', policy, '--state', state, '--once']);
      assert.deepEqual([first.status, first.stdout, first.stderr], [0, '', '']);
      assert.equal(stateOf(state).logs[origin]!.size, 300);
      assert.match(stateOf(state).logs[origin]!.note, /\n— audit\.test\/mirror \S+\n— audit\.test\/witness \S+\n— audit\.test\/witness \S+\n$/);
      // A witness the server does not have: the finding names it, and only it.
      const stranger = makeCosigner('stranger.example/w', randomBytes(32));
      const strict = join(dir, 'strict-policy');
      writeFileSync(strict, `${readFileSync(policy, 'utf8').replace('quorum server\n', '')}witness x ${formatCosignerVkey(stranger.name, stranger.publicKey)}\nquorum x\n`);
      const missing = await monitor([mirror, '--policy', strict, '--state', join(dir, 'other-state.json'), '--once']);
      assert.equal(missing.status, 1, missing.stderr);
      assert.deepEqual(lines(missing.stdout).map((f) => [f.kind, f.evidence.missing, f.evidence.witnessed]), [['cosignatures-missing', ['x'], ['w', 'm', 'p']]]);

      // The log grows past a full tile; the new checkpoint is proven from the mirror's tiles.
      const l2 = Ledger.open({ dir: ledger, explicit: true });
      grow(l2, 20, 'later');
      l2.close();
      await cli(['--ledger', ledger, 'push']);
      const second = await monitor([mirror, '--policy', policy, '--state', state, '--once']);
      assert.deepEqual([second.status, second.stdout, second.stderr], [0, '', '']);
      assert.equal(stateOf(state).logs[origin]!.size, 320);
      assert.deepEqual(stateOf(state).sources, { [mirror]: 320 });
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
