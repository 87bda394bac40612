import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { hashLeaf } from '../core/merkle.js';
import { runFromEntries, type RunRecord } from '../core/run.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { makeChain, type Chain, type ChainRun } from '../testing/chain.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';
import { runCli } from '../testing/cli.js';

interface TraceJson {
  file: { path: string; sha256: string };
  known: boolean;
  runs: RunRecord[];
  sources: { path: string; sha256: string | null }[];
  notes: { index: number; text: string }[];
  read_by: RunRecord[];
}

const RUN_KEYS = Object.keys(
  runFromEntries(
    0,
    { v: 1, type: 'run.start', time: 't', by: { user: 'u', uid: 1, host: 'h' }, run: 'r', tool: 'ffmpeg', cwd: '/', argv: [], redactions: [], ffmpeg: { path: 'ffmpeg', version: null, sha256: null }, inputs: [] },
    1,
    { v: 1, type: 'run.end', time: 't', by: { user: 'u', uid: 1, host: 'h' }, run: 'r', start: 0, status: 'ok', exit_code: 0, signal: null, duration_ms: 1, inputs: [], outputs: [], streams: [], report_sha256: null, redactions: [] },
  ),
).sort();

describe('ffaudit trace', () => {
  let c: Chain;
  const trace = (...args: string[]) => runCli(['--ledger', c.ledgerDir, 'trace', ...args]);
  const traceJson = (file: string) => {
    const r = trace('--json', file);
    return { status: r.status, json: JSON.parse(r.stdout) as TraceJson, stderr: r.stderr };
  };

  before(() => {
    c = makeChain('ffaudit-trace-');
  });
  after(() => c.cleanup());

  it('walks a copied file back through every step, oldest source first, runs in the log --json shape', () => {
    const { status, json } = traceJson(c.path('copy.mp4'));
    assert.equal(status, 0);
    assert.equal(json.file.path, c.path('copy.mp4'));
    assert.equal(json.file.sha256, c.runs.final.outputs[0]!.sha256);
    assert.deepEqual(
      json.runs.map((r) => r.id),
      [c.runs.a.id, c.runs.b.id, c.runs.s.id, c.runs.final.id],
    );
    for (const r of json.runs) assert.deepEqual(Object.keys(r).sort(), RUN_KEYS);
    // Exactly what `ffaudit log --json` prints for the same runs.
    const log = runCli(['--ledger', c.ledgerDir, 'log', '--json']).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunRecord);
    assert.deepEqual(json.runs, json.runs.map((r) => log.find((x) => x.id === r.id)));
    const last = json.runs[3]!;
    assert.equal(last.inputs.length, 2);
    assert.deepEqual(last.entries, [c.runs.final.startIndex, c.runs.final.endIndex]);
    // Every file input was produced by an earlier run (the first runs read only lavfi graphs): no sources.
    assert.deepEqual(json.sources, []);
    assert.deepEqual(json.notes.map((n) => n.index), [c.noteIndex]);
  });

  it('traces a renamed intermediate by content to the run that wrote it under its old name', () => {
    const { status, json } = traceJson(c.path('c.mp4'));
    assert.equal(status, 0);
    assert.deepEqual(json.runs.map((r) => r.id), [c.runs.a.id, c.runs.b.id]);
    assert.equal(json.runs[1]!.outputs[0]!.path, c.path('b.mp4'));
    assert.deepEqual(json.read_by.map((r) => r.id), [c.runs.final.id]);
    assert.deepEqual(json.notes, [], 'the custody note names final.mp4, which is not in the lineage of c.mp4');
  });

  it('reports altered bytes as unknown with exit status 1', () => {
    const human = trace(c.path('altered.mp4'));
    assert.equal(human.status, 1);
    assert.match(human.stdout, /altered\.mp4: unknown to this ledger: no audited run produced or read these bytes/);
    assert.equal(human.stderr, '');
    const { status, json } = traceJson(c.path('altered.mp4'));
    assert.equal(status, 1);
    assert.equal(json.known, false);
    assert.deepEqual(json.runs, []);
  });

  it('draws the lineage as a tree with who, when, command and status for each step', () => {
    const r = trace(c.path('final.mp4'));
    assert.equal(r.status, 0);
    const out = r.stdout;
    for (const run of Object.values(c.runs)) assert.ok(out.includes(`ffmpeg run ${run.id}  ok exit 0`), `run ${run.id} in the tree`);
    assert.match(out, /\$ ffmpeg -i c\.mp4 -i s\.wav -c:v copy -c:a aac -shortest -y final\.mp4/);
    assert.match(out, /├─ .*c\.mp4 {2}sha256 [0-9a-f]{64}\n *│ {2}└─ produced by ✓ ffmpeg run/);
    assert.match(out, /as asserted: sound-dept/);
    assert.match(out, /produced by ✓ ffmpeg run \S+ {2}ok exit 0 .*\(written as .*\/b\.mp4\)\n/, 'the rename shows');
    assert.match(out, /custody notes:\n {2}entry \d+ .*"handed to the client on a USB drive"/);
    assert.match(out, /4 runs in the lineage, 0 sources/);
  });

  it('knows a file that only a custody note names, and bundles that note', () => {
    writeFileSync(c.path('received.txt'), 'delivery note from the courier\n');
    assert.equal(runCli(['--ledger', c.ledgerDir, 'note', 'received from courier', '--file', c.path('received.txt')]).status, 0);
    const { status, json } = traceJson(c.path('received.txt'));
    assert.equal(status, 0);
    assert.deepEqual(json.runs, []);
    assert.deepEqual(json.notes.map((n) => n.text), ['received from courier']);
    const out = c.path('received.json');
    assert.equal(runCli(['--ledger', c.ledgerDir, 'bundle', c.path('received.txt'), '-o', out]).status, 0);
    writeFileSync(c.path('log.vkey'), runCli(['--ledger', c.ledgerDir, 'pubkey']).stdout);
    const v = runCli(['verify-bundle', out, '--file', c.path('received.txt'), '--pubkey', c.path('log.vkey'), '--json']);
    assert.equal(v.status, 0, v.stdout);
    assert.equal((JSON.parse(v.stdout) as { notes: unknown[] }).notes.length, 1);
  });

  it('a missing file is an error (exit 2, one line)', () => {
    const r = trace(c.path('nope.mp4'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ffaudit: cannot read .*nope\.mp4: ENOENT\n$/);
  });
});

