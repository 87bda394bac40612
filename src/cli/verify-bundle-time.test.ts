/**
 * Trusted time in evidence bundles, end to end against a real TSA (OpenSSL's, src/testing/tsa-server.ts) and real
 * ledgers: `bundle` carries the tokens over the smallest time-stamped checkpoint that covers the entries,
 * `verify-bundle --tsa-ca` states the time in the documented sentence, OpenSSL accepts the token from the bundle, every
 * alteration an attacker could make (a flipped token byte, a token over another checkpoint, a broken proof) gives its
 * exact finding, and a token of another CA or a lapsed chain states no time. Renewals chain; the custody report has its "Trusted time".
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, MessageImprint, TimeStampReq } from 'pkijs';
import { verifyBundle } from '../core/bundle.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { parseVerifierKey } from '../core/note.js';
import { Ledger, type Timestamp } from '../ledger/ledger.js';
import { runCliInProcess } from '../testing/cli.js';
import { tempDir } from '../testing/fixtures.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import { requestTimestamp } from '../timestamp/client.js';
import { SHA256_OID } from '../timestamp/request.js';
import { verifyTimestampToken } from '../timestamp/verify.js';
import { timestampCheck } from './trusted-time.js';

const tmp = tempDir('bundle-time');
let tsa: TestTsa;
before(async () => {
  if (!tsaSkip) tsa = await startTestTsa(join(tmp.dir));
});
after(async () => {
  await tsa?.close();
  tmp.cleanup();
});

const f = (name: string) => join(tmp.dir, name);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const TSA = 'O=Studio, CN=tsa';

interface Section {
  log?: string;
  checkpoint: string;
  consistency: string[];
  tokens: { token: string; renews: string | null }[];
}
interface Doc {
  checkpoint: string;
  entries: { index: number }[];
  timestamps?: Section[];
}

/** A ledger of custody notes (the quickest entries that make a lineage), with its CLI. */
function ledgerAt(name: string) {
  const dir = f(name);
  const cli = (...args: string[]) => runCliInProcess(['--ledger', dir, ...args], { cwd: tmp.dir });
  return { dir, cli };
}

/** Stores a verified token over the ledger's latest checkpoint from the TSA signer `path`. */
async function stamp(dir: string, path = 'good'): Promise<Timestamp> {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const note = l.checkpoint();
    const cp = parseSignedCheckpoint(note);
    const t = await requestTimestamp(tsa.url(path), cp.parsed.text, tsa.ca());
    const row: Timestamp = { tokenHash: sha256(t.tokenDer), size: cp.size, root: cp.root, checkpoint: note, renews: null, tsa: tsa.url(path), genTime: t.genTime.toISOString(), signerNotAfter: t.signerNotAfter.toISOString(), token: t.tokenDer };
    l.addTimestamps([row]);
    return row;
  } finally {
    l.close();
  }
}

/** An RFC 4998-style renewal: a token whose imprint is SHA-256 of the earlier token's DER, stored beside it. */
async function renew(dir: string, earlier: Timestamp, path = 'good'): Promise<Timestamp> {
  const imprint = sha256(earlier.token);
  const nonce = 0x1234_5678n;
  const req = new TimeStampReq({
    version: 1,
    messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithmId: SHA256_OID }), hashedMessage: new asn1js.OctetString({ valueHex: imprint }) }),
    nonce: asn1js.Integer.fromBigInt(nonce),
    certReq: true,
  });
  const res = await fetch(tsa.url(path), { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: Buffer.from(req.toSchema().toBER()) });
  const t = verifyTimestampToken(Buffer.from(await res.arrayBuffer()), { imprint, nonce, caCerts: tsa.ca() });
  const row: Timestamp = { ...earlier, tokenHash: sha256(t.tokenDer), renews: earlier.tokenHash, tsa: tsa.url(path), genTime: t.genTime.toISOString(), signerNotAfter: t.signerNotAfter.toISOString(), token: t.tokenDer };
  const l = Ledger.open({ dir, explicit: true });
  try {
    l.addTimestamps([row]);
  } finally {
    l.close();
  }
  return row;
}

