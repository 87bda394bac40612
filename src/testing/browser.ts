/**
 * TEST HELPER: real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), with what the web
 * interface's browser tests check on every page: axe-core's WCAG 2.1 A/AA rules, that the keyboard alone reaches
 * every control, that nothing was blocked by the Content-Security-Policy, and a screenshot under
 * test-output/screenshots/ (ignored by git) for people to look at.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.FFAUDIT_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** The flags a root process in a closed network needs (no sandbox, no calls home, no GPU). */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export const SCREENSHOTS = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));

export const hasChromium = (): boolean => existsSync(CHROMIUM);

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

export interface WatchedPage {
  page: Page;
  /** Console messages of type error, and page errors (an uncaught exception, a CSP violation is reported here too). */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** Dialogs opened (alert, confirm): a script injected through data would show here. */
  dialogs: string[];
}

export async function watchedPage(context: BrowserContext): Promise<WatchedPage> {
  const page = await context.newPage();
  const w: WatchedPage = { page, errors: [], requests: [], dialogs: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('request', (r) => w.requests.push(r.url()));
  page.on('dialog', (d) => {
    w.dialogs.push(d.message());
    void d.dismiss();
  });
  return w;
}

let axeSource: string | undefined;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * axe-core's WCAG 2.0/2.1 A and AA rules on the page as it is; the serious and critical violations. axe is evaluated
 * through the DevTools protocol (page.evaluate), which the page's Content-Security-Policy does not govern, so the
 * policy under test stays the one served.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  // Page-side code is passed as text: this project's TypeScript has no DOM types (src/ is Node code).
  const result = await page.evaluate<AxeViolation[]>(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) })))`);
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * How a focused or focusable element is named in tabOrder and controls (page-side code, as text): what it is, then
 * its place in the document, so that two alike controls (a link repeated, a form per table row) stay two.
 */
const DESCRIBE = `(e) => (e.getAttribute('data-key') ?? (e.tagName.toLowerCase() + '#' + e.id + '|' + (e.name ?? '') + '|' + (e.getAttribute('href') ?? '') + '|' + (e.textContent ?? '').trim().slice(0, 40))) + '@' + [...document.querySelectorAll('*')].indexOf(e)`;

/**
 * Presses Tab until focus comes back round (or `max` presses) and returns a description of each focused element;
 * with `controls()`, a test checks that every link, button, input, select and textarea of the page was reached.
 */
export async function tabOrder(page: Page, max = 400): Promise<string[]> {
  await page.evaluate('document.activeElement && document.activeElement.blur()');
  const seen: string[] = [];
  // Past the last control focus leaves the page (the browser's own UI, here `body`) and then comes round to the first:
  // go on until an element is seen twice.
  for (let i = 0, away = 0; i < max && away < 4; i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate<string | null>(`(() => { const e = document.activeElement; return !e || e === document.body ? null : (${DESCRIBE})(e); })()`);
    if (d === null) {
      away++;
      continue;
    }
    if (seen.includes(d)) break;
    seen.push(d);
  }
  return seen;
}

/** The same descriptions for every visible, enabled control of the page, in document order. */
export async function controls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])')]
    .filter((e) => !e.disabled && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
    .map(${DESCRIBE})`);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
