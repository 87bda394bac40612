/** The chain-of-custody report: escaping, and the real document rendered and printed by headless Chromium. */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { Ledger } from '../ledger/ledger.js';
import { makeChain, type Chain } from '../testing/chain.js';
import { runCli } from '../testing/cli.js';
import { escapeHtml, lineageSvg, renderActivityReport, type ReportVerification } from './report-html.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>.mp4';

describe('report HTML escaping', () => {
  it('escapes text and attribute metacharacters and drops control characters', () => {
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    assert.equal(escapeHtml('a\u0000b\u001bc\nd'), 'a\uFFFDb\uFFFDc\nd');
  });

  it('never lets a recorded value open an element in the SVG', () => {
    const run = {
      id: '"><script>alert(1)</script>',
      tool: 'ffmpeg' as const,
      entries: [0, 1],
      status: 'ok' as const,
      user: '<b>mallory</b>',
      uid: 1,
      host: 'h',
      asserted_actor: null,
      reason: null,
      cwd: '/',
      argv: ['ffmpeg'],
      started_at: '2026-01-01T00:00:00.000000000Z',
      ended_at: null,
      duration_ms: null,
      exit_code: 0,
      signal: null,
      inputs: [{ path: `/x/${HOSTILE}`, size: 1, sha256: 'a'.repeat(64) }],
      outputs: [{ path: '/x/</svg><svg onload=alert(1)>', size: 1, sha256: 'b'.repeat(64) }],
      streams: [],
      ffmpeg: { path: 'ffmpeg', version: null, sha256: null },
      report_sha256: null,
    };
    const svg = lineageSvg([run]);
    assert.ok(!svg.includes('<img') && !svg.includes('<b>') && !svg.includes('<svg onload'));
    assert.ok(svg.includes('&lt;img src=x onerror=alert(1)&gt;.mp4'));
  });
});