describe('ffaudit trace: content produced more than once, and time order', () => {
  let c: Chain;
  before(() => {
    c = makeChain('ffaudit-trace2-');
  });
  after(() => c.cleanup());

  it('lists every run that produced the same bytes, and ignores producers that ran after the reader', () => {
    // Raw frames from a lavfi graph are bit-identical each time: two runs produce the same bytes.
    const raw = ['-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x24:rate=5', '-f', 'rawvideo', '-pix_fmt', 'gray', '-y'];
    c.ffmpeg([...raw, 'one.raw']);
    c.ffmpeg([...raw, 'two.raw']);
    // A file made outside any audited run, read by an audited run, and only later produced by one.
    const tone = ['-f', 'lavfi', '-i', 'sine=duration=0.3:frequency=300', '-y'];
    assert.equal(spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...tone, c.path('x.wav')]).status, 0);
    c.ffmpeg(['-i', 'x.wav', '-af', 'volume=0.5', '-y', 'y.wav']);
    c.ffmpeg([...tone, 'x-again.wav']);
    const [p1, p2, reader, late] = c.readRuns().slice(-4) as [ChainRun, ChainRun, ChainRun, ChainRun];
    assert.equal(p1.outputs[0]!.sha256, p2.outputs[0]!.sha256);
    assert.equal(late.outputs[0]!.sha256, reader.inputs[0]!.sha256);
    const twice = JSON.parse(runCli(['--ledger', c.ledgerDir, 'trace', '--json', join(c.dir, 'two.raw')]).stdout) as TraceJson;
    assert.deepEqual(twice.runs.map((r) => r.id), [p1.id, p2.id]);

    const y = JSON.parse(runCli(['--ledger', c.ledgerDir, 'trace', '--json', join(c.dir, 'y.wav')]).stdout) as TraceJson;
    assert.deepEqual(y.runs.map((r) => r.id), [reader.id], 'a run that produced the bytes after they were read is not their origin');
    assert.deepEqual(y.sources.map((s) => s.sha256), [reader.inputs[0]!.sha256]);

    // A file no audited run produced but one read is known: exit 0, no lineage, one reader.
    const x = runCli(['--ledger', c.ledgerDir, 'trace', '--json', join(c.dir, 'x.wav')]);
    assert.equal(x.status, 0);
    const xj = JSON.parse(x.stdout) as TraceJson;
    assert.deepEqual(xj.runs.map((r) => r.id), [late.id], 'the later run did produce these bytes (a fact about the file itself)');
    assert.deepEqual(xj.read_by.map((r) => r.id), [reader.id]);
  });
});