describe('trusted time in bundles, verify-bundle and the report', { skip: tsaSkip }, () => {
  const { dir, cli } = ledgerAt('ledger');
  let vkey: string;
  let first: Timestamp; // over the checkpoint of size 3
  let later: Timestamp; // over the checkpoint of size 5
  let doc: Doc; // a.bin's bundle: entries 0 and 2, checkpoint of size 5
  let beyond: string; // b.bin's bundle, made before any checkpoint covered entry 4
  const verify = (path: string, ...args: string[]) => cli('verify-bundle', path, '--pubkey', vkey, ...args);
  const edited = (name: string, edit: (d: Doc & { timestamps: Section[] }) => void) => {
    const d = JSON.parse(JSON.stringify(doc)) as Doc & { timestamps: Section[] };
    edit(d);
    writeFileSync(f(name), JSON.stringify(d));
    return f(name);
  };

  before(async () => {
    writeFileSync(f('a.bin'), 'the rushes\n');
    writeFileSync(f('b.bin'), 'the grade\n');
    assert.equal((await cli('init', '--origin', 'example.org/time')).status, 0);
    vkey = f('log.vkey');
    writeFileSync(vkey, (await cli('pubkey')).stdout);
    assert.equal((await cli('note', 'received', '--file', 'a.bin')).status, 0); // 0
    assert.equal((await cli('note', 'lunch')).status, 0); // 1
    assert.equal((await cli('note', 'checked again', '--file', 'a.bin')).status, 0); // 2
    first = await stamp(dir);
    assert.equal((await cli('note', 'tea')).status, 0); // 3
    assert.equal((await cli('note', 'graded', '--file', 'b.bin')).status, 0); // 4
    const b = await cli('bundle', 'b.bin', '-o', 'beyond.json');
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /against the checkpoint at tree size 5\n$/);
    beyond = f('beyond.json');
    later = await stamp(dir);
    const r = await cli('bundle', 'a.bin', '-o', 'a.json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /against the checkpoint at tree size 5, with 1 time-stamp token over the checkpoint at tree size 3\n$/);
    doc = JSON.parse(readFileSync(f('a.json'), 'utf8')) as Doc;
  });

  it('carries the token over the smallest time-stamped checkpoint that covers its entries, and states the time', async () => {
    assert.deepEqual(doc.entries.map((e) => e.index), [0, 2]);
    assert.equal(doc.timestamps?.length, 1);
    const s = doc.timestamps[0]!;
    assert.deepEqual(Object.keys(s), ['checkpoint', 'consistency', 'tokens']);
    assert.equal(s.checkpoint, first.checkpoint);
    assert.deepEqual(s.tokens, [{ token: first.token.toString('base64'), renews: null }]);
    const r = await verify(f('a.json'), '--tsa-ca', tsa.caFile);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(`\ntime        entry 2 existed no later than ${first.genTime}, according to TSA ${TSA}; so did the bundle's entries 0 and 2\n`), r.stdout);
    assert.match(r.stdout, /the certificate against the CA you gave\)\nverdict {5}VALID\n/);
    const j = JSON.parse((await verify(f('a.json'), '--tsa-ca', tsa.caFile, '--json')).stdout) as { ok: boolean; timestamps: unknown[]; untimed: unknown[] };
    assert.equal(j.ok, true);
    assert.deepEqual(j.untimed, []);
    const serial = String(verifyTimestampToken(first.token, { imprint: sha256(Buffer.from(parseSignedCheckpoint(first.checkpoint).parsed.text)), caCerts: tsa.ca() }).serial);
    assert.deepEqual(j.timestamps, [
      {
        log: 'example.org/time',
        checkpoint_size: 3,
        last_entry: 2,
        covers: [0, 2],
        checked: true,
        anchored: true,
        sentences: [`entry 2 existed no later than ${first.genTime}, according to TSA ${TSA}`],
        tokens: [{ sha256: first.tokenHash.toString('hex'), gen_time: first.genTime, tsa: TSA, serial, signer_not_after: readCertNotAfter(), renewals: [] }],
      },
    ]);
  });

  it('OpenSSL accepts the token taken from the bundle, over the note body taken from the bundle', () => {
    const s = doc.timestamps![0]!;
    writeFileSync(f('body.txt'), parseSignedCheckpoint(s.checkpoint).parsed.text);
    writeFileSync(f('token.der'), Buffer.from(s.tokens[0]!.token, 'base64'));
    assert.match(tsa.ssl('ts', '-verify', '-data', f('body.txt'), '-in', f('token.der'), '-token_in', '-CAfile', tsa.caFile, '-untrusted', tsa.file('tsa.pem')), /^Verification: OK$/m);
  });

  it('without --tsa-ca: the token is checked but the output says plainly that the TSA was not, and the status stays 0', async () => {
    const r = await verify(f('a.json'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`time        entry 2 existed no later than ${first.genTime}, according to TSA ${TSA}; so did the bundle's entries 0 and 2\n`));
    assert.ok(r.stdout.includes("            NOTE: the TSA's certificate was NOT checked against a CA you trust (give --tsa-ca FILE)"));
    const j = JSON.parse((await verify(f('a.json'), '--json')).stdout) as { timestamps: { anchored: boolean; checked: boolean }[] };
    assert.deepEqual([j.timestamps[0]!.checked, j.timestamps[0]!.anchored], [true, false]);
    const req = await verify(f('a.json'), '--require-timestamp');
    assert.equal(req.status, 2);
    assert.equal(req.stderr, 'ffaudit: --require-timestamp needs --tsa-ca FILE: a token is trusted only through a CA you trust\n');
  });

  it('a flipped byte of the token, a token over another checkpoint, a broken proof: each its exact finding; another CA states no time', async () => {
    const invalid = async (path: string, finding: string) => {
      const r = await verify(path, '--tsa-ca', tsa.caFile);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stderr, `ffaudit: the bundle is INVALID: ${finding}\n`);
      assert.ok(!r.stdout.includes('existed no later than'), 'no time is stated from a token that failed');
    };
    const flipped = edited('flipped.json', (d) => {
      const der = Buffer.from(d.timestamps[0]!.tokens[0]!.token, 'base64');
      der[der.length - 1]! ^= 0x01; // the last byte of the token is the last of its signature
      d.timestamps[0]!.tokens[0]!.token = der.toString('base64');
    });
    await invalid(flipped, 'time-stamp token 0 (over the checkpoint at tree size 3): the CMS signature over the signed attributes does not verify');
    const moved = edited('moved.json', (d) => {
      d.timestamps[0]!.tokens[0]!.token = later.token.toString('base64');
    });
    await invalid(moved, 'time-stamp token 0 (over the checkpoint at tree size 3): the message imprint is not that of the checkpoint');
    const proof = edited('proof.json', (d) => {
      const h = Buffer.from(d.timestamps[0]!.consistency[0]!, 'base64');
      h[0]! ^= 0x80;
      d.timestamps[0]!.consistency[0] = h.toString('base64');
    });
    await invalid(proof, "the time-stamped checkpoint (tree size 3) is not consistent with the bundle's checkpoint (tree size 5): its consistency proof does not verify");
    const other = await requestTimestamp(tsa.url('other'), parseSignedCheckpoint(first.checkpoint).parsed.text, readFileSync(tsa.file('other-ca.pem'), 'utf8'));
    const foreign = edited('other.json', (d) => {
      d.timestamps[0]!.tokens[0]!.token = other.tokenDer.toString('base64');
    });
    // A sound token under a CA you did not give: no time stated, the entries untimed, and no failure (another
    // TSA's token, or a CA since rolled over, is no sign of tampering).
    const notMine = await verify(foreign, '--tsa-ca', tsa.caFile);
    assert.equal(notMine.status, 0, notMine.stdout + notMine.stderr);
    assert.ok(!notMine.stdout.includes('existed no later than'), notMine.stdout);
    assert.ok(notMine.stdout.includes('\ntime        1 token over tree size 3 under a CA you did not give: they state no time\n'), notMine.stdout);
    assert.ok(notMine.stdout.includes("\nuntimed     no time-stamp token vouches for entries 0 and 2: only the recording hosts' clocks date them\n"), notMine.stdout);
    const required = await verify(foreign, '--tsa-ca', tsa.caFile, '--require-timestamp');
    assert.equal(required.status, 1, required.stdout);
    // The same token is good evidence to whoever trusts that other CA.
    assert.equal((await verify(foreign, '--tsa-ca', tsa.file('other-ca.pem'))).status, 0);
    // A checkpoint the log did not sign, even with a token that really is over it, vouches for nothing.
    const unsigned = edited('unsigned.json', (d) => {
      d.timestamps[0]!.checkpoint = d.timestamps[0]!.checkpoint.replace(/\n— example\.org\/time (\S+)\n$/, (_m, b64: string) => {
        const sig = Buffer.from(b64, 'base64');
        sig[sig.length - 1]! ^= 0x01; // the signature's last byte; the key ID stays
        return `\n— example.org/time ${sig.toString('base64')}\n`;
      });
    });
    await invalid(unsigned, 'the time-stamped checkpoint: checkpoint signature is invalid');
  });

  it('entries beyond every time-stamped checkpoint: no sentence for them; with --require-timestamp, invalid', async () => {
    const d = JSON.parse(readFileSync(beyond, 'utf8')) as Doc;
    assert.deepEqual(d.entries.map((e) => e.index), [4]);
    assert.equal(d.timestamps, undefined);
    const r = await verify(beyond, '--tsa-ca', tsa.caFile);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('existed no later than'));
    assert.ok(r.stdout.includes("\nuntimed     no time-stamp token vouches for entry 4: only the recording hosts' clocks date them\n"), r.stdout);
    const req = await verify(beyond, '--tsa-ca', tsa.caFile, '--require-timestamp');
    assert.equal(req.status, 1);
    assert.equal(req.stderr, 'ffaudit: the bundle is INVALID: no time-stamp token verified against the CA you gave vouches for entry 4 (--require-timestamp)\n');
    // Bundled now, the later checkpoint covers it, and the requirement is met.
    assert.equal((await cli('bundle', 'b.bin', '-o', 'b-now.json')).status, 0);
    const now = await verify(f('b-now.json'), '--tsa-ca', tsa.caFile, '--require-timestamp');
    assert.equal(now.status, 0, now.stderr);
    assert.ok(now.stdout.includes(`time        entry 4 existed no later than ${later.genTime}, according to TSA ${TSA}; so did the bundle's entry 4\n`));
    // And a bundle with tokens for only some of its entries is held to all of them.
    const both = await cli('bundle', 'a.bin', 'b.bin', '-o', 'both.json');
    assert.equal(both.status, 0, both.stderr);
    assert.match(both.stdout, /with 1 time-stamp token over the checkpoint at tree size 5\n$/);
  });

  it('the custody report: "Trusted time" with the sentence, TSA, genTime and serial when a CA is configured; says "not verified" otherwise', async () => {
    const plain = await cli('report', 'a.bin', '-o', 'plain.html');
    assert.equal(plain.status, 0, plain.stderr);
    const unverified = readFileSync(f('plain.html'), 'utf8');
    assert.ok(unverified.includes('<h2>Trusted time</h2><p class="warn">The log holds time-stamp tokens over these entries, but they were NOT verified'));
    assert.ok(!unverified.includes('existed no later than'), 'no time stated that was not verified');

    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, tsa: { url: tsa.url(), ca: tsa.caFile } }));
    const r = await cli('report', 'a.bin', '-o', 'report.html');
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(f('report.html'), 'utf8');
    const serial = String(verifyTimestampToken(first.token, { imprint: sha256(Buffer.from(parseSignedCheckpoint(first.checkpoint).parsed.text)), caCerts: tsa.ca() }).serial);
    assert.ok(html.includes(`<h2>Trusted time</h2><p class="ok"><strong>entry 2 existed no later than ${first.genTime}, according to TSA ${TSA}</strong>.</p><p>That covers this report's entries 0 and 2 (the log's checkpoint at tree size 3`), html);
    assert.ok(html.includes(`<tr><td>Token</td><td class="mono">${TSA}</td><td class="mono">${first.genTime}</td><td class="mono">${serial}</td>`));

    const none = await cli('report', 'b.bin', '-o', 'b.html', '--tsa-ca', tsa.caFile);
    assert.equal(none.status, 0, none.stderr);
    assert.ok(readFileSync(f('b.html'), 'utf8').includes(`<strong>entry 4 existed no later than ${later.genTime}, according to TSA ${TSA}</strong>`));

    // A tampered token in the ledger: the report is not VERIFIED and says why.
    const l = Ledger.open({ dir, explicit: true });
    try {
      const bad = Buffer.from(first.token);
      bad[bad.length - 1]! ^= 0x01;
      l.addTimestamps([{ ...first, token: bad, tokenHash: sha256(bad), genTime: '2099-01-01T00:00:00.000Z' }]); // listed after the good one
    } finally {
      l.close();
    }
    const t = await cli('report', 'a.bin', '-o', 'tampered.html');
    assert.equal(t.status, 1);
    assert.equal(t.stderr, "ffaudit: the report's entries fail verification (time-stamp token 1 (over the checkpoint at tree size 3): the CMS signature over the signed attributes does not verify): the report says so\n");
  });
});

