// The server's RFC 3161 timestamps of its mirror checkpoints, against a real TSA (OpenSSL's `ts -reply`,
// testing/tsa-server.ts) on a real PostgreSQL: stamped once per checkpoint and published beside the tiles, accepted by
// `openssl ts -verify`; a TSA that is down costs one line and nothing else; one request per log per interval across
// two schedulers; renewals over the newest token; rows tampered in PostgreSQL found by `serve verify`; and a real
// `ffaudit serve --tsa` process stamping what a host pushed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatBundle, verifyBundle } from '../core/bundle.js';
import { parseNote, parseVerifierKey } from '../core/note.js';
import { bundleEntries } from '../lineage/bundle.js';
import { verifyTimestampToken } from '../timestamp/verify.js';
import { appendRuns, RUNS, SHA } from '../testing/api-fixture.js';
import { naiveLeaf } from '../testing/fixtures.js';
import { addPending, enrolHost, makeHostLog, specBody, type HostLog } from '../testing/mirror-fixture.js';
import { Ledger } from '../ledger/ledger.js';
import { originHash } from './hosts.js';
import { createDatabase, testPostgres } from '../testing/pg-server.js';
import { runCliInProcess } from '../testing/cli.js';
import { runCliAsync, cleanEnv, tempDir } from '../testing/fixtures.js';
import { startServe } from '../testing/serve-process.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import { createApp } from './app.js';
import { migrate, openDb, type Db } from './db/pool.js';
import { initServerKeys, loadServerKeys } from './keys.js';
import { stampMirrors, type MirrorTsa } from './mirror-stamps.js';
import { mirrorEvidence } from './search/evidence.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : tsaSkip;
const tmp = tempDir('mirror-stamps');
let tsa: TestTsa;
before(async () => {
  if (!skip) tsa = await startTestTsa(join(tmp.dir));
});
after(async () => {
  await tsa?.close();
  tmp.cleanup();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface World {
  db: Db;
  url: string;
  keysDir: string;
  app: ReturnType<typeof createApp>;
  dir: string;
  log: HostLog;
  host: number;
  close(): Promise<void>;
}

let worlds = 0;
/** A server database and app, with one host's log mirrored up to `size` (of the sizes its ledger has checkpoints for). */
async function world(name: string, sizes: readonly number[], make?: (dir: string) => HostLog): Promise<World> {
  const dir = join(tmp.dir, `w${++worlds}`);
  const url = await createDatabase((pgc as { url: string }).url);
  const db = await openDb(url);
  await migrate(db);
  const keysDir = join(dir, 'keys');
  initServerKeys(keysDir, 'audit.example.com');
  const app = createApp({ db, keys: loadServerKeys(keysDir), log: () => undefined });
  const log = make ? make(dir) : makeHostLog(dir, `${name}.example/ffaudit`, sizes);
  const host = await enrolHost(db, name, log);
  return {
    db,
    url,
    keysDir,
    app,
    dir,
    log,
    host,
    async close() {
      log.ledger.close();
      await db.close();
    },
  };
}

/** A host log of two runs (the API fixture's r1 and r2: entries 0–1 and 2–3), with checkpoints at sizes 2 and 4. */
function twoRuns(origin: string) {
  return (dir: string): HostLog => {
    const ledger = Ledger.init(join(dir, 'ledger'), { origin });
    const checkpoints = new Map<number, string>();
    for (const r of [RUNS.r1, RUNS.r2]) {
      appendRuns(ledger, [r]);
      checkpoints.set(ledger.size(), ledger.checkpoint());
    }
    const entries = ledger.entries(0, ledger.size());
    return { ledger, origin, vkey: ledger.vkey, h: originHash(origin).toString('hex'), entries, leaves: entries.map((e) => naiveLeaf(e)), checkpoints, blobs: new Map() };
  };
}

/** Mirrors the log from `from` up to its checkpoint of `size`, as add-checkpoint and add-entries do. */
async function mirrorTo(w: World, from: number, size: number, log: HostLog = w.log, host: number = w.host): Promise<void> {
  await addPending(w.db, host, log.vkey, log.checkpoints.get(size)!);
  const r = await w.app.request('/add-entries', { method: 'POST', body: specBody(log, from, size) });
  assert.equal(r.status, 200, await r.text());
}

const config = (path: string, o: Partial<MirrorTsa> = {}): MirrorTsa => ({ url: tsa.url(path), caPem: tsa.ca(), everyMs: HOUR, renewBeforeMs: DAY, ...o });

async function round(w: World, c: MirrorTsa, db: Db = w.db): Promise<string[]> {
  const lines: string[] = [];
  await stampMirrors(db, c, (l) => lines.push(l));
  return lines;
}

/** As if the interval had passed since the log was last sent to the TSA. */
async function intervalPasses(w: World): Promise<void> {
  await w.db.pool.query("UPDATE timestamp_schedule SET tried_at = tried_at - interval '1 day'");
}

async function rows(w: World): Promise<{ size: number; generation: number; token: Buffer; token_hash: Buffer; renews: Buffer | null; tsa: string }[]> {
  const r = await w.db.pool.query('SELECT size, generation, token, token_hash, renews, tsa FROM timestamps ORDER BY size, generation');
  return r.rows as never;
}

const SENTENCE = /^timestamp (\S+): entry (\d+) existed no later than (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z), according to TSA O=Studio, CN=tsa$/;

async function serveVerify(w: World, ...extra: string[]) {
  return runCliInProcess(['serve', 'verify', '--db', w.url, ...extra]);
}

describe('the mirror timestamps its checkpoints', { skip }, () => {
  it('stamps a moved mirror checkpoint once, publishes the token beside its checkpoint, and openssl accepts both', async () => {
    const w = await world('stamp-1', [300, 600]);
    try {
      await mirrorTo(w, 0, 300);
      const served = tsa.served();
      const first = await round(w, config('good'));
      assert.equal(first.length, 1, first.join('\n'));
      const [, name, entry, genTime] = SENTENCE.exec(first[0]!)!;
      assert.deepEqual([name, entry], ['stamp-1', '299']);
      assert.ok(Math.abs(Date.parse(genTime!) - Date.now()) < 60_000);
      assert.equal(tsa.served(), served + 1);

      const base = `/mirror/${w.log.h}`;
      const res = await w.app.request(`${base}/timestamp/300`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      const token = Buffer.from(await res.arrayBuffer());
      const [row] = await rows(w);
      assert.deepEqual([row!.size, row!.generation, row!.renews, row!.tsa], [300, 0, null, tsa.url('good')]);
      assert.deepEqual(token, row!.token);
      assert.deepEqual(createHash('sha256').update(token).digest(), row!.token_hash);

      // The checkpoint it is over, as the mirror cosigned it: the log's signature and the mirror's.
      const cpRes = await w.app.request(`${base}/checkpoints/300`);
      assert.equal(cpRes.status, 200);
      assert.equal(cpRes.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      const note = await cpRes.text();
      assert.ok(note.startsWith(w.log.checkpoints.get(300)!), 'the log-signed note, then the mirror cosignature');
      assert.match(note, /\n— audit\.example\.com\/mirror \S+\n$/);
      const body = parseNote(note).text;
      assert.equal(body, `${w.log.origin}\n300\n${body.split('\n')[2]}\n`);
      writeFileSync(join(w.dir, 'body.txt'), body);
      writeFileSync(join(w.dir, 'token.der'), token);
      const ok = tsa.ssl('ts', '-verify', '-data', join(w.dir, 'body.txt'), '-in', join(w.dir, 'token.der'), '-token_in', '-CAfile', tsa.caFile, '-untrusted', tsa.file('tsa.pem'));
      assert.match(ok, /^Verification: OK$/m);

      // Nothing else is there, and a missing one is not cached.
      for (const p of ['timestamp/299', 'timestamp/300.1', 'timestamp/0300', 'timestamp/300.0', 'timestamp/x', 'checkpoints/299', 'checkpoints/300.1']) {
        const r = await w.app.request(`${base}/${p}`);
        assert.deepEqual([p, r.status, r.headers.get('cache-control')], [p, 404, 'no-store']);
      }
      assert.equal((await w.app.request(`/mirror/${'0'.repeat(64)}/timestamp/300`)).status, 404);

      // Not moved: not asked again. Moved within the interval: not asked either; after it: stamped.
      assert.deepEqual(await round(w, config('good')), []);
      await mirrorTo(w, 300, 600);
      assert.deepEqual(await round(w, config('good')), []);
      assert.equal(tsa.served(), served + 1);
      await intervalPasses(w);
      const moved = await round(w, config('good'));
      assert.match(moved[0] ?? '', /^timestamp stamp-1: entry 599 existed no later than /);
      assert.equal(moved.length, 1);
      assert.deepEqual((await rows(w)).map((r) => [r.size, r.generation]), [[300, 0], [600, 0]]);

      // serve verify re-checks both, completely with the CA; without it says they were not verified.
      writeFileSync(join(w.dir, 'ca.pem'), tsa.ca());
      const v = await serveVerify(w, '--tsa-ca', join(w.dir, 'ca.pem'));
      assert.deepEqual([v.status, v.stdout, v.stderr], [0, 'stamp-1: ok (600 entries, 2 timestamps verified)\n', '']);
      const plain = await serveVerify(w);
      assert.deepEqual([plain.status, plain.stdout], [0, 'stamp-1: ok (600 entries, 2 timestamps not verified (no --tsa-ca))\n']);
    } finally {
      await w.close();
    }
  });

  it("carries its tokens in the server's bundles, tied to a later checkpoint by a consistency proof; dates only the entries they cover", async () => {
    // Guards: server bundles without the mirror's tokens (an auditor's download from the web interface would
    // carry no time), a token not tied to the bundle's checkpoint, or a time stated for entries it does not cover.
    const w = await world('stamp-bundle', [], twoRuns('stamp-bundle.example/ffaudit'));
    try {
      await mirrorTo(w, 0, 2);
      const [line] = await round(w, config('good'));
      const genTime = SENTENCE.exec(line!)![3]!;
      await mirrorTo(w, 2, 4);
      const src = await mirrorEvidence(w.db, w.log.origin);
      const opts = {
        pubkeys: [parseVerifierKey(w.log.vkey)],
        timestamps: { verify: (der: Buffer, imprint: Buffer) => verifyTimestampToken(der, { imprint, caCerts: tsa.ca() }), anchored: true },
      };
      const now = () => '2026-12-06T10:00:00.000000000Z';
      const first = formatBundle(await bundleEntries(src, [0, 1], [{ path: '/ws/a.mov', sha256: SHA.A }], [], { now }));
      assert.match((JSON.parse(first) as { checkpoint: string }).checkpoint, /\n4\n/, 'proven against the later checkpoint');
      const v = verifyBundle(Buffer.from(first), opts);
      assert.deepEqual(v.failures, []);
      assert.deepEqual(v.time.map((t) => t.sentences), [[`entry 1 existed no later than ${genTime}, according to TSA O=Studio, CN=tsa`]]);
      const second = verifyBundle(Buffer.from(formatBundle(await bundleEntries(src, [2, 3], [{ path: '/render/b.mp4', sha256: SHA.B }], [SHA.A], { now }))), opts);
      assert.deepEqual([second.failures, second.time, second.untimed.map((u) => u.entries)], [[], [], [[2, 3]]]);
    } finally {
      await w.close();
    }
  });

  it('a TSA that is down: one line, no token, the mirror unaffected; the next interval stamps', async () => {
    const w = await world('down-1', [40, 80]);
    try {
      await mirrorTo(w, 0, 40);
      // A second log: a round ends at the first failure, so a TSA that is down is asked once per round.
      const second = makeHostLog(join(w.dir, 'second'), 'down-2.example/ffaudit', [7]);
      await mirrorTo(w, 0, 7, second, await enrolHost(w.db, 'down-2', second));
      second.ledger.close();
      const origin = new URL(tsa.url()).origin;
      tsa.down = true;
      try {
        assert.deepEqual(await round(w, config('good')), [`timestamp down-1: the TSA at ${origin} answered HTTP 503; retried next interval`]);
        assert.deepEqual(await round(w, config('good')), [`timestamp down-2: the TSA at ${origin} answered HTTP 503; retried next interval`]);
        // Within the interval neither is sent again, though neither has a token.
        assert.deepEqual(await round(w, config('good')), []);
      } finally {
        tsa.down = false;
      }
      assert.deepEqual(await rows(w), []);
      assert.equal((await w.app.request(`/mirror/${w.log.h}/timestamp/40`)).status, 404);
      // The mirror goes on as before.
      await mirrorTo(w, 40, 80);
      assert.equal((await w.app.request(`/mirror/${w.log.h}/checkpoint`)).status, 200);
      await intervalPasses(w);
      const next = await round(w, config('good'));
      assert.equal(next.length, 2);
      assert.match(next[0]!, /^timestamp down-1: entry 79 existed no later than /);
      assert.match(next[1]!, /^timestamp down-2: entry 6 existed no later than /);
      assert.deepEqual((await rows(w)).map((r) => r.size), [7, 80]);
    } finally {
      await w.close();
    }
  });

  it('two schedulers on one database: one request, one token; the table refuses a second token and any rewrite', async () => {
    const w = await world('pair-1', [10]);
    const other = await openDb(w.url);
    try {
      await mirrorTo(w, 0, 10);
      const served = tsa.served();
      const [a, b] = await Promise.all([round(w, config('good')), round(w, config('good'), other)]);
      assert.equal(tsa.served(), served + 1);
      assert.equal([...a, ...b].length, 1);
      const [row] = await rows(w);
      assert.equal((await rows(w)).length, 1);
      // A second generation-0 token for the same checkpoint: refused by the table itself.
      await assert.rejects(
        w.db.pool.query(
          "INSERT INTO timestamps (token_hash, host_id, epoch, size, root, checkpoint, generation, renews, tsa, gen_time, signer_not_after, token) SELECT $1, host_id, epoch, size, root, checkpoint, 0, NULL, tsa, gen_time, signer_not_after, token FROM timestamps",
          [Buffer.alloc(32, 1)],
        ),
        /duplicate key value violates unique constraint "timestamps_by_checkpoint"/,
      );
      await assert.rejects(w.db.pool.query('UPDATE timestamps SET size = 9'), /timestamps is append-only/);
      await assert.rejects(w.db.pool.query('DELETE FROM timestamps'), /timestamps is append-only/);
      await assert.rejects(w.db.pool.query('TRUNCATE timestamps'), /timestamps is append-only/);
      assert.deepEqual((await rows(w))[0], row);
    } finally {
      await other.close();
      await w.close();
    }
  });

  it('renews the newest token before its TSA certificate expires, only with a certificate that outlives it; the chain verifies', async () => {
    const w = await world('renew-1', [20]);
    try {
      await mirrorTo(w, 0, 20);
      // A token from the 1-day certificate, renewed 2 days before expiry: due at once.
      const renewing = { renewBeforeMs: 2 * DAY };
      assert.match((await round(w, config('short', renewing)))[0] ?? '', /^timestamp renew-1: entry 19 existed no later than /);
      await intervalPasses(w);
      // The same short certificate would not outlive it: asked, not kept.
      const same = await round(w, config('short', renewing));
      assert.equal(same.length, 1);
      assert.match(same[0]!, /^timestamp renew-1: a renewal of timestamp\/20 would not outlive it \(the TSA's certificate expires \S+, no later than \S+\): not kept$/);
      assert.equal((await rows(w)).length, 1);
      await intervalPasses(w);
      const renewed = await round(w, config('good', renewing));
      assert.match(renewed[0] ?? '', /^timestamp renew-1: timestamp\/20 renewed as timestamp\/20\.1: kept provable by a renewal at \S+Z, according to TSA O=Studio, CN=tsa$/);
      const [base, renewal] = await rows(w);
      assert.deepEqual([renewal!.size, renewal!.generation, renewal!.renews], [20, 1, base!.token_hash]);
      // Published as timestamp/20.1; its imprint is SHA-256 of the DER of timestamp/20, which openssl checks.
      const res = await w.app.request(`/mirror/${w.log.h}/timestamp/20.1`);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), renewal!.token);
      writeFileSync(join(w.dir, 'base.der'), base!.token);
      writeFileSync(join(w.dir, 'renewal.der'), renewal!.token);
      const ok = tsa.ssl('ts', '-verify', '-data', join(w.dir, 'base.der'), '-in', join(w.dir, 'renewal.der'), '-token_in', '-CAfile', tsa.caFile, '-untrusted', tsa.file('tsa.pem'));
      assert.match(ok, /^Verification: OK$/m);
      // The renewal's certificate lasts 30 days: nothing more to do.
      await intervalPasses(w);
      assert.deepEqual(await round(w, config('good', renewing)), []);
      writeFileSync(join(w.dir, 'ca.pem'), tsa.ca());
      const v = await serveVerify(w, '--tsa-ca', join(w.dir, 'ca.pem'));
      assert.deepEqual([v.status, v.stdout], [0, 'renew-1: ok (20 entries, 2 timestamps verified)\n']);
    } finally {
      await w.close();
    }
  });

  it("renews every chain that is due, not only the newest checkpoint's; serve verify names a chain that lapsed", async () => {
    // Guards: an older checkpoint's token left to expire once the log moved on (its earliest time lost with no
    // word), or a lapsed chain that serve verify still counts as good.
    const w = await world('renew-all', [20, 40]);
    try {
      const renewing = { renewBeforeMs: 2 * DAY };
      await mirrorTo(w, 0, 20);
      assert.equal((await round(w, config('short', renewing))).length, 1); // timestamp/20, from the 1-day certificate
      await mirrorTo(w, 20, 40);
      await intervalPasses(w);
      // The log moved: a token over 40 from the 30-day certificate, and the renewal of timestamp/20 in the same round.
      const lines = await round(w, config('good', renewing));
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0]!, /^timestamp renew-all: entry 39 existed no later than /);
      assert.match(lines[1]!, /^timestamp renew-all: timestamp\/20 renewed as timestamp\/20\.1: kept provable by a renewal at /);
      assert.deepEqual((await rows(w)).map((r) => [r.size, r.generation]), [[20, 0], [20, 1], [40, 0]]);

      // Two days on, without the renewal: timestamp/20's chain lapsed, and the check says so by name.
      const { checkTimestamps } = await import('./timestamp-check.js');
      const { rows: [host] } = await w.db.pool.query<{ epoch: number }>('SELECT epoch FROM hosts WHERE id = $1', [w.host]);
      const m = { hostId: w.host, epoch: host!.epoch, origin: w.log.origin, vkey: w.log.vkey, mirrorSize: 40 };
      const later = new Date(Date.now() + 2 * DAY);
      const kept = await checkTimestamps(w.db, m, tsa.ca(), later);
      assert.deepEqual([kept.verified, kept.problems], [3, []]);
      await w.db.pool.query('ALTER TABLE timestamps DISABLE TRIGGER timestamps_append_only');
      await w.db.pool.query('DELETE FROM timestamps WHERE generation = 1');
      const lapsed = await checkTimestamps(w.db, m, tsa.ca(), later);
      assert.equal(lapsed.problems.length, 1, lapsed.problems.join('\n'));
      assert.match(lapsed.problems[0]!, /^timestamp\/20: no longer provable: its TSA certificate expired at \S+Z and no renewal covers it$/);
    } finally {
      await w.close();
    }
  });

  it('asks once a round while the TSA has not rolled its certificate, not once per chain due', async () => {
    // Guards: 16 requests a log every interval for the whole renewal window, each answered "would not outlive".
    const w = await world('renew-once', [10, 20, 30]);
    try {
      const renewing = { renewBeforeMs: 2 * DAY };
      for (const [from, to] of [[0, 10], [10, 20], [20, 30]] as const) {
        await mirrorTo(w, from, to);
        await intervalPasses(w);
        assert.equal((await round(w, config('short', renewing))).filter((l) => SENTENCE.test(l)).length, 1);
      }
      // Three chains due, from the 1-day certificate; the same TSA again: one request, then nothing more sent.
      await intervalPasses(w);
      const served = tsa.served();
      const lines = await round(w, config('short', renewing));
      assert.equal(tsa.served(), served + 1);
      assert.deepEqual(lines.map((l) => l.replace(/\d{4}-\S+Z/g, 'T')), ["timestamp renew-once: a renewal of timestamp/10 would not outlive it (the TSA's certificate expires T, no later than T): not kept"]);
      // A TSA with a longer certificate: every chain renewed in one round.
      await intervalPasses(w);
      const renewed = await round(w, config('good', renewing));
      assert.equal(renewed.length, 3, renewed.join('\n'));
      assert.deepEqual((await rows(w)).map((r) => [r.size, r.generation]), [[10, 0], [10, 1], [20, 0], [20, 1], [30, 0], [30, 1]]);
    } finally {
      await w.close();
    }
  });

  it('sends nothing for a mirror checkpoint the log did not sign, and says so once per interval', async () => {
    const w = await world('forged-1', [12]);
    try {
      await mirrorTo(w, 0, 12);
      const { rows: [m] } = await w.db.pool.query<{ note: string }>('SELECT note FROM mirror_state');
      const lines = m!.note.split('\n');
      lines[2] = `${lines[2]![0] === 'A' ? 'B' : 'A'}${lines[2]!.slice(1)}`;
      await w.db.pool.query('UPDATE mirror_state SET note = $1', [lines.join('\n')]);
      const served = tsa.served();
      assert.deepEqual(await round(w, config('good')), ['timestamp forged-1: checkpoint signature is invalid; retried next interval']);
      assert.deepEqual(await round(w, config('good')), []);
      assert.equal(tsa.served(), served);
      assert.deepEqual(await rows(w), []);
    } finally {
      await w.close();
    }
  });

  it('serve verify finds rows an attacker rewrote in PostgreSQL, each by name', async () => {
    const w = await world('tamper-1', [30]);
    try {
      await mirrorTo(w, 0, 30);
      await round(w, config('good'));
      writeFileSync(join(w.dir, 'ca.pem'), tsa.ca());
      const verify = () => serveVerify(w, '--tsa-ca', join(w.dir, 'ca.pem'));
      assert.equal((await verify()).status, 0);
      const [row] = await rows(w);
      // The attacker owns the tables: the append-only trigger is switched off first.
      const q = (sql: string, params: unknown[] = []) => w.db.pool.query(sql, params);
      await q('ALTER TABLE timestamps DISABLE TRIGGER timestamps_append_only');
      const expectProblem = async (line: string) => {
        const v = await verify();
        assert.deepEqual([v.status, v.stdout], [1, `tamper-1: PROBLEMS (30 entries, 0 of 1 timestamp verified)\n  ${line}\n`]);
      };

      // One byte of the signature (the token's last bytes) flipped, the hash made to match.
      const flipped = Buffer.from(row!.token);
      flipped[flipped.length - 1]! ^= 0x01;
      const hash = (b: Buffer) => createHash('sha256').update(b).digest();
      await q('UPDATE timestamps SET token = $1, token_hash = $2', [flipped, hash(flipped)]);
      await expectProblem('timestamp/30: time-stamp token: the CMS signature over the signed attributes does not verify');
      // The same without the hash: found before any parsing.
      await q('UPDATE timestamps SET token = $1, token_hash = $2', [flipped, row!.token_hash]);
      await expectProblem('timestamp/30: the token does not hash to its stored SHA-256');
      // The good token, moved to another size.
      await q('UPDATE timestamps SET token = $1, size = 29', [row!.token]);
      await expectProblem('timestamp/29: its checkpoint is of size 30, not 29, or another root');
      // Another genTime claimed than the token's.
      await q("UPDATE timestamps SET size = 30, gen_time = gen_time - interval '1 day'");
      const v = await verify();
      assert.equal(v.status, 1);
      assert.match(v.stdout, /^ {2}timestamp\/30: its stored gen_time \S+ is not the token's \S+$/m);
      // The token of another checkpoint: its imprint is not this one's.
      const other = await world('tamper-2', [31]);
      try {
        await mirrorTo(other, 0, 31);
        await round(other, config('good'));
        const [foreign] = await rows(other);
        await q("UPDATE timestamps SET token = $1, token_hash = $2, gen_time = gen_time + interval '1 day'", [foreign!.token, foreign!.token_hash]);
        await expectProblem('timestamp/30: time-stamp token: the message imprint is not that of the checkpoint');
      } finally {
        await other.close();
      }
    } finally {
      await w.close();
    }
  });
});

describe('ffaudit serve --tsa, as its own process', { skip }, () => {
  it("stamps what a host pushed, once, with two serve processes on one database; the token is served and verifies", async () => {
    const dir = join(tmp.dir, 'process');
    const db = await createDatabase((pgc as { url: string }).url);
    const keys = join(dir, 'keys');
    const cli = async (args: string[], input?: string) => {
      const r = await runCliAsync(args, cleanEnv(), input);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await cli(['serve', 'init', '--name', 'audit.test', '--keys', keys]);
    const flags = ['--tsa', tsa.url('good'), '--tsa-ca', tsa.caFile, '--tsa-every', '1s', '--tsa-renew-before', '1d'];
    const one = await startServe(db, keys, [...flags, '--access-log', join(dir, 'access-1')]);
    const two = await startServe(db, keys, [...flags, '--access-log', join(dir, 'access-2')]);
    try {
      const log = makeHostLog(dir, 'edit-ws-3.test/ffaudit', [120]);
      log.ledger.close();
      const ledger = join(dir, 'ledger');
      await cli(['--ledger', ledger, 'join', one.url], await cli(['serve', 'hosts', 'add', 'edit-ws-3', '--db', db]));
      const served = tsa.served();
      await cli(['--ledger', ledger, 'push']);
      const url = `${two.url}/mirror/${log.h}/timestamp/120`;
      let token: Buffer | undefined;
      for (let i = 0; i < 100 && !token; i++) {
        const r = await fetch(url);
        if (r.status === 200) token = Buffer.from(await r.arrayBuffer());
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(token, 'a token within 10 s');
      // Two more rounds of each process: nothing moved, nothing asked.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.equal(tsa.served(), served + 1);
      const said = [one, two].map((s) => s.log().match(/ timestamp edit-ws-3: entry 119 existed no later than \S+, according to TSA O=Studio, CN=tsa\n/g)?.length ?? 0);
      assert.deepEqual(said.sort(), [0, 1]);
      const note = await fetch(`${one.url}/mirror/${log.h}/checkpoints/120`).then((r) => r.text());
      writeFileSync(join(dir, 'body.txt'), parseNote(note).text);
      writeFileSync(join(dir, 'token.der'), token);
      assert.match(tsa.ssl('ts', '-verify', '-data', join(dir, 'body.txt'), '-in', join(dir, 'token.der'), '-token_in', '-CAfile', tsa.caFile, '-untrusted', tsa.file('tsa.pem')), /^Verification: OK$/m);
    } finally {
      await one.stop();
      await two.stop();
    }
  });

  it('refuses --tsa without --tsa-ca, and a CA file with no certificate, in one line', async () => {
    const r = await runCliInProcess(['serve', '--db', 'postgres://x@127.0.0.1:1/x', '--keys', tmp.dir, '--tsa', 'http://127.0.0.1:9/good']);
    assert.deepEqual([r.status, r.stderr], [2, 'ffaudit: --tsa and --tsa-ca go together\n']);
    const empty = join(tmp.dir, 'empty.pem');
    writeFileSync(empty, 'nothing\n');
    const e = await runCliInProcess(['serve', '--db', 'postgres://x@127.0.0.1:1/x', '--keys', tmp.dir, '--tsa', 'http://127.0.0.1:9/good', '--tsa-ca', empty]);
    assert.deepEqual([e.status, e.stderr], [2, 'ffaudit: no PEM certificate in the TSA CA file\n']);
    const far = await runCliInProcess(['serve', '--db', 'postgres://x@127.0.0.1:1/x', '--keys', tmp.dir, '--tsa', 'http://192.0.2.1/', '--tsa-ca', tsa.caFile]);
    assert.deepEqual([far.status, far.stderr], [2, 'ffaudit: the TSA must be reached over https (plain http to loopback only): http://192.0.2.1\n']);
  });
});
