/**
 * Timestamps on a ledger against a real TSA (OpenSSL behind loopback HTTP, src/testing/tsa-server.ts): the config
 * read strictly, `ffaudit timestamp` storing what verified (and not asking twice), verify re-checking every stored
 * token and naming an altered one, renewals for a certificate about to expire, the schedule run by pushes (a TSA
 * that is down costs one line, never the push), and archives publishing tokens that OpenSSL verifies on its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { parseNote } from '../core/note.js';
import { Ledger } from '../ledger/ledger.js';
import { runCliInProcess } from '../testing/cli.js';
import { joinServer } from '../testing/cosigners.js';
import { cleanEnv, runCliAsync, tempDir } from '../testing/fixtures.js';
import { startTlogServer } from '../testing/tlog-server.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import { tsaConfigOf } from './config.js';
import { checkStoredTimestamps } from './ledger-check.js';

const skip = tsaSkip;
const tmp = tempDir('ledger-stamps');
let tsa: TestTsa;
before(async () => {
  if (!skip) tsa = await startTestTsa(join(tmp.dir));
});
after(async () => {
  await tsa?.close();
  // Archive directories hold immutable files (chattr +i) where privileges allow: lifted before removing them.
  spawnSync('chattr', ['-R', '-i', tmp.dir], { stdio: 'ignore' });
  tmp.cleanup();
});
let counter = 0;
const SENTENCE = /^entry (\d+) existed no later than (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z), according to TSA O=Studio, CN=tsa$/m;

async function ledger(entries = 2): Promise<{ dir: string; cli: (...args: string[]) => ReturnType<typeof runCliInProcess> }> {
  const dir = join(tmp.dir, `l${counter++}`);
  const cli = (...args: string[]) => runCliInProcess(['--ledger', dir, ...args], { cwd: tmp.dir });
  assert.equal((await cli('init', '--origin', `example.org/stamps-${counter}`)).status, 0);
  for (let i = 0; i < entries; i++) assert.equal((await cli('note', `note ${i}`)).status, 0);
  return { dir, cli };
}

/** Opens the ledger's database as an attacker would: triggers dropped, rows rewritten. */
function tamper(dir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(join(dir, 'ledger.db'));
  db.exec('DROP TRIGGER IF EXISTS timestamps_no_update');
  db.prepare(sql).run(...params);
  db.close();
}

