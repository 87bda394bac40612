// The web interface as people use it: a real `ffaudit serve` process with its access log, two hosts whose real
// FFmpeg runs were audited and pushed, people added with the CLI, and headless Chromium signing in, searching,
// hashing a file in its worker, downloading evidence that `ffaudit verify-bundle` then checks, as an auditor, a
// viewer and an admin. Every page visited is checked for WCAG 2.1 A/AA (axe), keyboard reach, the
// Content-Security-Policy and requests leaving the server, and photographed under test-output/screenshots/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { displayText } from '../../render/display-text.js';
import { CHROMIUM, controls, hasChromium, launchChromium, screenshot, seriousAxeViolations, tabOrder, watchedPage, type WatchedPage } from '../../testing/browser.js';
import { testPostgres } from '../../testing/pg-server.js';
import { serveWorld, type Host, type Person, type ServeWorld } from '../../testing/serve-world.js';

const pgc = testPostgres();
const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).error === undefined;
const skip =
  'skip' in pgc
    ? pgc.skip
    : !hasChromium()
      ? `${CHROMIUM} is not installed: the web interface was not checked in a browser`
      : !hasFfmpeg
        ? 'ffmpeg is not installed: no audited run to show in the browser'
        : false;

/** A name from a ledger is hostile: markup, both quotes, a right-to-left override (U+202E) hiding its real ending. */
const HOSTILE_DIR = '<script>alert(1)<';
const HOSTILE_FILE = `script><img src=x onerror="window.ffauditInjected=1">'\u202e4pm.mp4`;

let w: ServeWorld;
let browser: Browser;
let hostA: Host;
let hostB: Host;
let auditor: Person;
let viewer: Person;
let admin: Person;
const media: Record<'a' | 'aCopy' | 'b' | 'hostile', string> = { a: '', aCopy: '', b: '', hostile: '' };
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
let shaB = '';
/** Each run's id, by the file it wrote. */
const runOf: Record<string, string> = {};

before(async () => {
  if (skip) return;
  const lavfi = ['-f', 'lavfi', '-i', 'testsrc=duration=0.4:size=64x64:rate=5'];
  // Assigned as each is ready, so that `after` closes whichever started when the other failed.
  await Promise.all([serveWorld((pgc as { url: string }).url).then((x) => (w = x)), launchChromium().then((b) => (browser = b))]);
  [hostA, hostB, auditor, viewer, admin] = await Promise.all([
    w.enrol('edit-ws-1'),
    w.enrol('render-7'),
    w.addPerson('audra', 'auditor'),
    w.addPerson('vic', 'viewer'),
    w.addPerson('ada', 'admin'),
  ]);
  media.a = join(w.dir, 'a.mov');
  // Host 2 reads its own copy of the bytes, under another name, as a render node would.
  mkdirSync(join(w.dir, 'render-7-media', HOSTILE_DIR), { recursive: true });
  media.aCopy = join(w.dir, 'render-7-media', 'a-copy.mov');
  media.b = join(w.dir, 'render-7-media', 'b.mp4');
  media.hostile = join(w.dir, 'render-7-media', HOSTILE_DIR, HOSTILE_FILE);
  await w.ffmpeg(hostA, [...lavfi, '-y', media.a]);
  copyFileSync(media.a, media.aCopy);
  await w.ffmpeg(hostB, ['-i', media.aCopy, '-vf', 'hflip', '-y', media.b]);
  await w.ffmpeg(hostB, ['-i', media.aCopy, '-vf', 'scale=32:32', '-f', 'mp4', '-y', media.hostile]);
  await Promise.all([hostA, hostB].map((h) => w.ffaudit(['--ledger', h.ledger, 'push'])));
  shaB = sha(media.b);
  for (const h of [hostA, hostB]) {
    for (const line of (await w.ffaudit(['--ledger', h.ledger, 'log', '--json'])).stdout.trim().split('\n')) {
      const run = JSON.parse(line) as { id: string; outputs: { path: string }[] };
      for (const o of run.outputs) runOf[o.path] = run.id;
    }
  }
});

after(async () => {
  await browser?.close();
  await w?.close();
});

