#!/usr/bin/env node
// Makes the screenshots of docs/ (docs/web-runs.png, docs/web-file.png) from the web interface in headless Chromium,
// over the three-host world of the API's tests (src/testing/api-fixture.ts: a workstation, a render node and an
// ingest station whose lineage crosses all three). Needs `npm run build` and a PostgreSQL (FFAUDIT_TEST_PG_URL, or
// one started here with scripts/pg-test-server.sh).
//   node scripts/web-screenshots.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { SHA } from '../dist/testing/api-fixture.js';
import { launchChromium } from '../dist/testing/browser.js';
import { webWorld } from '../dist/testing/web-fixture.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let pgUrl = process.env.FFAUDIT_TEST_PG_URL;
if (!pgUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'ffaudit-shots-pg-'));
  const r = spawnSync('bash', [join(root, 'scripts/pg-test-server.sh'), 'start', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  pgUrl = r.stdout.trim().replace(/^export FFAUDIT_TEST_PG_URL=/, '');
  process.on('exit', () => spawnSync('bash', [join(root, 'scripts/pg-test-server.sh'), 'stop', dir]));
}
const w = await webWorld(pgUrl);
const server = serve({ fetch: w.app.fetch, hostname: '127.0.0.1', port: 0 });
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 });
await page.goto(`${base}/signin`);
await page.fill('#name', w.users.auditor);
await page.fill('#password', 'auditor passphrase 2');
await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
await page.goto(`${base}/runs`);
await page.screenshot({ path: join(root, 'docs/web-runs.png') });
await page.goto(`${base}/file/${SHA.C}`);
await page.screenshot({ path: join(root, 'docs/web-file.png'), fullPage: true });
await browser.close();
server.close();
await w.close();
console.log('docs/web-runs.png, docs/web-file.png');
process.exit(0);