describe('ffaudit trace treats the indexes as hints and the entries as evidence', () => {
  let c: Chain;
  before(() => {
    c = makeChain('ffaudit-trace3-');
  });
  after(() => c.cleanup());

  function db(): BetterSqlite3.Database {
    const Driver = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    return new Driver(join(c.ledgerDir, 'ledger.db'));
  }

  it('ignores a forged index row that points unknown content at a real run', () => {
    const altered = runCli(['--ledger', c.ledgerDir, 'trace', '--json', c.path('altered.mp4')]);
    const sha = (JSON.parse(altered.stdout) as TraceJson).file.sha256;
    const d = db();
    d.prepare("INSERT INTO file_by_hash (seg, sha256, idx, role) VALUES (0, ?, ?, 'output')").run(Buffer.from(sha, 'hex'), c.runs.final.endIndex);
    d.close();
    const r = runCli(['--ledger', c.ledgerDir, 'trace', '--json', c.path('altered.mp4')]);
    assert.equal(r.status, 1);
    assert.deepEqual((JSON.parse(r.stdout) as TraceJson).runs, []);
  });

  it('refuses to tell a story from an entry rewritten in the database (exit 1)', () => {
    const d = db();
    d.exec('DROP TRIGGER IF EXISTS entries_no_update');
    const row = d.prepare('SELECT data FROM entries WHERE idx = ?').get(c.runs.b.endIndex) as { data: Buffer };
    const forged = Buffer.from(row.data.toString('utf8').replace('"status":"ok"', '"status":"no"'));
    d.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(forged, c.runs.b.endIndex);
    d.close();
    const r = runCli(['--ledger', c.ledgerDir, 'trace', c.path('final.mp4')]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `ffaudit: entry ${c.runs.b.endIndex} was modified (run ffaudit verify)\n`);
  });

  it('refuses an entry rewritten together with its leaf hash: the signed checkpoint no longer covers it (exit 1, one line)', () => {
    const d = db();
    d.exec('DROP TRIGGER IF EXISTS entries_no_update');
    const row = d.prepare('SELECT data FROM entries WHERE idx = ?').get(c.runs.final.endIndex) as { data: Buffer };
    const doc = JSON.parse(row.data.toString('utf8')) as Record<string, unknown>;
    doc.inputs = 'not a list';
    const forged = Buffer.from(JSON.stringify(doc));
    d.prepare('UPDATE entries SET data = ?, leaf = ? WHERE idx = ?').run(forged, hashLeaf(forged), c.runs.final.endIndex);
    d.close();
    const r = runCli(['--ledger', c.ledgerDir, 'trace', c.path('copy.mp4')]);
    assert.equal(r.status, 1);
    // The run's start is read first: refused too when it is the rewritten entry's neighbour, whose leaf hash its proof needs.
    assert.match(r.stderr, new RegExp(`^ffaudit: entry (${c.runs.final.startIndex}|${c.runs.final.endIndex}) cannot be proven part of the log the signed checkpoint covers[^\\n]+\\n$`));
  });
});

describe('ffaudit trace on a malformed run', () => {
  let c: Chain;
  before(() => {
    c = makeChain('ffaudit-trace4-');
  });
  after(() => c.cleanup());

  it('stops clearly on a malformed run, even one signed with the key (exit 1, one line)', () => {
    // Entries are untrusted input even when signed: someone holding the key can sign anything.
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    const by = currentAuthor();
    const sha = c.runs.final.outputs[0]!.sha256;
    const start = { v: 1, type: 'run.start', time: nowRfc3339(), by, run: 'malformed-run', tool: 'ffmpeg', cwd: '/', argv: [], redactions: [], ffmpeg: { path: 'ffmpeg', version: null, sha256: null }, inputs: [] };
    const [at] = l.append([start]).indices;
    const end = { v: 1, type: 'run.end', time: nowRfc3339(), by, run: 'malformed-run', start: at, status: 'ok', exit_code: 0, signal: null, duration_ms: 1, inputs: 'not a list', outputs: [{ path: '/x', size: 1, sha256: sha }], streams: [], report_sha256: null, redactions: [] };
    l.append([end]);
    l.close();
    const r = runCli(['--ledger', c.ledgerDir, 'trace', c.path('copy.mp4')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^ffaudit: run malformed-run \\(entry ${at}\\) is malformed: [^\\n]+\\n$`));
  });
});