/** A new browser context for one person, signed in through the form. */
async function signedIn(p: Person): Promise<{ context: BrowserContext; wp: WatchedPage }> {
  const context = await browser.newContext({ baseURL: w.url, acceptDownloads: true, viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Europe/Paris' });
  const wp = await watchedPage(context);
  await wp.page.goto('/signin');
  await wp.page.fill('#name', p.name);
  await wp.page.fill('#password', p.password);
  await Promise.all([wp.page.waitForURL(`${w.url}/`), wp.page.click('form[action="/signin"] button[type=submit]')]);
  return { context, wp };
}

/**
 * What every page must be, checked as it is shown: no serious or critical axe violation, no console error (a CSP
 * violation is one), no dialog, no request to another origin, every control reachable with Tab; and its screenshot.
 */
async function checkPage(wp: WatchedPage, name: string): Promise<void> {
  const { page } = wp;
  await page.evaluate('document.fonts.ready');
  await screenshot(page, name);
  assert.deepEqual(await seriousAxeViolations(page), [], `${name}: axe`);
  const order = await tabOrder(page);
  const unreachable = (await controls(page)).filter((c) => !order.includes(c));
  assert.deepEqual(unreachable, [], `${name}: controls that Tab never reaches`);
  assert.deepEqual(wp.errors, [], `${name}: console errors`);
  assert.deepEqual(wp.dialogs, [], `${name}: dialogs`);
  const origin = new URL(w.url).origin;
  assert.deepEqual(
    wp.requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin),
    [],
    `${name}: requests leaving the server`,
  );
}

const text = (wp: WatchedPage, selector: string) => wp.page.locator(selector).innerText();

describe('the web interface in Chromium, against a real ffaudit serve', { skip }, () => {
  let aud: { context: BrowserContext; wp: WatchedPage };

  it('an auditor signs in by keyboard alone, filters runs by user and by the hash of b.mp4, and opens the run', async () => {
    const context = await browser.newContext({ baseURL: w.url, acceptDownloads: true, viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Europe/Paris' });
    const wp = await watchedPage(context);
    aud = { context, wp };
    const { page } = wp;
    await page.goto('/runs');
    assert.equal(page.url(), `${w.url}/signin?next=%2Fruns`, 'a page without a session sends to sign-in, and back after');
    await checkPage(wp, 'signin');
    await page.reload();
    assert.equal(await page.evaluate('document.activeElement.id'), 'name', 'the user name field has the focus');
    await page.keyboard.type(auditor.name);
    await page.keyboard.press('Tab');
    await page.keyboard.type(auditor.password);
    await Promise.all([page.waitForURL(`${w.url}/runs`), page.keyboard.press('Enter')]);

    await page.goto('/');
    assert.equal(await text(wp, 'main h1'), 'Overview');
    await checkPage(wp, 'overview');

    await page.goto('/runs');
    assert.equal(await text(wp, '#runs-total'), '3 runs');
    await checkPage(wp, 'runs');
    await page.fill('#f-user', userInfo().username);
    await Promise.all([page.waitForURL(`${w.url}/runs?user=${userInfo().username}`), page.press('#f-user', 'Enter')]);
    assert.equal(await text(wp, '#runs-total'), '3 runs match this filter');
    await page.fill('#f-user', 'nobody-ran-this');
    await Promise.all([page.waitForURL(`${w.url}/runs?user=nobody-ran-this`), page.press('#f-user', 'Enter')]);
    assert.equal(await text(wp, '#runs-empty'), 'No run matches this filter.');

    await page.fill('#f-user', '');
    await page.fill('#f-sha256', shaB);
    await Promise.all([page.waitForURL(`${w.url}/runs?sha256=${shaB}`), page.press('#f-sha256', 'Enter')]);
    assert.equal(await text(wp, '#runs-total'), '1 run matches this filter');
    assert.deepEqual(await page.evaluate<string[]>(`[...document.querySelectorAll('#run-rows tr')].map((r) => r.getAttribute('data-run'))`), [`${hostB.origin}\n${runOf[media.b]}`]);
    await Promise.all([page.waitForURL(/\/runs\/[0-9a-f]+\?log=/), page.click('#run-rows a.hash')]);
    assert.equal(new URL(page.url()).pathname, `/runs/${runOf[media.b]}`);
    assert.ok((await page.locator('td.path bdi').allInnerTexts()).includes(media.b), 'the run page lists b.mp4 among its files');
    await checkPage(wp, 'run');
  });

  it('/file hashes b.mp4 chosen with the file picker in its worker, and shows the lineage across both hosts', async () => {
    const { page } = aud.wp;
    await page.goto('/file');
    await checkPage(aud.wp, 'file-lookup');
    await Promise.all([page.waitForURL(`${w.url}/file/${shaB}`), page.setInputFiles('#file-pick', media.b)]);
    assert.equal(await text(aud.wp, 'main h1'), media.b);
    const nodes = await page.evaluate<string[]>(`[...document.querySelectorAll('g[data-node]')].map((g) => g.getAttribute('data-node'))`);
    const runLogs = new Set(nodes.filter((n) => n.startsWith('r:')).map((n) => n.slice(2, n.lastIndexOf('/'))));
    assert.deepEqual([...runLogs].sort(), [hostA.origin, hostB.origin], 'the runs of the lineage are on both hosts');
    assert.ok(nodes.includes(`f:${sha(media.a)}`) && nodes.includes(`f:${shaB}`), nodes.join(' '));
    await checkPage(aud.wp, 'file');
  });

  it('downloads the evidence bundle, which verify-bundle checks with both hosts’ keys, and the custody report', async () => {
    const { page } = aud.wp;
    const [bundle] = await Promise.all([page.waitForEvent('download'), page.click('#download-bundle')]);
    assert.equal(bundle.suggestedFilename(), `${shaB.slice(0, 12)}.ffaudit-bundle.json`);
    const saved = join(w.dir, 'b.bundle.json');
    await bundle.saveAs(saved);
    const pubkeys: string[] = [];
    for (const h of [hostA, hostB]) {
      const k = join(w.dir, `${h.name}.vkey`);
      writeFileSync(k, (await w.ffaudit(['--ledger', h.ledger, 'pubkey'])).stdout);
      pubkeys.push('--pubkey', k);
    }
    await w.ffaudit(['verify-bundle', saved, '--file', media.b, ...pubkeys]);

    const [report] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
    assert.equal(report.suggestedFilename(), `custody-report-${shaB.slice(0, 12)}.html`);
    const html = readFileSync(await report.path(), 'utf8');
    for (const h of [hostA, hostB]) assert.ok(html.includes(h.origin), h.origin);
    assert.match(html, /VERIFIED/);
    assert.deepEqual(aud.wp.errors, []);
  });

  it('a viewer sees no download on the file page, and the bundle and report URLs answer 403', async () => {
    const v = await signedIn(viewer);
    const { page } = v.wp;
    await page.goto(`/file/${shaB}`);
    assert.equal(await text(v.wp, 'main h1'), media.b);
    assert.equal(await page.locator('#download-bundle, #download-report, a[href$="/report"], form[action$="/bundle"], #access-history-title').count(), 0);
    assert.equal((await v.context.request.get(`/file/${shaB}/bundle`)).status(), 403);
    assert.equal((await v.context.request.get(`/file/${shaB}/report`)).status(), 403);
    await checkPage(v.wp, 'file-viewer');

    // A form posted without its CSRF token is refused, and the session is left as it was.
    await page.evaluate(`document.querySelector('form[action="/signout"] input[name=_csrf]').remove()`);
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url() === `${w.url}/signout`), page.click('form[action="/signout"] button')]);
    assert.equal(refused.status(), 403);
    await page.waitForLoadState();
    assert.equal(await text(v.wp, 'main h1'), 'Not allowed');
    assert.equal(await text(v.wp, 'main p >> nth=0'), 'the form has expired or did not come from this server: reload the page and try again');
    // Chromium reports the document's own status in the console; nothing else may be there.
    assert.deepEqual(v.wp.errors.splice(0), ['Failed to load resource: the server responded with a status of 403 (Forbidden)']);
    await checkPage(v.wp, 'error-csrf');
    await page.goto(`/file/${shaB}`);
    assert.equal(await text(v.wp, 'main h1'), media.b, 'still signed in');
    await v.context.close();
  });

  it('shows a hostile file name as text, its U+202E escaped, and runs nothing', async () => {
    const { page } = aud.wp;
    aud.wp.errors.length = 0;
    await page.goto(`/runs/${runOf[media.hostile]}`);
    const shown = displayText(media.hostile);
    assert.ok(shown.includes(`<script>alert(1)</script><img src=x onerror="window.ffauditInjected=1">'\\u202e4pm.mp4`), shown);
    assert.ok((await page.locator('td.path bdi').allInnerTexts()).includes(shown), 'the path is shown as recorded, as text');
    assert.equal(await page.evaluate('document.body.innerText.includes("\\u202e")'), false, 'no right-to-left override reaches the page');
    assert.equal(await page.evaluate('window.ffauditInjected'), undefined);
    assert.deepEqual(await page.evaluate<(string | null)[]>(`[...document.scripts].map((s) => s.getAttribute('src'))`), ['/assets/local-time.js']);
    assert.equal(await page.locator('main img, main script').count(), 0);
    await checkPage(aud.wp, 'run-hostile-name');

    await page.goto(`/file/${sha(media.hostile)}`);
    assert.equal(await text(aud.wp, 'main h1'), shown);
    assert.equal(await page.title(), `File ${displayText(HOSTILE_FILE)} · ffaudit`);
    assert.ok((await page.locator('svg.lineage-svg').textContent())?.includes('\\u202e'), 'the graph shows the override escaped too');
    assert.equal(await page.evaluate('window.ffauditInjected'), undefined);
    await checkPage(aud.wp, 'file-hostile-name');
  });

  it('an admin reaches every control of the admin pages by keyboard', async () => {
    const a = await signedIn(admin);
    for (const [path, name, heading] of [
      ['/admin/hosts', 'admin-hosts', 'Hosts'],
      ['/admin/people', 'admin-people', 'People'],
      ['/admin/tokens', 'admin-tokens', 'API tokens'],
    ] as const) {
      await a.wp.page.goto(path);
      assert.equal(await text(a.wp, 'main h1'), heading);
      await checkPage(a.wp, name);
    }
    await a.context.close();
  });

  it('the file page’s access history shows the auditor’s view, bundle and report downloads', async () => {
    const { page } = aud.wp;
    const wanted = ['Downloaded a custody report', 'Downloaded an evidence bundle', 'Viewed the file'];
    let actions: string[] = [];
    // The server mirrors its own access log shortly after each event: a few reloads, bounded.
    for (let i = 0; i < 30; i++) {
      await page.goto(`/file/${shaB}`);
      const rows = await page.evaluate<string[][]>(`[...document.querySelectorAll('.access-history tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))`);
      actions = [...new Set(rows.filter((r) => r[1] === auditor.name).map((r) => r[2]!))].sort();
      if (wanted.every((x) => actions.includes(x))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(actions, wanted);
    await aud.context.close();
  });
});
