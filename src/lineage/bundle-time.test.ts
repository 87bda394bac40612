/**
 * Trusted time in a bundle across logs (`ffaudit-bundle/v2`): each log's tokens in a section naming that log, checked
 * against that log's key only, so that one host's tokens never date another host's entries.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { formatBundle, verifyBundle } from '../core/bundle.js';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { parseVerifierKey } from '../core/note.js';
import { HOST1, HOST2, makeCrossLog, type CrossLog } from '../testing/cross-log.js';
import { tempDir } from '../testing/fixtures.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import { requestTimestamp } from '../timestamp/client.js';
import { verifyTimestampToken } from '../timestamp/verify.js';
import { bundleLineagesAcross } from './bundle.js';

const now = () => '2026-12-06T10:00:00.000000000Z';
const tmp = tempDir('bundle-time-v2');
let tsa: TestTsa;
let x: CrossLog;
before(async () => {
  if (tsaSkip) return;
  tsa = await startTestTsa(tmp.dir);
  x = makeCrossLog('bundle-time-v2');
});
after(async () => {
  x?.close();
  await tsa?.close();
  tmp.cleanup();
});

describe('trusted time across logs', { skip: tsaSkip }, () => {
  it("carries host2's tokens in a section naming host2, states them for host2's entries only, and refuses them moved to host1", async () => {
    const note = x.host2.checkpoint();
    const cp = parseSignedCheckpoint(note);
    const t = await requestTimestamp(tsa.url(), cp.parsed.text, tsa.ca());
    x.host2.addTimestamps([{ tokenHash: createHash('sha256').update(t.tokenDer).digest(), size: cp.size, root: cp.root, checkpoint: note, renews: null, tsa: tsa.url(), genTime: t.genTime.toISOString(), signerNotAfter: t.signerNotAfter.toISOString(), token: t.tokenDer }]);
    const lineage = await x.trace(x.sha.c, '/delivery/c.mp4');
    const text = formatBundle(await bundleLineagesAcross(x.sourceFor, [lineage], { now }));
    const doc = JSON.parse(text) as { entries: { log: string; index: number }[]; timestamps: { log: string; checkpoint: string }[] };
    assert.deepEqual(doc.timestamps.map((s) => [s.log, s.checkpoint]), [[HOST2, note]]);
    const opts = {
      pubkeys: [parseVerifierKey(x.host1.vkey), parseVerifierKey(x.host2.vkey)],
      timestamps: { verify: (der: Buffer, imprint: Buffer) => verifyTimestampToken(der, { imprint, caCerts: tsa.ca() }), anchored: true },
    };
    const v = verifyBundle(Buffer.from(text), opts);
    assert.deepEqual(v.failures, []);
    const host2 = doc.entries.filter((e) => e.log === HOST2).map((e) => e.index);
    assert.deepEqual(
      v.time.map((s) => [s.log, s.covers, s.sentences]),
      [[HOST2, host2, [`entry ${cp.size - 1} existed no later than ${t.genTime.toISOString()}, according to TSA O=Studio, CN=tsa`]]],
    );
    assert.deepEqual(v.untimed, [{ log: HOST1, entries: doc.entries.filter((e) => e.log === HOST1).map((e) => e.index) }]);
    // Another log's tokens: the checkpoint is not the log's, so nothing is stated for host1.
    const moved = Buffer.from(text.replace(`"log": "${HOST2}",\n   "checkpoint"`, `"log": "${HOST1}",\n   "checkpoint"`));
    assert.notEqual(moved.toString(), text);
    const m = verifyBundle(moved, opts);
    assert.deepEqual(m.failures, [`log "${HOST1}": the time-stamped checkpoint: checkpoint origin "${HOST2}" is not this log's ("${HOST1}")`]);
    assert.deepEqual(m.time, []);
  });
});
