/**
 * verify-bundle --policy with an ML-DSA-44 witness (c2sp.org/tlog-policy: a witness key of any type
 * tlog-cosignature defines): the bundle carries the witness's ML-DSA-44 line beside its Ed25519 one, the policy's
 * 0x06 witness counts toward the quorum, and a flipped byte in that line fails the bundle naming the witness. The
 * ledger is a copy of testdata/fixture-ledger.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatBundle, type Bundle } from '../core/bundle.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { cosignerVkey } from '../core/cosignature.js';
import { runCliInProcess } from '../testing/cli.js';
import { cosign, joinServer, serverKeys, type TestServerKeys } from '../testing/cosigners.js';
import { tempDir } from '../testing/fixtures.js';
import { bundleLineages } from './bundle.js';
import { Ledger } from './ledger.js';
import { traceContent } from './trace.js';

const FIXTURE = fileURLToPath(new URL('../../testdata/fixture-ledger/ledger', import.meta.url));
const FINAL = 'b1449d70fafd20ba18f5315264f8f076085bd41024543981f14c9a6089629dcf';
const tmp = tempDir('bundle-ml-dsa');
after(tmp.cleanup);
const now = () => '2026-12-05T12:00:00.000000000Z';

let keys: TestServerKeys;
let vkey = '';
let bundle = '';
let counter = 0;

const write = (name: string, text: string) => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
};

before(async () => {
  keys = serverKeys('audit.example', 'https://audit.example', 'host-1', { mlDsa44: true });
  const dir = join(tmp.dir, 'ledger');
  cpSync(FIXTURE, dir, { recursive: true });
  joinServer(dir, keys);
  const l = Ledger.open({ dir, explicit: true });
  try {
    vkey = l.vkey;
    const cp = l.checkpoint();
    const lines = [cosign(keys.witness, cp, 1_800_000_000), cosign(keys.witnessMlDsa44!, cp, 1_800_000_000), cosign(keys.mirror, cp, 1_800_000_001)];
    assert.equal(l.addCosignatures(l.size(), parseSignedCheckpoint(cp).root.toString('hex'), lines, keys.url).length, 3);
    bundle = formatBundle(await bundleLineages(l, [await traceContent(l, '/evidence/final', FINAL)], { now }));
  } finally {
    l.close();
  }
});

async function verifyWith(b: string, policy: string) {
  const r = await runCliInProcess(['verify-bundle', write(`b${counter++}.json`, b), '--policy', write(`p${counter++}.policy`, policy), '--json']);
  return { status: r.status, out: JSON.parse(r.stdout) as { ok: boolean; failures: string[]; quorum?: { quorum: string; witnesses: string[]; met: boolean } }, stdout: r.stdout };
}

describe('verify-bundle --policy with an ML-DSA-44 (0x06) witness', () => {
  it('the bundle carries the ML-DSA-44 line; the 0x06 witness alone, or with the Ed25519 one, meets the quorum', async () => {
    const b = JSON.parse(bundle) as Bundle;
    assert.equal(b.checkpoint.split('\n').filter((l) => l.startsWith('\u2014 audit.example/witness ')).length, 2);
    const pq = `witness PQ ${cosignerVkey(keys.witnessMlDsa44!)}`;
    const one = await verifyWith(bundle, `log ${vkey}\n${pq}\nquorum PQ\n`);
    assert.equal(one.status, 0, one.stdout);
    assert.deepEqual(one.out.quorum, { quorum: 'PQ', witnesses: ['PQ'], met: true });
    const both = await verifyWith(bundle, `log ${vkey}\nwitness ED ${keys.config.witness}\n${pq}\ngroup both all ED PQ\nquorum both\n`);
    assert.equal(both.status, 0, both.stdout);
    assert.deepEqual(both.out.quorum, { quorum: 'both', witnesses: ['ED', 'PQ'], met: true });
  });

  it('a byte flipped in the ML-DSA-44 line fails the bundle naming the witness, though the Ed25519 one still meets the quorum', async () => {
    const b = JSON.parse(bundle) as Bundle;
    const sigs = [...b.checkpoint.matchAll(/— audit\.example\/witness (\S+)\n/g)].map((m) => m[1]!);
    const pqSig = sigs.find((s) => Buffer.from(s, 'base64').length === 4 + 8 + 2420)!;
    const raw = Buffer.from(pqSig, 'base64');
    raw[1500]! ^= 0x04;
    const forgedCp = b.checkpoint.replace(pqSig, raw.toString('base64'));
    const forged = JSON.stringify({ ...b, checkpoint: forgedCp, entries: b.entries.map((e) => ({ ...e, proof: e.proof.replace(b.checkpoint, forgedCp) })) });
    const r = await verifyWith(forged, `log ${vkey}\nwitness ED ${keys.config.witness}\nwitness PQ ${keys.config.witnessMlDsa44}\ngroup any1 any ED PQ\nquorum any1\n`);
    assert.equal(r.status, 1);
    assert.deepEqual(r.out.failures, ['the cosignature of witness "PQ" on the checkpoint does not verify: it was forged or altered']);
    assert.deepEqual(r.out.quorum, { quorum: 'any1', witnesses: ['ED'], met: true });
  });

  it('an ML-DSA-44 witness that did not cosign leaves the quorum unmet', async () => {
    const other = serverKeys('elsewhere.example', 'https://elsewhere.example', 'h', { mlDsa44: true });
    const r = await verifyWith(bundle, `log ${vkey}\nwitness X ${other.config.witnessMlDsa44}\nquorum X\n`);
    assert.equal(r.status, 1);
    assert.deepEqual(r.out.failures, ['the checkpoint is not cosigned by the quorum the policy requires ("X"): no witness of the policy cosigned it; missing: "X"']);
  });
});
