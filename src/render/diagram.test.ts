/**
 * The activity report's diagram stays readable however many runs the period holds: it is never wider than the
 * report's text column (so the browser never scales it, and its text, down), and every text in it renders at 11 px
 * or more. Checked on the SVG's geometry and on the real report rendered by headless Chromium.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FileRecord } from '../core/entry.js';
import { DIAGRAM_MAX_WIDTH, lineageSvg } from './report-html.js';
import type { RunEndEntry, RunStartEntry } from '../core/run.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { listRuns } from '../ledger/runs.js';
import { runCli, tempDir } from '../testing/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const MIN_TEXT_PX = 11;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Appends runs as the capture side records them: n lavfi renders, each with one output, one HLS packaging run of
 * the first (twelve outputs: a layer wider than the page) and one remux that wrote the bytes it read.
 */
function record(dir: string, n: number): void {
  const l = Ledger.open({ dir, explicit: true });
  try {
    const end = (run: string, start: number, inputs: FileRecord[], outputs: FileRecord[]): RunEndEntry => ({ v: 1, type: 'run.end', time: nowRfc3339(), by: currentAuthor(), run, start, status: 'ok', exit_code: 0, signal: null, duration_ms: 40, inputs, outputs, streams: [], report_sha256: null, redactions: [] });
    const start = (run: string, argv: string[], inputs: FileRecord[]): RunStartEntry => ({ v: 1, type: 'run.start', time: nowRfc3339(), by: currentAuthor(), run, tool: 'ffmpeg', cwd: dir, argv, redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: '5.1', sha256: null }, inputs });
    for (let i = 0; i < n; i++) {
      const id = sha(`run ${dir} ${i}`).slice(0, 32);
      const input = { path: `testsrc=duration=1:n=${i}`, size: null, sha256: null };
      const output = { path: `${dir}/clip-${i}.mp4`, size: 1000 + i, sha256: sha(`clip ${i}`) };
      const s = l.append([start(id, ['-f', 'lavfi', '-i', input.path, output.path], [input])]).indices[0]!;
      l.append([end(id, s, [input], [output])]);
    }
    const src = { path: `${dir}/clip-0.mp4`, size: 1000, sha256: sha('clip 0') };
    const segments = Array.from({ length: 12 }, (_, k) => ({ path: `${dir}/hls/seg${k}.ts`, size: 100, sha256: sha(`seg ${k}`) }));
    const id = sha(`hls ${dir}`).slice(0, 32);
    const s = l.append([start(id, ['-i', src.path, '-f', 'hls', `${dir}/hls/index.m3u8`], [src])]).indices[0]!;
    l.append([end(id, s, [src], segments)]);
    // A remux that wrote the very bytes it read: its output is its input's box, which moves below it.
    const same = { path: `${dir}/clip-1.mp4`, size: 1001, sha256: sha('clip 1') };
    const copy = sha(`copy ${dir}`).slice(0, 32);
    const c = l.append([start(copy, ['-i', same.path, '-c', 'copy', `${dir}/copy.mp4`], [same])]).indices[0]!;
    l.append([end(copy, c, [same], [{ ...same, path: `${dir}/copy.mp4` }])]);
  } finally {
    l.close();
  }
}

function svgGeometry(svg: string): { width: number; minFont: number } {
  const width = Number(/^<svg [^>]*\bwidth="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
  const viewBoxWidth = Number(/viewBox="0 0 (\d+(?:\.\d+)?) /.exec(svg)?.[1]);
  assert.equal(width, viewBoxWidth, 'drawn at its own scale');
  const fonts = [...svg.matchAll(/font-size="(\d+(?:\.\d+)?)"/g)].map((m) => Number(m[1]));
  return { width, minFont: Math.min(...fonts) };
}

describe('activity diagram geometry', () => {
  const tmp = tempDir('diagram');
  after(tmp.cleanup);
  const ledgers = new Map<number, string>();

  before(() => {
    for (const n of [34, 200]) {
      const dir = join(tmp.dir, `ledger-${n}`);
      Ledger.init(dir, { origin: `test.example/diagram-${n}` }).close();
      record(dir, n - 2); // n - 2 renders, the packaging run and the remux: n runs
      ledgers.set(n, dir);
    }
  });

  for (const n of [34, 200]) {
    it(`${n} runs: no wider than the text column, text at ${MIN_TEXT_PX} px or more, every box apart`, () => {
      const l = Ledger.open({ dir: ledgers.get(n)!, explicit: true });
      let svg: string;
      try {
        const runs = [...listRuns(l)];
        assert.equal(runs.length, n);
        svg = lineageSvg(runs);
      } finally {
        l.close();
      }
      assert.ok(!svg.includes('NaN'), 'every coordinate is a number');
      const g = svgGeometry(svg);
      assert.ok(g.width <= DIAGRAM_MAX_WIDTH, `width ${g.width} > ${DIAGRAM_MAX_WIDTH}`);
      assert.ok(g.minFont >= MIN_TEXT_PX, `font-size ${g.minFont}`);
      const boxes = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g)].map((m) => m.slice(1, 5).map(Number) as [number, number, number, number]);
      assert.equal(boxes.length, n + (n - 2) * 2 + 12, 'every run, every lavfi source and every file has its box');
      const seen = new Set<string>();
      for (const [x, y] of boxes) {
        assert.ok(!seen.has(`${x},${y}`), `two boxes at ${x},${y}`);
        seen.add(`${x},${y}`);
      }
    });
  }

  it('renders in Chromium with every diagram text at 11 px or more (34 and 200 runs)', async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is not installed: the browser check of the diagram did not run`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      for (const n of [34, 200]) {
        const out = join(tmp.dir, `activity-${n}.html`);
        const r = runCli(['--ledger', ledgers.get(n)!, 'report', '--since', '1d', '-o', out]);
        assert.equal(r.status, 0, r.stderr);
        await page.goto(pathToFileURL(out).href, { waitUntil: 'load' });
        // Run in the page (a string: this project is compiled without the DOM's types).
        const m = await page.evaluate<{ scale: number; min: number; count: number }>(`(() => {
          const svg = document.querySelector('svg[aria-label="lineage diagram"]');
          const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
          const sizes = [...svg.querySelectorAll('text')].map((el) => parseFloat(getComputedStyle(el).fontSize) * scale);
          return { scale, min: Math.min(...sizes), count: sizes.length };
        })()`);
        assert.ok(m.count > 0);
        assert.ok(m.scale >= 0.999, `${n} runs: the diagram is scaled by ${m.scale}`);
        assert.ok(m.min >= MIN_TEXT_PX, `${n} runs: text renders at ${m.min} px`);
      }
    } finally {
      await browser.close();
    }
  });
});
