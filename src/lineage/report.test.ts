/**
 * The chain-of-custody report of a lineage across logs (crossLogFileReport), over two real ledgers
 * (src/testing/cross-log.ts): its verification is the bundle's, verified with each log's key, plus each log's last
 * whole-log check; it is VERIFIED only when every log passes, and the HTML shows each log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyFingerprint } from '../core/bundle.js';
import { parseVerifierKey } from '../core/note.js';
import { renderFileReport } from '../render/report-html.js';
import { HOST1, HOST2, makeCrossLog, type CrossLog } from '../testing/cross-log.js';
import type { LogCheck } from './report.js';
import { crossLogFileReport } from './report.js';

const now = () => '2026-12-06T10:00:00.000000000Z';
let x: CrossLog;
before(() => {
  x = makeCrossLog('report-across');
});
after(() => x.close());

const intact = (): Promise<LogCheck> => Promise.resolve({ ok: true, size: 5, problems: [] });

describe('a chain-of-custody report across logs', () => {
  it('verifies each log with its own key and shows every log; VERIFIED when every log check passed', async () => {
    const asked: string[] = [];
    const m = await crossLogFileReport(x.sourceFor, await x.trace(x.sha.c, '/delivery/c.mp4'), {
      now,
      size: 1234,
      logChecks: (o) => {
        asked.push(o);
        return intact();
      },
    });
    assert.deepEqual(asked, [HOST1, HOST2]);
    const v = m.verification;
    assert.deepEqual(v.failures, []);
    assert.equal(v.ok, true);
    assert.deepEqual(v.ledger, { ok: true, size: 10, problems: [] });
    assert.equal(v.origin, HOST2, "the lineage's own log");
    assert.equal(v.entries, 8);
    assert.deepEqual(
      v.logs!.map((l) => [l.origin, l.entries, l.checkpointSize, l.keyFingerprint, l.vkey, l.check.ok]),
      [
        [HOST1, 5, 5, keyFingerprint(parseVerifierKey(x.host1.vkey).publicKey), x.host1.vkey, true],
        [HOST2, 3, 5, keyFingerprint(parseVerifierKey(x.host2.vkey).publicKey), x.host2.vkey, true],
      ],
    );
    assert.deepEqual(m.file, { path: '/delivery/c.mp4', sha256: x.sha.c, size: 1234 });
    assert.deepEqual(m.runs.map((r) => [r.id, r.log ?? null]), [['r1', HOST1], ['r2', HOST1], ['r3', null]]);
    const html = renderFileReport(m);
    assert.ok(html.includes(`from the ffaudit logs <span class="mono">${HOST1}</span>, <span class="mono">${HOST2}</span>, as the team server mirrors them.`));
    assert.ok(html.includes("<p class=\"ok\">The record below verifies against the signed logs of 2 hosts, and the team server's last check of each whole log found it intact (details at the end).</p>"));
    assert.ok(html.includes("<div class=\"verdict ok\">VERIFIED: all 8 log entries this report rests on are exactly as recorded and are included in the 2 logs below, each signed by its own key, and the team server's last check of each whole log found it intact.</div>"));
    assert.ok(html.includes(`<h3>Log <span class="mono">${HOST1}</span></h3>`) && html.includes(`<h3>Log <span class="mono">${HOST2}</span></h3>`));
    assert.equal((html.match(/<tr><th>Server's check<\/th><td><span class="ok">intact<\/span> \(5 entries re-verified against the cosigned checkpoint\)<\/td><\/tr>/g) ?? []).length, 2);
    assert.ok(html.includes(`<tr><th>Log entries</th><td>0, 1 in the log <span class="mono">${HOST1}</span></td></tr>`));
    assert.ok(html.includes('<tr><th>Log entries</th><td>0, 1</td></tr>'), "a run of the report's own log names no log");
    assert.ok(html.includes(`log <span class="mono">${HOST1}</span>, entry 4`), 'a note of another log says which');
    assert.ok(html.includes('ffaudit verify-bundle evidence.ffaudit-bundle.json --file c.mp4 --pubkey log1.vkey --pubkey log2.vkey'));
    assert.ok(!html.includes('LEDGER TAMPERED') && !html.includes('FAILED'));
  });

  it('is not VERIFIED when the server\'s check of one log failed, and names that log and its findings', async () => {
    const m = await crossLogFileReport(x.sourceFor, await x.trace(x.sha.c, '/delivery/c.mp4'), {
      now,
      size: null,
      logChecks: (o) => Promise.resolve(o === HOST1 ? { ok: false, size: 5, problems: ['entry 2 no longer hashes into the cosigned checkpoint'] } : { ok: true, size: 5, problems: [] }),
    });
    assert.equal(m.verification.ok, true, 'the bundle itself verifies');
    assert.deepEqual(m.verification.ledger, { ok: false, size: 10, problems: [{ kind: 'mirror-check', detail: `${HOST1}: entry 2 no longer hashes into the cosigned checkpoint` }] });
    const html = renderFileReport(m);
    assert.ok(!html.includes('VERIFIED:'));
    assert.ok(html.includes(`<p class="bad">The team server's last check FAILED for <span class="mono">${HOST1}</span> (details at the end).`));
    assert.ok(html.includes(`<div class="verdict bad">LOG CHECK FAILED: the team server's last re-verification of <span class="mono">${HOST1}</span> found problems (below)`));
    assert.ok(html.includes('<span class="bad">FAILED</span> (5 entries): <ul><li>entry 2 no longer hashes into the cosigned checkpoint</li></ul>'));
    assert.ok(html.includes('not known to the team server (it holds hashes, not files)'));
  });

  it('a lineage in one log: one log shown, the bundle is v1, the server\'s check still decides', async () => {
    const m = await crossLogFileReport(x.sourceFor, await x.trace(x.sha.a, '/work/a.mp4', HOST1), { now, size: 7, logChecks: intact });
    assert.deepEqual(m.verification.logs!.map((l) => [l.origin, l.entries, l.checkpointSize]), [[HOST1, 2, 5]]);
    assert.equal(m.verification.ok, true);
    const html = renderFileReport(m);
    assert.ok(html.includes(`from the ffaudit log <span class="mono">${HOST1}</span>, as the team server mirrors it.`));
    assert.ok(html.includes('VERIFIED: all 2 log entries this report rests on are exactly as recorded and are included in the log below, each signed by its own key, and the team server\'s last check of that whole log found it intact.'));
  });
});
