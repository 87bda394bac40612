/**
 * Bundles carry the cosignatures the ledger keeps for their checkpoint, and `verify-bundle --policy` enforces the
 * policy's witness quorum (c2sp.org/tlog-policy) with them: met, not met, a forged cosignature, a witness the policy
 * does not know ignored. The ledger is a copy of testdata/fixture-ledger (a real one, with a recorded lineage).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatBundle, type Bundle } from '../core/bundle.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { formatCosignerVkey, makeCosigner } from '../core/cosignature.js';
import type { EntryBase } from '../core/entry.js';
import { runCliInProcess } from '../testing/cli.js';
import { cosign, joinServer, serverKeys, type TestServerKeys } from '../testing/cosigners.js';
import { tempDir } from '../testing/fixtures.js';
import { bundleEntries, bundleLineages } from './bundle.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import { traceContent } from './trace.js';

const FIXTURE = fileURLToPath(new URL('../../testdata/fixture-ledger/ledger', import.meta.url));
const FINAL = 'b1449d70fafd20ba18f5315264f8f076085bd41024543981f14c9a6089629dcf';
const tmp = tempDir('bundle-cosigned');
after(tmp.cleanup);
const now = () => '2026-12-05T12:00:00.000000000Z';

let keys: TestServerKeys;
let ledgerDir = '';
let vkey = '';
let plain = ''; // a bundle made before any cosignature was kept
let cosigned = ''; // the same, with the witness's and the mirror's cosignatures
let counter = 0;

const write = (name: string, text: string) => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
};
const witnessLine = (name: string, k: { name: string; publicKey: Buffer }) => `witness ${name} ${formatCosignerVkey(k.name, k.publicKey)}`;

async function bundleOf(dir: string): Promise<string> {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return formatBundle(await bundleLineages(l, [await traceContent(l, '/evidence/final', FINAL)], { now }));
  } finally {
    l.close();
  }
}

before(async () => {
  keys = serverKeys();
  ledgerDir = join(tmp.dir, 'ledger');
  cpSync(FIXTURE, ledgerDir, { recursive: true });
  plain = await bundleOf(ledgerDir);
  joinServer(ledgerDir, keys);
  const l = Ledger.open({ dir: ledgerDir, explicit: true });
  vkey = l.vkey;
  const cp = l.checkpoint();
  l.addCosignatures(l.size(), parseSignedCheckpoint(cp).root.toString('hex'), [cosign(keys.witness, cp, 1_800_000_000), cosign(keys.mirror, cp, 1_800_000_001)], keys.url);
  l.close();
  cosigned = await bundleOf(ledgerDir);
});

async function verifyWith(bundle: string, policy: string) {
  const r = await runCliInProcess(['verify-bundle', write(`b${counter++}.json`, bundle), '--policy', write(`p${counter++}.policy`, policy), '--json']);
  return { status: r.status, out: JSON.parse(r.stdout) as { ok: boolean; failures: string[]; quorum?: { quorum: string; witnesses: string[]; met: boolean } }, stdout: r.stdout, stderr: r.stderr };
}

describe('bundles carry the cosignatures the ledger keeps for their checkpoint', () => {
  it('adds the witness and mirror lines to the checkpoint, in the bundle and in every tlog-proof; nothing else changes', () => {
    // Guards: cosignatures lost on the way to the bundle, put where a tlog-proof verifier does not look, or a
    // bundle that changes in any other way.
    const a = JSON.parse(plain) as Bundle;
    const b = JSON.parse(cosigned) as Bundle;
    assert.equal(b.checkpoint, `${a.checkpoint}${cosign(keys.witness, a.checkpoint, 1_800_000_000)}${cosign(keys.mirror, a.checkpoint, 1_800_000_001)}`.replace(/(— audit\.example\/witness \S+\n)(— audit\.example\/mirror \S+\n)$/, '$2$1'));
    for (let i = 0; i < a.entries.length; i++) assert.equal(b.entries[i]!.proof, a.entries[i]!.proof.replace(a.checkpoint, b.checkpoint));
    assert.deepEqual({ ...b, checkpoint: '', entries: [] }, { ...a, checkpoint: '', entries: [] });
  });

  it('proves against the latest cosigned checkpoint that covers the entries, else the latest one', async () => {
    // Guards: a bundle made after a few more runs losing the cosignatures a policy needs, or one proven against a
    // cosigned checkpoint too small for its entries.
    const l = Ledger.init(join(tmp.dir, `notes${counter++}`), { origin: 'example.org/notes' });
    joinServer(l.dir, keys);
    const note = (text: string): EntryBase => ({ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files: [] });
    for (let i = 0; i < 3; i++) l.append([note(`n${i}`)]);
    const cp3 = l.checkpoint();
    l.addCosignatures(3, parseSignedCheckpoint(cp3).root.toString('hex'), [cosign(keys.witness, cp3)], keys.url);
    l.append([note('n3')]);
    l.append([note('n4')]);
    const early = await bundleEntries(l, [1], [{ path: 'x', sha256: '0'.repeat(64) }], [], { now });
    assert.equal(parseSignedCheckpoint(early.checkpoint).size, 3);
    assert.ok(early.checkpoint.startsWith(cp3) && early.checkpoint.includes('— audit.example/witness '));
    const late = await bundleEntries(l, [1, 4], [{ path: 'x', sha256: '0'.repeat(64) }], [], { now });
    assert.equal(late.checkpoint, l.checkpoint());
    l.close();
  });
});

describe('verify-bundle --policy: the witness quorum', () => {
  it('met: the witness alone, the witness and the mirror two of two; and the verdict says who', async () => {
    const log = `log ${vkey}`;
    const one = await verifyWith(cosigned, `${log}\n${witnessLine('W', keys.witness)}\nquorum W\n`);
    assert.equal(one.status, 0, one.stdout);
    assert.deepEqual(one.out.quorum, { quorum: 'W', witnesses: ['W'], met: true });
    const two = await verifyWith(cosigned, `${log}\n${witnessLine('W', keys.witness)}\n${witnessLine('M', keys.mirror)}\ngroup both 2 W M\nquorum both\n`);
    assert.equal(two.status, 0, two.stdout);
    assert.deepEqual(two.out.quorum, { quorum: 'both', witnesses: ['W', 'M'], met: true });
    const human = await runCliInProcess(['verify-bundle', write('h.json', cosigned), '--policy', write('h.policy', `${log}\n${witnessLine('W', keys.witness)}\nquorum W\n`)]);
    assert.equal(human.status, 0);
    assert.match(human.stdout, /^witnesses {3}W cosigned the checkpoint: the policy's quorum W is met$/m);
    assert.match(human.stdout, /verdict {5}VALID/);
  });

  it('not met: a bundle without cosignatures, or cosigned by fewer witnesses than the quorum needs (exit 1)', async () => {
    const other = makeCosigner('elsewhere.example/witness', Buffer.alloc(32, 5));
    const policy = `log ${vkey}\n${witnessLine('W', keys.witness)}\n${witnessLine('X', other)}\ngroup both all W X\nquorum both\n`;
    const none = await verifyWith(plain, `log ${vkey}\n${witnessLine('W', keys.witness)}\nquorum W\n`);
    assert.equal(none.status, 1);
    assert.deepEqual(none.out.failures, ['the checkpoint is not cosigned by the quorum the policy requires ("W"): no witness of the policy cosigned it; missing: "W"']);
    const partial = await verifyWith(cosigned, policy);
    assert.equal(partial.status, 1);
    assert.deepEqual(partial.out.quorum, { quorum: 'both', witnesses: ['W'], met: false });
    assert.deepEqual(partial.out.failures, ['the checkpoint is not cosigned by the quorum the policy requires ("both"): only "W" did; missing: "X"']);
    const human = await runCliInProcess(['verify-bundle', write('n.json', cosigned), '--policy', write('n.policy', policy)]);
    assert.match(human.stdout, /the policy's quorum both is NOT met/);
    assert.match(human.stderr, /^ffaudit: the bundle is INVALID: the checkpoint is not cosigned by the quorum/);
  });

  it('a forged cosignature fails the bundle, even where the quorum would be met without it', async () => {
    // Guards: a verifier that only counts what verifies and so passes a bundle whose witness line was altered
    // (signed-note: a failing signature of a known key SHOULD reject the note).
    const b = JSON.parse(cosigned) as Bundle;
    const line = /— audit\.example\/mirror (\S+)\n/.exec(b.checkpoint)!;
    const sig = Buffer.from(line[1]!, 'base64');
    sig[sig.length - 1]! ^= 1;
    const forgedCp = b.checkpoint.replace(line[1]!, sig.toString('base64'));
    const forged = JSON.stringify({ ...b, checkpoint: forgedCp, entries: b.entries.map((e) => ({ ...e, proof: e.proof.replace(b.checkpoint, forgedCp) })) });
    const r = await verifyWith(forged, `log ${vkey}\n${witnessLine('W', keys.witness)}\n${witnessLine('M', keys.mirror)}\ngroup any1 any W M\nquorum any1\n`);
    assert.equal(r.status, 1);
    assert.deepEqual(r.out.failures, ['the cosignature of witness "M" on the checkpoint does not verify: it was forged or altered']);
    assert.deepEqual(r.out.quorum, { quorum: 'any1', witnesses: ['W'], met: true });
  });

  it("ignores cosignatures of keys the policy does not list, and a policy witness that did not cosign stays uncounted", async () => {
    // The mirror's line is in the bundle but not in this policy; X is in the policy but cosigned nothing.
    const x = makeCosigner('x.example/witness', Buffer.alloc(32, 6));
    const r = await verifyWith(cosigned, `log ${vkey}\n${witnessLine('W', keys.witness)}\n${witnessLine('X', x)}\ngroup g any X W\nquorum g\n`);
    assert.equal(r.status, 0, r.stdout);
    assert.deepEqual(r.out.quorum, { quorum: 'g', witnesses: ['W'], met: true });
    // A policy witness whose name matches a line's but whose key differs: not that line's key, ignored.
    const impostor = makeCosigner(keys.witness.name, Buffer.alloc(32, 7));
    const i = await verifyWith(cosigned, `log ${vkey}\n${witnessLine('W', impostor)}\nquorum W\n`);
    assert.equal(i.status, 1);
    assert.deepEqual(i.out.quorum, { quorum: 'W', witnesses: [], met: false });
  });

  it('quorum none and --pubkey verify a cosigned bundle as before', async () => {
    assert.equal((await verifyWith(cosigned, `log ${vkey}\nquorum none\n`)).status, 0);
    const r = await runCliInProcess(['verify-bundle', write('k.json', cosigned), '--pubkey', write('k.vkey', `${vkey}\n`)]);
    assert.equal(r.status, 0, r.stdout);
    assert.equal(readFileSync(join(tmp.dir, 'k.json'), 'utf8'), cosigned);
  });
});