describe('ffaudit report', () => {
  let c: Chain;
  let hostilePath: string;
  const cli = (...args: string[]) => runCli(['--ledger', c.ledgerDir, ...args]);

  before(() => {
    c = makeChain('ffaudit-report-');
    hostilePath = c.path(HOSTILE);
    c.ffmpeg(['-i', 'final.mp4', '-c', 'copy', '-metadata', 'title=delivery', '-y', HOSTILE], ['--reason', '<script>alert(2)</script>']);
  });
  after(() => c.cleanup());

  it('writes a self-contained document: file, hash, diagram, timeline, steps, verification, how to re-verify', () => {
    const out = c.path('report.html');
    const r = cli('report', hostilePath, '-o', out);
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(out, 'utf8');
    assert.ok(!html.includes(HOSTILE) && !html.includes('<script'), 'recorded values are escaped');
    assert.ok(html.includes(escapeHtml(HOSTILE)));
    assert.doesNotMatch(html, /<(script|link|img|iframe|object)\b/i, 'no scripts, no external resources');
    assert.doesNotMatch(html, /(src|href)\s*=\s*"(https?:)?\/\//i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.match(html, /<svg [^>]*aria-label="lineage diagram"/);
    assert.match(html, /VERIFIED: all 11 log entries/);
    assert.match(html, /and the whole ledger \(11 entries\) verifies intact/);
    assert.match(html, /<p class="ok">The record below verifies against the signed log, and the whole ledger verifies intact/);
    for (const run of Object.values(c.runs)) assert.ok(html.includes(run.id), `step ${run.id}`);
    assert.ok(html.includes('handed to the client on a USB drive'));
    // Shell-quoted, then HTML-escaped: pasting the command cannot run anything the file name holds.
    assert.match(html, /ffaudit verify-bundle evidence\.ffaudit-bundle\.json --file &#39;&lt;img[^<]*--pubkey log\.vkey<\/code> \(or <code>--policy FILE<\/code>/);
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    try {
      assert.ok(html.includes(escapeHtml(l.checkpoint())), 'the checkpoint it rests on');
      assert.ok(html.includes(l.vkey));
    } finally {
      l.close();
    }
  });

  it('refuses the green badge when the whole ledger fails verify, though the entries it shows are untouched (exit 1)', () => {
    // An attacker rewrites the custody note (entry 8), which neither a.mp4's report nor the activity report shows.
    const dir = c.path('tampered-ledger');
    cpSync(c.ledgerDir, dir, { recursive: true });
    const db = new Database(join(dir, 'ledger.db'));
    const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    const row = db.prepare('SELECT data FROM entries WHERE idx = ?').get(c.noteIndex) as { data: Buffer };
    const forged = row.data.toString('utf8').replace('on a USB drive', 'by courier');
    assert.notEqual(forged, row.data.toString('utf8'));
    db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(Buffer.from(forged), c.noteIndex);
    for (const t of triggers) db.exec(t.sql);
    db.close();
    assert.equal(runCli(['--ledger', dir, 'verify']).status, 1);

    for (const [name, args] of [
      ['file', ['report', c.path('a.mp4')]],
      ['activity', ['report', '--since', '1h']],
    ] as const) {
      const out = c.path(`tampered-${name}.html`);
      const r = runCli(['--ledger', dir, ...args, '-o', out]);
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stderr, 'ffaudit: the ledger fails verification (1 problem; run ffaudit verify): the report says so and is not marked VERIFIED\n');
      const html = readFileSync(out, 'utf8');
      assert.doesNotMatch(html, /VERIFIED:|class="verdict ok"|<p class="ok">/, `${name}: no green verdict`);
      assert.match(html, /<p class="bad">The ledger this report comes from FAILED verification: 1 problem found/);
      assert.match(html, /<div class="verdict bad">LEDGER TAMPERED: verifying the whole ledger \(11 entries\) found 1 problem/);
      assert.match(html, new RegExp(`<li><code>entry-modified</code> \\(entry ${c.noteIndex}\\): entry ${c.noteIndex}&#39;s bytes no longer match`));
      assert.match(html, /On their own, all \d+ log entries this report rests on are exactly as recorded/);
    }
  });

  it('words a damaged database file in amber (DAMAGED), and a failing bundle and ledger both in red', () => {
    const v: ReportVerification = {
      ok: true,
      failures: [],
      ledger: { ok: false, size: 3, problems: [{ kind: 'store-corrupt', detail: 'SQLite integrity check: <page 4>' }] },
      origin: 'o',
      checkpoint: 'c',
      checkpointSize: 3,
      keyName: 'k',
      keyId: '00',
      keyFingerprint: 'f',
      vkey: 'v',
      entries: 2,
    };
    const doc = (verification: ReportVerification) => renderActivityReport({ kind: 'activity', generatedAt: 't', period: { since: null, until: null }, runs: [], notes: [], verification });
    const damaged = doc(v);
    assert.match(damaged, /<div class="verdict warn">LEDGER DAMAGED: verifying the whole ledger \(3 entries\) found 1 problem, as <code>ffaudit verify<\/code> reports them:<ul><li><code>store-corrupt<\/code>: SQLite integrity check: &lt;page 4&gt;<\/li>/);
    assert.doesNotMatch(damaged, /VERIFIED:|class="verdict ok"/);
    const both = doc({ ...v, ok: false, failures: ['entry 1 does not match its proof'], ledger: { ok: false, size: 3, problems: [{ kind: 'entry-modified', index: 1, detail: 'changed' }] } });
    assert.match(both, /LEDGER TAMPERED[^]*<div class="verdict bad">VERIFICATION FAILED: entry 1 does not match its proof/);
  });

  it('says so and exits 1 for a file no run produced or read; refuses mixed arguments (exit 2)', () => {
    const out = c.path('unknown.html');
    const r = cli('report', c.path('altered.mp4'), '-o', out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ffaudit: .*altered\.mp4: unknown to this ledger: no audited run produced or read these bytes/);
    assert.equal(existsSync(out), false);
    assert.equal(cli('report', c.path('final.mp4'), '--since', '1d').status, 2);
    assert.equal(cli('report').status, 2);
  });

  it('renders in headless Chromium without running anything, shows the hostile name as text, and prints to PDF', async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is not installed: the browser check of the report did not run`);
      return;
    }
    const out = c.path('report.html');
    if (!existsSync(out)) assert.equal(cli('report', hostilePath, '-o', out).status, 0);
    const activity = c.path('activity.html');
    assert.equal(cli('report', '--since', '1h', '-o', activity).status, 0);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on('request', (req) => requests.push(req.url()));
      const url = pathToFileURL(out).href;
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForTimeout(200);
      assert.deepEqual(dialogs, [], 'no script ran');
      assert.deepEqual(requests, [url], 'no request beyond the document itself');
      assert.equal(await page.locator('img').count(), 0, 'no img element was created from a recorded name');
      assert.equal(await page.locator('script').count(), 0);
      const text = await page.locator('body').innerText();
      assert.ok(text.includes(HOSTILE), 'the hostile file name shows as text');
      assert.ok(text.includes('Chain-of-custody report'));
      assert.equal(await page.locator('svg[aria-label="lineage diagram"] rect').count(), 10, '5 runs and 5 files');
      const svgText = await page.locator('svg[aria-label="lineage diagram"]').textContent();
      assert.ok(svgText?.includes(HOSTILE));
      const pdf = await page.pdf({ format: 'A4', printBackground: true });
      assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
      assert.ok(pdf.length > 10_000, `a real document (${pdf.length} bytes)`);

      await page.goto(pathToFileURL(activity).href, { waitUntil: 'load' });
      const atext = await page.locator('body').innerText();
      assert.match(atext, /Audited runs that started from .*: 5 \(5 ok, 0 failed, 0 incomplete\)/);
      assert.deepEqual(dialogs, []);
      const apdf = await page.pdf({ format: 'A4' });
      assert.equal(apdf.subarray(0, 5).toString('latin1'), '%PDF-');
    } finally {
      await browser.close();
    }
  });
});
