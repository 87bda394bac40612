// The Run page, its receipts (checked with the real `ffaudit verify-proof`), FFmpeg's report for auditors only, and
// what each of them records in the access log; in process against real PostgreSQL and api-fixture's hosts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUNS, SHA } from '../../../testing/api-fixture.js';
import { runCli } from '../../../testing/cli.js';
import { testPostgres } from '../../../testing/pg-server.js';
import { RecordingAccessLog, type WebClient, type WebWorld, webWorld } from '../../../testing/web-fixture.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;
let w: WebWorld;
let tmp: string;
const access = new RecordingAccessLog();
const recorded = access.events;

before(async () => {
  if (skip) return;
  w = await webWorld((pgc as { url: string }).url, { access });
  tmp = mkdtempSync(join(tmpdir(), 'ffaudit-run-page-'));
});
after(async () => {
  await w?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const r3 = RUNS.r3.id;

describe('run page', { skip }, () => {
  let viewer: WebClient;
  let auditor: WebClient;
  before(async () => {
    if (skip) return;
    viewer = await w.as('viewer');
    auditor = await w.as('auditor');
  });

  it('shows who, where, when, the command, the files with links to their hashes, and is recorded as view.run', async () => {
    recorded.length = 0;
    const r = await viewer.get(`/runs/${r3}`);
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.deepEqual(recorded, [{ action: 'view.run', runs: [r3], user: w.users.viewer, via: 'web', client: undefined }]);
    assert.ok(html.includes('<code>ffmpeg -i /in/b.mp4 /out/c.mp4</code>'));
    assert.ok(html.includes(`<a href="/file/${SHA.B}" class="hash">${SHA.B}</a>`));
    assert.ok(html.includes(`<a href="/file/${SHA.C}" class="hash">${SHA.C}</a>`));
    assert.ok(html.includes('<td class="num">4.1 KiB (4,242 bytes)</td>'));
    assert.match(html, /<dt>User<\/dt><dd><bdi>ingest<\/bdi><span class="muted"> \(uid 1000\)<\/span><\/dd>/);
    assert.match(html, /<dt>Duration<\/dt><dd>1 min 0 s<\/dd>/);
    assert.match(html, /<time datetime="2026-12-01T10:20:00.000Z" title="2026-12-01T10:20:00.000000000Z">2026-12-01 10:20:00 UTC<\/time>/);
    // Entries 0–1 are r3's; the log then holds the note (2) and r4 (3, 4): the pushed checkpoint is of size 5.
    assert.match(
      html,
      /Entries 0–1 of log <span class="mono">ingest-2\.test\/ffaudit<\/span> are included in the checkpoint of size 5 \(root <span class="mono">[A-Za-z0-9+/=]{44}<\/span>\), signed by the host&#39;s key <span class="mono">ingest-2\.test\/ffaudit<\/span> and cosigned by the witness <span class="mono">audit\.test\/witness<\/span> at <time[^>]*>[^<]+<\/time> and the mirror <span class="mono">audit\.test\/mirror<\/span> at <time/,
    );
    assert.doesNotMatch(html, /\/report\?/, 'a viewer gets no report link');
    assert.doesNotMatch(html, /Access history/, 'nor the access history');
  });

  it('finds a run by a unique prefix, and by an entry index with its log; an unknown one is 404', async () => {
    assert.equal((await viewer.get(`/runs/${r3.slice(0, 8)}`)).status, 200);
    const byIndex = await viewer.get('/runs/4?log=ingest-2.test%2Fffaudit');
    assert.equal(byIndex.status, 200);
    assert.match(await byIndex.text(), new RegExp(`Run <span class="mono">${RUNS.r4.id.slice(0, 12)}</span>`));
    assert.equal((await viewer.get('/runs/abcdef123456')).status, 404);
    assert.equal((await viewer.get('/runs/4')).status, 404, 'an index needs its log');
  });

  it('the receipt of the end and of the start verify with the real ffaudit verify-proof, and are recorded', async () => {
    recorded.length = 0;
    const pub = join(tmp, 'host.pub');
    writeFileSync(pub, `${w.hosts.ingest.ledger.vkey}\n`);
    for (const which of ['end', 'start'] as const) {
      const receipt = await viewer.get(`/runs/${r3}/receipt?log=ingest-2.test%2Fffaudit&entry=${which}`);
      assert.equal(receipt.status, 200);
      assert.equal(receipt.headers.get('content-disposition'), `attachment; filename="run-${r3.slice(0, 12)}-${which}.tlog-proof"`);
      const text = await receipt.text();
      assert.match(text, new RegExp(`^c2sp.org/tlog-proof@v1\nindex ${which === 'end' ? 1 : 0}\n`));
      const entry = await viewer.get(`/runs/${r3}/entry?entry=${which}`);
      assert.equal(entry.status, 200);
      const bytes = Buffer.from(await entry.arrayBuffer());
      assert.ok(bytes.equals(w.hosts.ingest.ledger.entry(which === 'end' ? 1 : 0)), 'the entry as the host holds it');
      writeFileSync(join(tmp, 'r.tlog-proof'), text);
      writeFileSync(join(tmp, 'r.entry'), bytes);
      const v = runCli(['verify-proof', join(tmp, 'r.tlog-proof'), '--entry', join(tmp, 'r.entry'), '--pubkey', pub]);
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, new RegExp(`^VALID: the entry is entry ${which === 'end' ? 1 : 0} of the log ingest-2.test/ffaudit, included in its checkpoint at tree size 5`));
      // The other entry's bytes do not pass with this receipt.
      writeFileSync(join(tmp, 'r.entry'), w.hosts.ingest.ledger.entry(which === 'end' ? 0 : 1));
      assert.equal(runCli(['verify-proof', join(tmp, 'r.tlog-proof'), '--entry', join(tmp, 'r.entry'), '--pubkey', pub]).status, 1);
    }
    assert.deepEqual(
      recorded.map((e) => [e.action, e.runs]),
      [
        ['download.receipt', [r3]],
        ['download.receipt', [r3]],
        ['download.receipt', [r3]],
        ['download.receipt', [r3]],
      ],
    );
    assert.equal((await viewer.get(`/runs/${r3}/receipt?entry=middle`)).status, 400);
  });

  it('FFmpeg\'s report is for auditors: a viewer gets 403, an auditor without a recorded report 404, and the page links it only for them', async () => {
    assert.equal((await viewer.get(`/runs/${r3}/report`)).status, 403);
    recorded.length = 0;
    const r = await auditor.get(`/runs/${r3}/report`);
    assert.equal(r.status, 404);
    assert.match(await r.text(), /no report was recorded for this run/);
    assert.deepEqual(recorded, [], 'nothing was viewed');
    const page = await (await auditor.get(`/runs/${r3}`)).text();
    assert.match(page, /No report was recorded for this run\./);
    assert.match(page, /<h2 id="access-history-title">Access history<\/h2>/);
  });
});