describe('renewals', { skip: tsaSkip }, () => {
  it('a token from a short-lived certificate renewed by another over it: the chain verifies and is said', async () => {
    const { dir, cli } = ledgerAt('renewed');
    writeFileSync(f('r.bin'), 'the master\n');
    assert.equal((await cli('init', '--origin', 'example.org/renewed')).status, 0);
    writeFileSync(f('renewed.vkey'), (await cli('pubkey')).stdout);
    assert.equal((await cli('note', 'mastered', '--file', 'r.bin')).status, 0);
    const short = await stamp(dir, 'short');
    const renewal = await renew(dir, short);
    const again = await renew(dir, renewal);
    assert.equal((await cli('bundle', 'r.bin', '-o', 'renewed.json')).status, 0);
    const d = JSON.parse(readFileSync(f('renewed.json'), 'utf8')) as Doc;
    assert.deepEqual(d.timestamps![0]!.tokens.map((t) => t.renews), [null, short.tokenHash.toString('hex'), renewal.tokenHash.toString('hex')]);
    const r = await cli('verify-bundle', f('renewed.json'), '--pubkey', f('renewed.vkey'), '--tsa-ca', tsa.caFile, '--require-timestamp');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(
      r.stdout.includes(
        `time        entry 0 existed no later than ${short.genTime}, according to TSA ${TSA} (kept provable by a renewal at ${renewal.genTime}, according to TSA ${TSA}) (kept provable by a renewal at ${again.genTime}, according to TSA ${TSA}); so did the bundle's entry 0\n`,
      ),
      r.stdout,
    );
    // Checked after every certificate of the chain has expired: the chain lapsed, and the time is no longer stated.
    // Without the renewals, a day and a half from now (the /short certificate lasts one day): the same.
    const check = { ...(await timestampCheck(tsa.ca())), now: new Date(Date.now() + 36 * 3_600_000) };
    const opts = { pubkeys: [parseVerifierKey(readFileSync(f('renewed.vkey'), 'utf8').trim())], timestamps: check };
    const alone = JSON.parse(JSON.stringify(d)) as Doc & { timestamps: Section[] };
    alone.timestamps[0]!.tokens.splice(1);
    const lapsed = verifyBundle(Buffer.from(JSON.stringify(alone)), opts);
    assert.deepEqual([lapsed.failures, lapsed.time[0]!.sentences, lapsed.time[0]!.lapsed.map((k) => k.genTime), lapsed.untimed.map((u) => u.entries)], [[], [], [short.genTime], [[0]]]);
    const kept = verifyBundle(readFileSync(f('renewed.json')), opts);
    assert.deepEqual([kept.failures, kept.time[0]!.lapsed, kept.untimed], [[], [], []]);
    // A renewal that names a token the bundle does not hold before it breaks the chain.
    const broken = JSON.parse(JSON.stringify(d)) as Doc & { timestamps: Section[] };
    broken.timestamps[0]!.tokens.splice(1, 1);
    writeFileSync(f('broken.json'), JSON.stringify(broken));
    const b = await cli('verify-bundle', f('broken.json'), '--pubkey', f('renewed.vkey'), '--tsa-ca', tsa.caFile);
    assert.equal(b.status, 1);
    assert.equal(b.stderr, 'ffaudit: the bundle is INVALID: time-stamp token 1 renews a token that does not precede it in the bundle\n');
  });
});

/** The /good TSA certificate's notAfter, as the token check reports it. */
function readCertNotAfter(): string {
  const out = tsa.ssl('x509', '-in', tsa.file('tsa.pem'), '-noout', '-enddate');
  return new Date(out.trim().replace(/^notAfter=/, '')).toISOString();
}