describe('the tsa section of config.json', () => {
  const parse = (tsaSection: unknown) => () => tsaConfigOf({ tsa: tsaSection }, '/ledger');
  const refuses = (tsaSection: unknown, message: string) => assert.throws(parse(tsaSection), (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && e.message === message);

  it('reads url, ca (relative to the ledger), every and renewBefore, with defaults', () => {
    assert.deepEqual(tsaConfigOf({ tsa: { url: 'https://tsa.example/', ca: 'ca.pem' } }, '/ledger'), { url: 'https://tsa.example/', ca: '/ledger/ca.pem', every: '1h', everyMs: 3_600_000, renewBefore: '30d', renewBeforeMs: 30 * 86_400_000 });
    assert.equal(tsaConfigOf({ tsa: { url: 'https://tsa.example/', ca: '/etc/tsa.pem', every: '10m', renewBefore: '2d' } }, '/ledger')!.ca, '/etc/tsa.pem');
    assert.equal(tsaConfigOf({}, '/ledger'), undefined);
  });

  it('refuses a section that is there but wrong, naming the field', () => {
    refuses('https://tsa.example/', 'config.json: tsa must be an object {"url", "ca", "every"?, "renewBefore"?}');
    refuses({ ca: 'ca.pem' }, "config.json: tsa.url must be the TSA's URL (https://…)");
    refuses({ url: 'http://tsa.example/', ca: 'ca.pem' }, 'config.json: tsa.url: the TSA must be reached over https (plain http to loopback only): http://tsa.example');
    refuses({ url: 'not a url', ca: 'ca.pem' }, 'config.json: tsa.url "not a url" is not a URL');
    refuses({ url: 'https://tsa.example/' }, 'config.json: tsa.ca must name the PEM file of the CA certificates the TSA chains to');
    refuses({ url: 'https://tsa.example/', ca: 'ca.pem', every: 'hourly' }, 'config.json: tsa.every must be a duration such as 90s, 10m, 24h or 30d, not "hourly"');
    refuses({ url: 'https://tsa.example/', ca: 'ca.pem', renewBefore: 30 }, 'config.json: tsa.renewBefore must be a duration such as 90s, 10m, 24h or 30d, not 30');
    refuses({ url: 'https://tsa.example/', ca: 'ca.pem', evry: '1h' }, 'config.json: tsa.evry is not a setting (url, ca, every, renewBefore)');
  });
});

describe('timestamps on a ledger', { skip }, () => {
  it('--set-tsa configures; timestamp stores a verified token once; verify checks it and says the sentence', async () => {
    const { dir, cli } = await ledger();
    const noTsa = await cli('timestamp');
    assert.equal(noTsa.status, 2);
    assert.equal(noTsa.stderr, 'ffaudit: no TSA is configured for this ledger: give --tsa URL --tsa-ca FILE, or configure one with --set-tsa URL --tsa-ca FILE\n');
    const set = await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile, '--every', '2h');
    assert.equal(set.status, 0, set.stderr);
    assert.deepEqual((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { tsa: unknown }).tsa, { url: tsa.url('good'), ca: tsa.caFile, every: '2h' });

    const served = tsa.served();
    const first = await cli('timestamp');
    assert.equal(first.status, 0, first.stderr);
    const m = SENTENCE.exec(first.stdout);
    assert.ok(m, first.stdout);
    assert.equal(m[1], '1');
    assert.match(first.stdout, /\ntoken stored in the ledger \(serial \d+\)\n$/);
    assert.equal(tsa.served(), served + 1);
    const again = await cli('timestamp');
    assert.equal(tsa.served(), served + 1, 'a checkpoint timestamped already is not sent again');
    assert.match(again.stdout, /the checkpoint of size 2 was timestamped already: no new token asked for \(--force asks again\)/);
    assert.equal(SENTENCE.exec(again.stdout)?.[2], m[2], 'the same token, the same time');
    assert.equal((await cli('timestamp', '--force')).status, 0);
    assert.equal(tsa.served(), served + 2);

    const v = await cli('verify');
    assert.equal(v.status, 0, v.stdout);
    assert.match(v.stdout, new RegExp(`^tokens   2 of 2 time-stamp tokens verified against the TSA CA; entry 1 existed no later than ${m[2]!.replace(/\./g, '\\.')}, according to TSA O=Studio, CN=tsa$`, 'm'));
    const json = JSON.parse((await cli('verify', '--json')).stdout) as { timestamps: unknown };
    assert.deepEqual(json.timestamps, { stored: 2, valid: 2, newest: `entry 1 existed no later than ${m[2]}, according to TSA O=Studio, CN=tsa` });
  });

  it('verify without a CA says the tokens were not checked; a token under another CA states no time and is no finding', async () => {
    // Guards: a genuine token from another TSA (asked once with --tsa, or a CA since rolled over) reported as
    // tampering, or counted as evidence of time under a CA the verifier did not name.
    const { dir, cli } = await ledger();
    assert.equal((await cli('timestamp', '--tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    const v = await cli('verify');
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^tokens {3}1 time-stamp token stored, NOT CHECKED: no TSA CA is configured \(tsa\.ca in config\.json\) or given \(--tsa-ca FILE\)$/m);
    const other = await cli('verify', '--tsa-ca', tsa.file('other-ca.pem'), '--json');
    assert.equal(other.status, 0, other.stdout);
    assert.deepEqual(JSON.parse(other.stdout) as unknown, { ok: true, size: 2, problems: [], timestamps: { stored: 1, valid: 0, otherCa: 1 } });

    // The configured TSA, then a token from another TSA asked for once: the first still states the time.
    assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    assert.equal((await cli('timestamp', '--tsa', tsa.url('other'), '--tsa-ca', tsa.file('other-ca.pem'), '--force')).status, 0);
    const both = await cli('verify');
    assert.equal(both.status, 0, both.stdout);
    assert.match(both.stdout, /^tokens {3}1 of 2 time-stamp tokens verified against the TSA CA \(1 under a CA not configured: they state no time here\); entry 1 existed no later than \S+, according to TSA O=Studio, CN=tsa$/m);

    // A "renewal" of the other CA's token that is no token at all: a finding, not hidden among the other CA's.
    const l = Ledger.open({ dir, explicit: true });
    const foreignRow = l.timestamps().find((r) => r.tsa === tsa.url('other'))!;
    const junk = Buffer.from('not a time-stamp token');
    l.addTimestamps([{ ...foreignRow, tokenHash: createHash('sha256').update(junk).digest(), renews: foreignRow.tokenHash, token: junk }]);
    l.close();
    const forged = await cli('verify', '--json');
    assert.equal(forged.status, 1, forged.stdout);
    const found = (JSON.parse(forged.stdout) as { problems: { kind: string; detail: string }[] }).problems;
    assert.deepEqual(found.map((f) => f.kind), ['timestamp-invalid']);
    assert.match(found[0]!.detail, /^the renewal [0-9a-f]{16}… stored for size 2 does not verify: time-stamp token: /);
  });

  it('verify names a token altered in the database, and a row rewritten to another size', async () => {
    const { dir, cli } = await ledger();
    assert.equal((await cli('timestamp', '--tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    const row = () => {
      const db = new Database(join(dir, 'ledger.db'), { readonly: true });
      const r = db.prepare('SELECT token_hash AS h, token AS t FROM timestamps').get() as { h: Buffer; t: Buffer };
      db.close();
      return r;
    };
    const original = row();
    const problems = async () => {
      const r = await cli('verify', '--tsa-ca', tsa.caFile, '--json');
      assert.equal(r.status, 1);
      return (JSON.parse(r.stdout) as { problems: { kind: string; size?: number; detail: string }[] }).problems.filter((p) => p.kind !== 'triggers-missing');
    };
    const short = original.h.toString('hex').slice(0, 16);

    // One byte of the token flipped (the last: inside the signature), its key left alone.
    const flipped = Buffer.from(original.t);
    flipped[flipped.length - 1]! ^= 0x01;
    tamper(dir, 'UPDATE timestamps SET token = ?', flipped);
    assert.deepEqual(await problems(), [{ kind: 'timestamp-invalid', size: 2, detail: `the token ${short}… stored for size 2 does not hash to its key (token_hash): it was altered in the database` }]);
    // The key rewritten to match: the token itself is refused.
    const newHash = createHash('sha256').update(flipped).digest();
    tamper(dir, 'UPDATE timestamps SET token_hash = ?', newHash);
    assert.deepEqual(await problems(), [{ kind: 'timestamp-invalid', size: 2, detail: `the token ${newHash.toString('hex').slice(0, 16)}… stored for size 2 does not verify: time-stamp token: the CMS signature over the signed attributes does not verify` }]);
    // Put back, then the row moved to another size.
    tamper(dir, 'UPDATE timestamps SET token = ?, token_hash = ?', original.t, original.h);
    tamper(dir, 'UPDATE timestamps SET size = 1');
    assert.deepEqual(await problems(), [{ kind: 'timestamp-invalid', size: 1, detail: `the token ${short}… stored for size 1 names a checkpoint of size 2 with another size or root: the row was rewritten` }]);
    const text = await cli('verify', '--tsa-ca', tsa.caFile);
    assert.match(text.stdout, /^verdict {2}TAMPERED: 2 problems found$/m);
    assert.match(text.stdout, /^ {2}- timestamp-invalid: /m);
    // Put back, then the certificate expiry the schedule reads unverified pushed a year on (renewals would stop).
    tamper(dir, 'UPDATE timestamps SET size = 2');
    assert.deepEqual(await problems(), []);
    tamper(dir, "UPDATE timestamps SET signer_not_after = '2099-01-01T00:00:00.000Z'");
    const [p] = await problems();
    assert.equal(p?.kind, 'timestamp-invalid');
    assert.match(p.detail, /^the token [0-9a-f]{16}… stored for size 2 does not verify: its stored genTime or certificate expiry \(\S+, 2099-01-01T00:00:00\.000Z\) is not the token's: the row was rewritten$/);
  });

  it("renews a token whose certificate expires within renewBefore; the chain verifies past the first certificate's end", async () => {
    const { dir, cli } = await ledger(3);
    assert.equal((await cli('timestamp', '--set-tsa', tsa.url('short'), '--tsa-ca', tsa.caFile, '--renew-before', '2d')).status, 0);
    assert.equal((await cli('timestamp')).status, 0);
    // The short certificate lapses in a day: without a renewal the timestamp is no longer provable then.
    const l = Ledger.open({ dir, explicit: true });
    const later = new Date(Date.now() + 36 * 3600_000);
    const lapsed = checkStoredTimestamps(l, tsa.ca(), later);
    assert.deepEqual(lapsed.problems.map((p) => p.kind), ['timestamp-unrenewed']);
    assert.match(lapsed.problems[0]!.detail, /^the timestamp of size 3 \(first token [0-9a-f]{16}…\) is no longer provable: the TSA certificate of its newest token expired at \S+ and no renewal covers it$/);

    assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    const renew = await cli('timestamp', '--renew');
    assert.equal(renew.status, 0, renew.stderr);
    assert.match(renew.stdout, /^renewed size 3: entry 2 existed no later than (\S+), according to TSA O=Studio, CN=tsa \(kept provable by a renewal at \S+, according to TSA O=Studio, CN=tsa\)\n$/);
    const rows = l.timestamps(3);
    assert.equal(rows.length, 2);
    const own = rows.find((r) => r.renews === null)!;
    const renewal = rows.find((r) => r.renews !== null)!;
    assert.deepEqual(renewal.renews, own.tokenHash);
    assert.deepEqual(createHash('sha256').update(own.token).digest(), renewal.renews);
    // A day and a half on, the first certificate has expired; the renewal keeps the chain provable.
    const chain = checkStoredTimestamps(l, tsa.ca(), later);
    assert.deepEqual(chain.problems, []);
    assert.match(chain.newest!, /^entry 2 existed no later than \S+, according to TSA O=Studio, CN=tsa \(kept provable by a renewal at \S+, according to TSA O=Studio, CN=tsa\)$/);
    // Renewed once: the good certificate is not due, nothing is asked again.
    const served = tsa.served();
    assert.equal((await cli('timestamp', '--renew')).stdout, "nothing to renew: no token's certificate expires soon\n");
    assert.equal(tsa.served(), served);
    // The renewal altered: the chain breaks there, and the first token lapses.
    l.close();
    tamper(dir, 'UPDATE timestamps SET renews = ? WHERE renews IS NOT NULL', Buffer.alloc(32, 7));
    const l2 = Ledger.open({ dir, explicit: true });
    const found = checkStoredTimestamps(l2, tsa.ca(), later).problems.map((p) => `${p.kind}: ${p.detail.replace(/[0-9a-f]{16}…/, 'H')}`);
    assert.equal(found.length, 2, found.join('\n'));
    assert.equal(found[0], 'timestamp-invalid: the renewal H stored for size 3 renews a token that is not stored or does not verify');
    // With the link broken, the first token is its chain's newest again, and its certificate has expired by then.
    assert.match(found[1]!, /^timestamp-unrenewed: the timestamp of size 3 \(first token H\) is no longer provable: the TSA certificate of its newest token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z and no renewal covers it$/);
    l2.close();
  });

  it('a ledger with a TSA and nothing to push to: push is its schedule, and each audited run starts it in the background', async () => {
    // Guards: a TSA configured on a standalone host that never stamps anything unless someone runs a command.
    const { dir, cli } = await ledger();
    assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    const p = await cli('push');
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^timestamp: entry 1 existed no later than \S+, according to TSA O=Studio, CN=tsa\n$/);
    const again = await cli('push');
    assert.equal(again.stdout, 'timestamp: nothing due (no team server or witness to push to)\n');

    // A real audited run (the real binary, real FFmpeg): its background push stamps the new head once `every` allows.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as object), tsa: { url: tsa.url('good'), ca: tsa.caFile, every: '1s' } }));
    await new Promise((r) => setTimeout(r, 1_100));
    const out = join(tmp.dir, 'tsa-only.mp4');
    const run = await runCliAsync(['--ledger', dir, 'ffmpeg', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=64x64:rate=5', '-y', out], cleanEnv());
    assert.equal(run.status, 0, run.stderr);
    const size = () => {
      const l = Ledger.open({ dir, explicit: true });
      try {
        return Math.max(0, ...l.timestamps().map((t) => t.size));
      } finally {
        l.close();
      }
    };
    const end = Date.now() + 20_000;
    while (size() < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    assert.equal(size(), 4, readFileSync(join(dir, 'push.log'), 'utf8'));
  });

  it('the push schedule: a TSA that is down costs one line and never the push; the next push stamps', async () => {
    const server = await startTlogServer();
    try {
      const { dir, cli } = await ledger();
      const l = Ledger.open({ dir, explicit: true });
      server.enrol(l.origin, l.vkey);
      l.close();
      joinServer(dir, server.keys);
      assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
      tsa.down = true;
      const down = await cli('push', '--background');
      tsa.down = false;
      assert.equal(down.status, 0, down.stderr);
      const lines = down.stderr.trimEnd().split('\n');
      assert.match(lines.at(-2)!, /Z pushed size 2: witness cosigned 2, mirror 2$/);
      assert.equal(lines.at(-1)!.replace(/^\S+ /, ''), `timestamp: asking ${tsa.url('good')} for a token over the latest checkpoint failed (the TSA at ${new URL(tsa.url()).origin} answered HTTP 503); tried again with the next push`);
      assert.equal(Ledger.open({ dir, explicit: true }).timestamps().length, 0);

      const up = await cli('push');
      assert.equal(up.status, 0, up.stderr);
      assert.match(up.stdout, /^timestamp: entry 1 existed no later than \S+, according to TSA O=Studio, CN=tsa$/m);
      // Within `every` (1h) of the newest token, the next push asks nothing even with a new head.
      assert.equal((await cli('note', 'one more')).status, 0);
      const served = tsa.served();
      const quiet = await cli('push');
      assert.equal(quiet.status, 0);
      assert.doesNotMatch(quiet.stdout, /timestamp/);
      assert.equal(tsa.served(), served);
    } finally {
      await server.close();
    }
  });

  it('an archive stamps its head first and publishes timestamp/<size>, which openssl ts -verify accepts; verify --from checks it', async () => {
    const { cli } = await ledger(3);
    assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile)).status, 0);
    const archive = join(tmp.dir, `archive${counter++}`);
    const a = await cli('archive', '--to', archive);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /^timestamp {2}entry 2 existed no later than \S+, according to TSA O=Studio, CN=tsa$/m);
    const token = join(archive, 'timestamp', '3');
    assert.ok(existsSync(token));
    writeFileSync(join(tmp.dir, 'body3.txt'), parseNote(readFileSync(join(archive, 'checkpoints', '3'), 'utf8')).text);
    assert.match(tsa.ssl('ts', '-verify', '-data', join(tmp.dir, 'body3.txt'), '-in', token, '-token_in', '-CAfile', tsa.caFile, '-untrusted', tsa.file('tsa.pem')), /^Verification: OK$/m);

    const unchecked = await cli('verify', '--from', archive);
    assert.equal(unchecked.status, 0, unchecked.stdout);
    assert.match(unchecked.stdout, /^tokens {3}1 time-stamp token published, NOT CHECKED: give the TSA's CA with --tsa-ca FILE$/m);
    const checked = await cli('verify', '--from', archive, '--tsa-ca', tsa.caFile);
    assert.equal(checked.status, 0, checked.stdout);
    assert.match(checked.stdout, /^tokens {3}1 of 1 time-stamp token verified against the TSA CA; entry 2 existed no later than \S+, according to TSA O=Studio, CN=tsa$/m);
    // Checked against another CA: a sound token it does not anchor states no time, and is no finding.
    const foreign = await cli('verify', '--from', archive, '--tsa-ca', tsa.file('other-ca.pem'));
    assert.equal(foreign.status, 0, foreign.stdout);
    assert.match(foreign.stdout, /^tokens {3}0 of 1 time-stamp token verified against the TSA CA \(1 under a CA not given: they state no time here\)$/m);

    // A second run with nothing new writes nothing; a forced token over the same size is not published again.
    assert.equal((await cli('timestamp', '--force')).status, 0);
    const again = JSON.parse((await cli('archive', '--to', archive, '--json')).stdout) as { written: { timestamps: number } };
    assert.equal(again.written.timestamps, 0);

    // The published token altered (the attacker makes the file writable first).
    spawnSync('chattr', ['-i', token], { stdio: 'ignore' });
    chmodSync(token, 0o644);
    const bytes = readFileSync(token);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(token, bytes);
    chmodSync(token, 0o444);
    const bad = await cli('verify', '--from', archive, '--tsa-ca', tsa.caFile, '--json');
    assert.equal(bad.status, 1);
    assert.deepEqual((JSON.parse(bad.stdout) as { problems: unknown[] }).problems, [
      { kind: 'timestamp-invalid', size: 3, detail: 'timestamp/3 does not verify: time-stamp token: the CMS signature over the signed attributes does not verify' },
    ]);
  });
});

