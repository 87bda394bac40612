/**
 * `ffaudit verify-bundle` on a bundle across two logs (ffaudit-bundle/v2): one key per log (--pubkey repeated, or
 * a policy with two log lines), the per-log lines of the human output, `logs` in --json, a missing key named in
 * one line, and --insecure-any-key.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatBundle, keyFingerprint } from '../core/bundle.js';
import { parseVerifierKey } from '../core/note.js';
import { bundleLineagesAcross } from '../lineage/bundle.js';
import { runCliInProcess } from '../testing/cli.js';
import { HOST1, HOST2, makeCrossLog, type CrossLog } from '../testing/cross-log.js';

let x: CrossLog;
let bundle: string;

before(async () => {
  x = makeCrossLog('verify-bundle-v2');
  const l = await x.trace(x.sha.c, '/delivery/c.mp4');
  bundle = join(x.dir, 'across.json');
  writeFileSync(bundle, formatBundle(await bundleLineagesAcross(x.sourceFor, [l], { now: () => '2026-12-06T10:00:00.000000000Z' })));
});
after(() => x.close());

const id = (vkey: string) => parseVerifierKey(vkey).keyId.toString('hex');
const fp = (vkey: string) => keyFingerprint(parseVerifierKey(vkey).publicKey);

describe('verify-bundle on a bundle across logs', () => {
  it('with a key for each log: VALID, one block per log, exit 0', async () => {
    const r = await runCliInProcess(['verify-bundle', bundle, '--pubkey', x.vkeyFile.host1, '--pubkey', x.vkeyFile.host2]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      [
        `bundle      ${bundle}`,
        `log         ${HOST1}: 5 entries, checkpoint at tree size 5`,
        `  key       ${HOST1} (key ID ${id(x.host1.vkey)}), fingerprint SHA-256 ${fp(x.host1.vkey)} (the key you gave)`,
        `log         ${HOST2}: 3 entries, checkpoint at tree size 5`,
        `  key       ${HOST2} (key ID ${id(x.host2.vkey)}), fingerprint SHA-256 ${fp(x.host2.vkey)} (the key you gave)`,
        "checked     8 entries (hash and inclusion proof each, against their own log's checkpoint), 2 checkpoint signatures, 0 blobs, 3 runs chained by content",
        'steps       1 input linked to its producer by signed entries, 1 by content only (recorded without a producer link, or produced in another log)',
        "sources     0 recorded as such in signed entries; 0 named only by the bundle's own list (an unsigned label: no entry says that no run produced them)",
        `vouches for /delivery/c.mp4  sha256 ${x.sha.c}`,
        'verdict     VALID',
        'proves      every entry is exactly as its log signed it, and no step that a signed entry links to is missing;',
        "            a step from one log to another rests on the two hosts' recorded times (their clocks), not on a signature;",
        '            not that the logs hold nothing else about these files (that needs each whole log: ffaudit verify);',
        "            unsigned: the bundle's date, its subject paths and its sources list",
        '',
      ].join('\n'),
    );
  });

  it('--json adds `logs`, and each run and note names its log', async () => {
    const r = await runCliInProcess(['verify-bundle', bundle, '--pubkey', x.vkeyFile.host1, '--pubkey', x.vkeyFile.host2, '--json']);
    assert.equal(r.status, 0);
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { runs: { id: string; log: string }[]; notes: { index: number; log: string }[] };
    assert.deepEqual(Object.keys(j), ['ok', 'key_verified', 'failures', 'origin', 'checkpoint_size', 'key_id', 'key_fingerprint', 'logs', 'subjects', 'file', 'runs', 'notes', 'lineage']);
    assert.deepEqual(j.logs, [
      { origin: HOST1, checkpoint_size: 5, key_id: id(x.host1.vkey), key_fingerprint: fp(x.host1.vkey), entries: 5 },
      { origin: HOST2, checkpoint_size: 5, key_id: id(x.host2.vkey), key_fingerprint: fp(x.host2.vkey), entries: 3 },
    ]);
    assert.equal(j.origin, null);
    assert.deepEqual(j.runs.map((run) => [run.id, run.log]), [['r1', HOST1], ['r2', HOST1], ['r3', HOST2]]);
    assert.deepEqual(j.notes.map((n) => [n.index, n.log]), [[4, HOST1], [2, HOST2]]);
    assert.deepEqual(j.lineage, { signed_links: 1, content_links: 1, signed_sources: [], unsigned_sources: [] });
  });

  it("a key for one log only: INVALID, exit 1, one line naming the other log's origin", async () => {
    const r = await runCliInProcess(['verify-bundle', bundle, '--pubkey', x.vkeyFile.host1]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `ffaudit: the bundle is INVALID: log "${HOST2}": no key was given for this log (give its verifier key with --pubkey, or a policy with its log line): its checkpoint cannot be checked\n`);
    assert.match(r.stdout, new RegExp(`^log {9}${HOST2.replace(/\./g, '\\.')}: 3 entries, checkpoint at tree size 5\n {2}key {7}none given for this log: NOT verified$`, 'm'));
  });

  it('a policy naming both logs is enough; --insecure-any-key checks each log against its own key and says so', async () => {
    const policy = join(x.dir, 'both.policy');
    writeFileSync(policy, `log ${x.host1.vkey}\nlog ${x.host2.vkey}\nquorum none\n`);
    const p = await runCliInProcess(['verify-bundle', bundle, '--policy', policy]);
    assert.equal(p.status, 0, p.stdout);
    const i = await runCliInProcess(['verify-bundle', bundle, '--insecure-any-key']);
    assert.equal(i.status, 0, i.stdout);
    assert.match(i.stdout, /verdict {5}VALID \(but the key was NOT verified: see the warning\)/);
    assert.equal((i.stdout.match(/\(the bundle's own key: NOT verified\)/g) ?? []).length, 2);
    assert.match(i.stderr, /^ffaudit: WARNING: THE LOG KEY WAS NOT VERIFIED: --insecure-any-key was given\n$/);
  });
});
