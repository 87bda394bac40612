/**
 * Bundles across logs (`ffaudit-bundle/v2`, docs/provenance.md "Bundles across logs"): two real ledgers with a
 * lineage crossing them (src/testing/cross-log.ts), assembled by bundleLineagesAcross over their EvidenceSources,
 * then verified, checked independently of ffaudit's Merkle and note code, and tampered with as an attacker would.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatBundle, keyFingerprint, parseBundle, verifyBundle, type BundleVerdict, type VerifierKey } from '../core/bundle.js';
import { formatCosignerVkey, makeCosigner } from '../core/cosignature.js';
import { isFfauditError } from '../core/errors.js';
import { formatVerifierKey, parseVerifierKey } from '../core/note.js';
import { parseTlogPolicy } from '../core/tlog-policy.js';
import { ledgerEvidence } from '../ledger/bundle.js';
import { Ledger } from '../ledger/ledger.js';
import { listRuns } from '../ledger/runs.js';
import { cosign } from '../testing/cosigners.js';
import { appendRun, HOST1, HOST2, makeCrossLog, type CrossLog } from '../testing/cross-log.js';
import { independentlyOpenCheckpoint, naiveLeaf, naivePath, naiveRoot, tempDir } from '../testing/fixtures.js';
import { bundleLineages, bundleLineagesAcross } from './bundle.js';
import type { Lineage } from './walk.js';

const now = () => '2026-12-06T10:00:00.000000000Z';

interface Doc {
  format: string;
  created: string;
  logs: { origin: string; vkey: string; checkpoint: string }[];
  subjects: { path: string; sha256: string }[];
  sources: string[];
  entries: { log: string; index: number; data: string; proof: string }[];
  blobs: { sha256: string; data: string }[];
}

let x: CrossLog;
let lineage: Lineage;
let text: string;
let keys: { host1: VerifierKey; host2: VerifierKey };

before(async () => {
  x = makeCrossLog('bundle-across');
  lineage = await x.trace(x.sha.c, '/delivery/c.mp4');
  text = formatBundle(await bundleLineagesAcross(x.sourceFor, [lineage], { now }));
  keys = { host1: parseVerifierKey(x.host1.vkey), host2: parseVerifierKey(x.host2.vkey) };
});
after(() => x.close());

const both = () => ({ pubkeys: [keys.host1, keys.host2] });
const doc = (): Doc => JSON.parse(text) as Doc;
const verifyDoc = (d: Doc, opts: Parameters<typeof verifyBundle>[1] = both()): BundleVerdict => verifyBundle(Buffer.from(JSON.stringify(d)), { ...opts, fileSha256: x.sha.c });

describe('a lineage across two logs', () => {
  it('is traced across both logs (the fixture the rest rests on)', () => {
    assert.deepEqual(lineage.runs.map((r) => [r.id, r.log ?? null]), [['r1', HOST1], ['r2', HOST1], ['r3', null]]);
    assert.deepEqual(lineage.notes.map((n) => [n.index, n.log ?? null]), [[4, HOST1], [2, null]]);
    assert.deepEqual(lineage.readBy.map((r) => r.id), ['r4']);
  });

  it('is bundled as ffaudit-bundle/v2: each log once with its checkpoint and key, each entry verbatim with its log', () => {
    const d = doc();
    assert.equal(d.format, 'ffaudit-bundle/v2');
    assert.deepEqual(Object.keys(d), ['format', 'created', 'logs', 'subjects', 'sources', 'entries', 'blobs']);
    assert.equal(d.created, now());
    assert.deepEqual(d.logs, [
      { origin: HOST1, vkey: x.host1.vkey, checkpoint: x.host1.checkpoint() },
      { origin: HOST2, vkey: x.host2.vkey, checkpoint: x.host2.checkpoint() },
    ]);
    assert.deepEqual(d.entries.map((e) => [e.log, e.index]), [[HOST1, 0], [HOST1, 1], [HOST1, 2], [HOST1, 3], [HOST1, 4], [HOST2, 0], [HOST2, 1], [HOST2, 2]]);
    for (const e of d.entries) {
      const l = e.log === HOST1 ? x.host1 : x.host2;
      assert.ok(Buffer.from(e.data, 'base64').equals(l.entry(e.index)), `${e.log} ${e.index} verbatim`);
      assert.ok(e.proof.startsWith(`c2sp.org/tlog-proof@v1\nindex ${e.index}\n`));
      assert.ok(e.proof.endsWith(`\n\n${l.checkpoint()}`), 'proven against its own log\'s checkpoint');
    }
    assert.deepEqual(d.subjects, [{ path: '/delivery/c.mp4', sha256: x.sha.c }]);
    assert.deepEqual(d.sources, []);
    assert.deepEqual(d.blobs, []);
    // Round trip: parsed and written again, byte for byte.
    assert.equal(formatBundle(parseBundle(Buffer.from(text))), text);
  });

  it('verifies with each log\'s key: per-log details, the runs with their logs, the cross-log step joined by content', () => {
    const v = verifyBundle(Buffer.from(text), { ...both(), fileSha256: x.sha.c });
    assert.deepEqual(v.failures, []);
    assert.equal(v.ok, true);
    assert.equal(v.keyVerified, true);
    assert.equal(v.origin, null);
    assert.equal(v.checkpointSize, null);
    assert.deepEqual(v.logs, [
      { origin: HOST1, keyName: HOST1, keyId: keys.host1.keyId.toString('hex'), keyFingerprint: keyFingerprint(keys.host1.publicKey), checkpointSize: 5, entries: 5 },
      { origin: HOST2, keyName: HOST2, keyId: keys.host2.keyId.toString('hex'), keyFingerprint: keyFingerprint(keys.host2.publicKey), checkpointSize: 5, entries: 3 },
    ]);
    assert.equal(v.entries, 8);
    assert.deepEqual(v.runs.map((r) => [r.id, r.log, r.entries]), [['r1', HOST1, [0, 1]], ['r2', HOST1, [2, 3]], ['r3', HOST2, [0, 1]]]);
    assert.deepEqual(v.notes.map((n) => [n.index, n.log, n.text]), [[4, HOST1, 'sent b.mp4 to host 2'], [2, HOST2, 'delivered c.mp4']]);
    // r2 → r1 is signed in host 1's log; r3 read b.mp4, which host 1's r2 produced: a content link across logs, and
    // r3's own "none" (nothing in host 2's log produced it) does not make b.mp4 a source.
    assert.deepEqual(v.lineage, { signedLinks: 1, contentLinks: 1, signedSources: [], unsignedSources: [] });
    assert.deepEqual(v.file, { sha256: x.sha.c, subject: true, producedBy: ['r3'] });
  });

  it('a lineage in one log is bundled as ffaudit-bundle/v1, exactly as bundleLineages bundles it', async () => {
    const a = await x.trace(x.sha.a, '/work/a.mp4', HOST1);
    assert.deepEqual([...a.runs, ...a.readBy].map((r) => [r.id, r.log ?? null]), [['r1', null], ['r2', null]]);
    const across = formatBundle(await bundleLineagesAcross(x.sourceFor, [a], { now }));
    assert.equal(across, formatBundle(await bundleLineages(ledgerEvidence(x.host1), [a], { now })));
    assert.equal((JSON.parse(across) as { format: string }).format, 'ffaudit-bundle/v1');
    assert.equal(verifyBundle(Buffer.from(across), { pubkey: keys.host1, fileSha256: x.sha.a }).ok, true);
  });

  it('each entry\'s proof verifies by the C2SP tlog-proof rules, checked without ffaudit\'s Merkle or note code', () => {
    for (const e of doc().entries) {
      const l = e.log === HOST1 ? x.host1 : x.host2;
      // c2sp.org/tlog-proof@v1: header, "index N", the hashes (sibling first), a blank line, the checkpoint.
      const split = e.proof.indexOf('\n\n');
      const head = e.proof.slice(0, split).split('\n');
      assert.equal(head[0], 'c2sp.org/tlog-proof@v1');
      assert.equal(head[1], `index ${e.index}`);
      const cp = independentlyOpenCheckpoint(e.proof.slice(split + 2), l.vkey);
      assert.equal(cp.origin, e.log);
      const leaves = Array.from({ length: cp.size }, (_, i) => naiveLeaf(l.entry(i)));
      assert.ok(naiveRoot(leaves).equals(cp.root), `${e.log}: the checkpoint's root is the root of the log's entries`);
      assert.ok(naiveLeaf(Buffer.from(e.data, 'base64')).equals(leaves[e.index]!));
      assert.deepEqual(head.slice(2), naivePath(leaves, e.index).map((h) => h.toString('base64')), `${e.log} ${e.index}: the audit path of RFC 6962 §2.1.1`);
    }
  });

  it('refuses a source that answers for another log', async () => {
    await assert.rejects(
      bundleLineagesAcross((o) => (o === HOST2 ? x.sourceFor(HOST1) : x.sourceFor(o)), [lineage], { now }),
      (e: unknown) => isFfauditError(e) && e.code === 'INTEGRITY' && e.message === `the evidence for the log "${HOST2}" came from the log "${HOST1}"`,
    );
  });
});

describe('tampering with a bundle across logs', () => {
  const q = JSON.stringify;
  const failuresOf = (edit: (d: Doc) => void, opts?: Parameters<typeof verifyBundle>[1]) => {
    const d = doc();
    edit(d);
    const v = verifyDoc(d, opts);
    assert.equal(v.ok, false);
    return v.failures;
  };

  it('a byte of an entry of log 2 flipped: that entry of that log, by index', () => {
    const f = failuresOf((d) => {
      const e = d.entries.find((y) => y.log === HOST2 && y.index === 1)!;
      const bytes = Buffer.from(e.data, 'base64');
      bytes[bytes.indexOf('"status":"ok"') + 10] = 'K'.charCodeAt(0);
      e.data = bytes.toString('base64');
    });
    assert.equal(f[0], `entry 1 of log ${q(HOST2)}: not included in the signed log (its bytes or its inclusion proof were altered)`);
    assert.ok(f.includes(`run r3 of log ${q(HOST2)} (entry 0 of log ${q(HOST2)}) has no end in the bundle`), f.join('\n'));
  });

  it("two logs' checkpoints swapped: each log's checkpoint is another log's, and no proof is against its log's", () => {
    const f = failuresOf((d) => {
      [d.logs[0]!.checkpoint, d.logs[1]!.checkpoint] = [d.logs[1]!.checkpoint, d.logs[0]!.checkpoint];
    });
    assert.deepEqual(f.slice(0, 2), [
      `log ${q(HOST1)}: checkpoint: checkpoint origin ${q(HOST2)} is not this log's (${q(HOST1)})`,
      `log ${q(HOST2)}: checkpoint: checkpoint origin ${q(HOST1)} is not this log's (${q(HOST2)})`,
    ]);
    assert.equal(f[2], `entry 0 of log ${q(HOST1)}: its tlog-proof is against a different checkpoint than its log's`);
    // The proofs swapped along with them: still the wrong log's signature.
    const g = failuresOf((d) => {
      const [a, b] = [d.logs[0]!.checkpoint, d.logs[1]!.checkpoint];
      [d.logs[0]!.checkpoint, d.logs[1]!.checkpoint] = [b, a];
      for (const e of d.entries) e.proof = e.log === HOST1 ? e.proof.replace(a, b) : e.proof.replace(b, a);
    });
    assert.equal(g[0], `log ${q(HOST1)}: checkpoint: checkpoint origin ${q(HOST2)} is not this log's (${q(HOST1)})`);
  });

  it('an entry moved to the other log: its proof is against the other checkpoint, and against its new log it is not included', () => {
    const moved = failuresOf((d) => {
      d.entries.find((e) => e.log === HOST1 && e.index === 4)!.log = HOST2;
    });
    assert.equal(moved[0], `entry 4 of log ${q(HOST2)}: its tlog-proof is against a different checkpoint than its log's`);
    const reproven = failuresOf((d) => {
      const e = d.entries.find((y) => y.log === HOST1 && y.index === 4)!;
      e.log = HOST2;
      e.proof = e.proof.replace(d.logs[0]!.checkpoint, d.logs[1]!.checkpoint);
    });
    assert.equal(reproven[0], `entry 4 of log ${q(HOST2)}: not included in the signed log (its bytes or its inclusion proof were altered)`);
  });

  it('a key given for one log only: the other log is named, in one line', () => {
    for (const [given, missing] of [[keys.host1, HOST2], [keys.host2, HOST1]] as const) {
      const v = verifyBundle(Buffer.from(text), { pubkeys: [given] });
      assert.equal(v.ok, false);
      assert.deepEqual(v.failures, [`log ${q(missing)}: no key was given for this log (give its verifier key with --pubkey, or a policy with its log line): its checkpoint cannot be checked`]);
    }
    // Another log's key under this log's name: the checkpoint is not signed by it.
    const impostor = parseVerifierKey(formatVerifierKey(HOST2, keys.host1.publicKey));
    const v = verifyBundle(Buffer.from(text), { pubkeys: [keys.host1, impostor] });
    assert.deepEqual(v.failures.slice(0, 2), [
      `log ${q(HOST2)}: the bundle's verifier key for it is not the key you gave (--pubkey or --policy): it was signed by someone else`,
      `log ${q(HOST2)}: checkpoint: checkpoint is not signed by a known key`,
    ]);
  });

  it('with no key given (--insecure-any-key), each log is checked against its own key in the bundle', () => {
    const v = verifyBundle(Buffer.from(text), {});
    assert.equal(v.ok, true, v.failures.join('\n'));
    assert.equal(v.keyVerified, false);
    assert.deepEqual(v.logs!.map((l) => l.keyName), [HOST1, HOST2]);
  });

  it('a policy whose witness quorum is met for log 1 but not for log 2', async () => {
    const witness = makeCosigner('audit.example/witness', Buffer.alloc(32, 3));
    const cp = x.host1.checkpoint();
    const line = cosign(witness, cp, 1_800_000_000);
    // The server's cosignature on host 1's checkpoint, as a source that mirrors cosigned checkpoints gives it.
    const cosigned = async (o: string) => {
      const src = await x.sourceFor(o);
      return o === HOST1 ? { ...src, cosignedCheckpoints: () => Promise.resolve([`${cp}${line}`]) } : src;
    };
    const b = formatBundle(await bundleLineagesAcross(cosigned, [lineage], { now }));
    assert.equal((JSON.parse(b) as Doc).logs[0]!.checkpoint, `${cp}${line}`);
    const policy = parseTlogPolicy(Buffer.from(`log ${x.host1.vkey}\nlog ${x.host2.vkey}\nwitness W ${formatCosignerVkey(witness.name, witness.publicKey)}\nquorum W\n`));
    const v = verifyBundle(Buffer.from(b), { pubkeys: policy.logs, policy });
    assert.deepEqual(v.failures, [`log ${q(HOST2)}: the checkpoint is not cosigned by the quorum the policy requires ("W"): no witness of the policy cosigned it; missing: "W"`]);
    assert.deepEqual(v.logs!.map((l) => l.quorum), [{ quorum: 'W', witnesses: ['W'], met: true }, { quorum: 'W', witnesses: [], met: false }]);
    assert.equal(v.quorum, undefined);
  });

  it('the parser refuses a log named twice, an entry of a log not named, an entry held twice, a log without entries', () => {
    const parseFails = (edit: (d: Doc) => void) => {
      const d = doc();
      edit(d);
      try {
        parseBundle(Buffer.from(JSON.stringify(d)));
      } catch (e) {
        assert.ok(isFfauditError(e) && e.code === 'BAD_INPUT');
        return e.message;
      }
      assert.fail('accepted');
    };
    assert.equal(parseFails((d) => d.logs.push({ ...d.logs[0]! })), `bundle names the log ${q(HOST1)} twice`);
    assert.equal(parseFails((d) => (d.entries[6]!.log = 'elsewhere.example/log')), 'bundle entry 6 names the log "elsewhere.example/log", which is not one of its logs');
    assert.equal(parseFails((d) => d.entries.push({ ...d.entries[5]! })), `bundle holds entry 0 of the log ${q(HOST2)} twice`);
    assert.equal(parseFails((d) => (d.entries = d.entries.filter((e) => e.log === HOST1))), `bundle holds no entry of the log ${q(HOST2)}`);
    assert.equal(parseFails((d) => (d.logs = [])), 'bundle names no log');
    assert.equal(parseFails((d) => Object.assign(d, { origin: HOST1 })), 'bundle document has an unknown field "origin"');
    assert.equal(parseFails((d) => Object.assign(d.logs[1]!, { extra: 1 })), 'bundle log 1 has an unknown field "extra"');
    assert.equal(parseFails((d) => delete (d.entries[0] as Partial<Doc['entries'][number]>).log), 'bundle entry 0 lacks the field log');
    // The same verdict through verifyBundle: a failure, never an exception.
    const d = doc();
    d.logs.push({ ...d.logs[0]! });
    assert.deepEqual(verifyDoc(d).failures, [`bundle names the log ${q(HOST1)} twice`]);
  });

  it('a producer in another log that ended after the reader started is no producer: the step fails', async () => {
    // The walk never puts such a run in a lineage (lineage/walk.ts producedBefore); a keeper who adds one by hand
    // to cover a step must not get a valid bundle. Host 0 reads b.mp4 before host 1 ever produced it.
    const H0 = 'host0.example/early';
    const early = tempDir('bundle-across-early');
    const host0 = Ledger.init(join(early.dir, 'host0'), { origin: H0 });
    appendRun(host0, 'early', [{ path: '/work/b.mp4', size: 100, sha256: x.sha.b }], [{ path: '/work/e.mp4', size: 1, sha256: 'e'.repeat(64) }]);
    const y = makeCrossLog('bundle-across-late'); // recorded after host 0's run
    try {
      const b = await y.trace(y.sha.b, '/work/b.mp4', HOST1);
      const forged: Lineage = {
        log: H0,
        file: { path: '/work/e.mp4', sha256: 'e'.repeat(64) },
        known: true,
        runs: [...b.runs.map((r) => ({ ...r, log: HOST1 })), ...listRuns(host0)],
        sources: [],
        indexChecked: true,
        notes: [],
        readBy: [],
      };
      const sourceFor = (o: string) => (o === H0 ? Promise.resolve(ledgerEvidence(host0)) : y.sourceFor(o));
      const v = verifyBundle(Buffer.from(formatBundle(await bundleLineagesAcross(sourceFor, [forged], { now }))), {});
      assert.deepEqual(v.failures, [`run early of log "${H0}" read /work/b.mp4 (sha256 ${x.sha.b}), which no earlier run in the bundle produced and the bundle does not name as a source`]);
    } finally {
      y.close();
      host0.close();
      early.cleanup();
    }
  });
});
