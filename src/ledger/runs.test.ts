import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EntryBase } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { RunEndEntry, RunStartEntry } from '../core/run.js';
import { formatTimeNs } from '../time/time.js';
import { Ledger } from './ledger.js';
import { findRun, queryRuns, scanRuns, type RunFilter } from './runs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-query-'));
let l: Ledger;
const N = 1200; // more than two pages of the index query
const t0 = 1_800_000_000_000n * 1_000_000n;
const id = (i: number) => `${i.toString(16).padStart(8, '0')}${'c'.repeat(24)}`;

before(() => {
  l = Ledger.init(path.join(tmp, 'l'));
  const entries: EntryBase[] = [];
  for (let i = 0; i < N; i++) {
    const start: RunStartEntry = {
      v: 1,
      type: 'run.start',
      time: formatTimeNs(t0 + BigInt(i) * 1_000_000_000n),
      by: { user: `u${i % 10}`, uid: 1, host: 'h' },
      run: id(i),
      tool: i % 3 === 0 ? 'ffprobe' : 'ffmpeg',
      cwd: '/w',
      argv: ['-i', i === 5 ? 'needle.mp4' : `in${i}.mp4`, `out${i}.mp4`],
      redactions: [],
      ffmpeg: { path: '/f', version: null, sha256: null },
      inputs: [{ path: `/w/in${i}.mp4`, size: null, sha256: null }],
    };
    entries.push(start);
    if (i % 2 === 0) {
      const end: RunEndEntry = {
        v: 1,
        type: 'run.end',
        time: start.time,
        by: start.by,
        run: id(i),
        start: entries.length - 1,
        status: i % 4 === 0 ? 'ok' : 'failed',
        exit_code: i % 4 === 0 ? 0 : 1,
        signal: null,
        duration_ms: 1,
        inputs: [{ path: `/w/in${i}.mp4`, size: 1, sha256: i.toString(16).padStart(64, '0') }],
        outputs: [],
        streams: [],
        report_sha256: null,
        redactions: [],
      };
      entries.push(end);
    }
  }
  l.append(entries);
});

after(() => {
  l.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('queryRuns on a ledger of many runs', () => {
  it('pages through the index to find an early run', () => {
    const r = queryRuns(l, { grep: 'NEEDLE' });
    assert.deepEqual(r.runs.map((x) => x.id), [id(5)]);
    assert.deepEqual(r.unreadable, []);
  });

  it('returns the most recent matches, oldest first, under --limit', () => {
    assert.deepEqual(queryRuns(l, { limit: 3 }).runs.map((x) => x.id), [id(N - 3), id(N - 2), id(N - 1)]);
    assert.deepEqual(queryRuns(l, { user: 'u4', statuses: ['ok'], limit: 2 }).runs.map((x) => x.id), [id(1164), id(1184)]);
  });

  it('combines index conditions with exact re-checks', () => {
    const all = queryRuns(l, { tool: 'ffprobe', statuses: ['incomplete'] }).runs;
    assert.equal(all.length, N / 6);
    assert.ok(all.every((x) => x.tool === 'ffprobe' && x.status === 'incomplete' && x.entries.length === 1));
    const sinceNs = t0 + 1000n * 1_000_000_000n;
    const untilNs = t0 + 1002n * 1_000_000_000n;
    assert.deepEqual(queryRuns(l, { sinceNs, untilNs }).runs.map((x) => x.id), [id(1000), id(1001), id(1002)]);
    assert.deepEqual(queryRuns(l, { sha256: (8).toString(16).padStart(64, '0') }).runs.map((x) => x.id), [id(8)]);
    assert.deepEqual(queryRuns(l, { path: '/w/in7.mp4' }).runs.map((x) => x.id), [id(7)]);
  });

  it('gives the same answers when scanning the log as through the indexes', () => {
    const filters: RunFilter[] = [{}, { grep: 'needle' }, { limit: 5 }, { user: 'u3', statuses: ['failed'] }, { tool: 'ffprobe', statuses: ['incomplete'], limit: 7 }, { path: '/w/in9.mp4' }];
    for (const f of filters) assert.deepEqual(scanRuns(l, f), queryRuns(l, f), JSON.stringify(f));
  });

  it('finds a run by a unique id prefix and refuses an ambiguous one', () => {
    assert.equal(findRun(l, id(1234 % N).slice(0, 8)).id, id(1234 % N));
    assert.throws(() => findRun(l, '000000'), (e: unknown) => e instanceof FfauditError && e.code === 'USAGE');
    assert.throws(() => findRun(l, 'ffffff'), (e: unknown) => e instanceof FfauditError && e.code === 'NOT_FOUND');
  });
});
