import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Author, FileRecord } from '../../core/entry.js';
import { parseReport } from '../../ffmpeg/ffreport.js';
import { redactArgv, redactionHmac, redactText } from '../../redact/redact.js';
import type { RunEndEntry, RunRecord, RunStartEntry, RunStatus, Tool } from '../../core/run.js';
import { formatTimeNs } from '../../time/time.js';
import { Ledger } from '../../ledger/ledger.js';
import { runCliInProcess } from '../../testing/cli.js';
import type { CliResult } from '../../testing/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-runs-'));
const ledgerDir = path.join(tmp, 'ledger');
const media = path.join(tmp, 'media');

/** The CLI in this process (runCliInProcess): no test here needs one of its own. */
function cli(...args: string[]): Promise<CliResult> {
  return cliWithInput('', ...args);
}

function cliWithInput(input: string, ...args: string[]): Promise<CliResult> {
  return runCliInProcess(['--ledger', ledgerDir, ...args], { cwd: media, input });
}

/** Runs `log --json ARGS` for every case at once and checks the run ids each prints. */
async function expectRuns(cases: [string[], () => string[]][]): Promise<void> {
  const results = await Promise.all(cases.map(([args]) => cli('log', '--json', ...args)));
  results.forEach((r, i) => {
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), cases[i]![1](), cases[i]![0].join(' '));
  });
}

function jsonLines(text: string): RunRecord[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RunRecord);
}

function sha256File(p: string): FileRecord {
  const data = fs.readFileSync(p);
  return { path: p, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

const nowMs = Date.now();
const ago = (ms: number) => formatTimeNs(BigInt(nowMs - ms) * 1_000_000n);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ffmpegId = { path: '/usr/bin/ffmpeg', version: '5.1', sha256: 'a'.repeat(64) };

interface Made {
  id: string;
  start: number;
  end?: number;
}

function author(user: string, actor?: string): Author {
  return actor ? { user, uid: 1000, host: 'h1', asserted_actor: actor } : { user, uid: 1000, host: 'h1' };
}

let seq = 0;
/** Appends a run's entries through the Ledger API, as the capture side does. */
function appendRun(
  l: Ledger,
  o: { tool?: Tool; user?: string; actor?: string; reason?: string; at: number; argv: string[]; redactions?: RunStartEntry['redactions']; inputs?: FileRecord[]; outputs?: FileRecord[]; status?: Exclude<RunStatus, 'incomplete'> | 'incomplete'; exit?: number | null; signal?: string | null; report?: string | null; streams?: RunEndEntry['streams'] },
): Made {
  const id = (++seq).toString(16).padStart(4, '0') + createHash('sha256').update(String(seq)).digest('hex').slice(0, 28);
  const start: RunStartEntry = {
    v: 1,
    type: 'run.start',
    time: ago(o.at),
    by: author(o.user ?? 'alice', o.actor),
    run: id,
    tool: o.tool ?? 'ffmpeg',
    cwd: media,
    argv: o.argv,
    redactions: o.redactions ?? [],
    ffmpeg: ffmpegId,
    inputs: (o.inputs ?? []).map((f) => ({ ...f, sha256: null, size: null })),
  };
  if (o.reason) start.reason = o.reason;
  const s = l.append([start]).indices[0]!;
  if (o.status === 'incomplete') return { id, start: s };
  const end: RunEndEntry = {
    v: 1,
    type: 'run.end',
    time: ago(o.at - 400),
    by: author(o.user ?? 'alice', o.actor),
    run: id,
    start: s,
    status: o.status ?? 'ok',
    exit_code: o.exit === undefined ? 0 : o.exit,
    signal: o.signal ?? null,
    duration_ms: 400,
    inputs: o.inputs ?? [],
    outputs: o.outputs ?? [],
    streams: o.streams ?? [],
    report_sha256: o.report ? l.putBlob(Buffer.from(o.report, 'utf8')) : null,
    redactions: [],
  };
  const e = l.append([end]).indices[0]!;
  return { id, start: s, end: e };
}

const runs: Record<string, Made> = {};
let input: FileRecord;
let output: FileRecord;
let storedReport = '';
let redactionKey: Buffer;
const SECRET = '5ec7e75ec7e75ec7e75ec7e75ec7e7ff';

before(() => {
  fs.mkdirSync(media);
  const gen = spawnSync('ffmpeg', ['-nostdin', '-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=10', '-c:v', 'mpeg4', 'in.mp4'], { cwd: media });
  assert.equal(gen.status, 0);
  // A real transcode with a real report, redacted as the capture side does before storing anything.
  const argv = ['-nostdin', '-y', '-decryption_key', SECRET, '-i', 'in.mp4', '-vf', 'scale=80:60', '-c:v', 'mpeg4', 'out.mp4'];
  const reportFile = path.join(tmp, 'report.log');
  const run = spawnSync('ffmpeg', argv, { cwd: media, env: { ...process.env, FFREPORT: `file=${reportFile}:level=48` } });
  assert.equal(run.status, 0, run.stderr.toString());
  const l = Ledger.init(ledgerDir);
  try {
    redactionKey = l.redactionKey();
    const red = redactArgv(argv, redactionKey);
    const text = redactText(fs.readFileSync(reportFile, 'utf8'), redactionKey, red.secrets);
    storedReport = text.text;
    input = sha256File(path.join(media, 'in.mp4'));
    output = sha256File(path.join(media, 'out.mp4'));
    runs.transcode = appendRun(l, { user: 'alice', reason: 'TICKET-7', at: 3 * DAY, argv: red.argv, redactions: red.redactions, inputs: [input], outputs: [output], report: storedReport, streams: parseReport(storedReport).streams });
    runs.probe = appendRun(l, { tool: 'ffprobe', user: 'bob', at: 2 * HOUR, argv: ['-show_streams', 'in.mp4'], inputs: [input] });
    runs.failed = appendRun(l, { user: 'bob', actor: 'carol', at: 30 * MIN, argv: ['-i', 'missing.mp4', 'x.mp4'], status: 'failed', exit: 1, inputs: [{ path: path.join(media, 'missing.mp4'), size: null, sha256: null }] });
    runs.odd = appendRun(l, { user: 'alice', at: 10 * MIN, argv: ['-i', 'in.mp4', 'evil\n\u001b[31mred\u202e.mp4'], inputs: [input], outputs: [{ path: path.join(media, 'evil\n\u001b[31mred\u202e.mp4'), size: 1, sha256: 'b'.repeat(64) }] });
    runs.incomplete = appendRun(l, { user: 'bob', at: 5 * MIN, argv: ['-i', 'in.mp4', 'never.mkv'], status: 'incomplete', inputs: [input] });
    runs.killed = appendRun(l, { user: 'alice', at: 1 * MIN, argv: ['-i', 'in.mp4', 'k.mkv'], status: 'terminated', exit: null, signal: 'SIGTERM', inputs: [input] });
  } finally {
    l.close();
  }
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = (text: string) => jsonLines(text).map((r) => r.id);

describe('ffaudit log --json', () => {
  it('prints every run, oldest first, in exactly the documented shape', async () => {
    const r = await cli('log', '--json');
    assert.equal(r.status, 0, r.stderr);
    const all = jsonLines(r.stdout);
    assert.deepEqual(
      all.map((x) => x.id),
      ['transcode', 'probe', 'failed', 'odd', 'incomplete', 'killed'].map((k) => runs[k]!.id),
    );
    const keys = ['id', 'tool', 'entries', 'status', 'user', 'uid', 'host', 'asserted_actor', 'reason', 'cwd', 'argv', 'started_at', 'ended_at', 'duration_ms', 'exit_code', 'signal', 'inputs', 'outputs', 'streams', 'ffmpeg', 'report_sha256'];
    for (const x of all) assert.deepEqual(Object.keys(x).sort(), [...keys].sort());
    const t = all[0]!;
    assert.deepEqual(t.entries, [runs.transcode!.start, runs.transcode!.end]);
    assert.equal(t.status, 'ok');
    assert.equal(t.exit_code, 0);
    assert.equal(t.reason, 'TICKET-7');
    assert.deepEqual(t.inputs, [input]);
    assert.deepEqual(t.outputs, [output]);
    assert.deepEqual(t.ffmpeg, ffmpegId);
    assert.equal(t.report_sha256, createHash('sha256').update(storedReport).digest('hex'));
    assert.ok(t.streams.some((s) => s.direction === 'output' && s.width === 80 && s.height === 60));
    assert.ok(!r.stdout.includes(SECRET));
    const inc = all[4]!;
    assert.equal(inc.status, 'incomplete');
    assert.deepEqual(inc.entries, [runs.incomplete!.start]);
    assert.equal(inc.ended_at, null);
    assert.equal(inc.exit_code, null);
    assert.equal(inc.report_sha256, null);
    assert.equal(all[5]!.status, 'terminated');
    assert.equal(all[5]!.signal, 'SIGTERM');
    assert.equal(all[2]!.asserted_actor, 'carol');
  });

  it('filters by user, actor, tool and status', async () => {
    await expectRuns([
      [['--user', 'bob'], () => [runs.probe!.id, runs.failed!.id, runs.incomplete!.id]],
      [['--actor', 'carol'], () => [runs.failed!.id]],
      [['--tool', 'ffprobe'], () => [runs.probe!.id]],
      [['--failed'], () => [runs.failed!.id, runs.incomplete!.id, runs.killed!.id]],
      [['--failed', '--status', 'ok,failed'], () => [runs.failed!.id]],
      [['--status', 'incomplete'], () => [runs.incomplete!.id]],
      [['--status', 'ok,incomplete', '--user', 'alice'], () => [runs.transcode!.id, runs.odd!.id]],
    ]);
  });

  it('filters by time, relative or absolute', async () => {
    const all = () => ['transcode', 'probe', 'failed', 'odd', 'incomplete', 'killed'].map((k) => runs[k]!.id);
    await expectRuns([
      [['--since', '15m'], () => [runs.odd!.id, runs.incomplete!.id, runs.killed!.id]],
      [['--until', '1d'], () => [runs.transcode!.id]],
      [['--since', '3h', '--until', '20m'], () => [runs.probe!.id, runs.failed!.id]],
      [['--since', new Date(nowMs - 3 * DAY).toISOString().slice(0, 10)], all],
      [['--since', ago(2 * HOUR)], () => all().slice(1)],
      [['--until', ago(2 * HOUR)], () => all().slice(0, 2)],
    ]);
  });

  it('finds runs by file content, by SHA-256, and by path when the content is unknown', async () => {
    fs.copyFileSync(path.join(media, 'out.mp4'), path.join(tmp, 'copy.mp4'));
    fs.writeFileSync(path.join(tmp, 'other.bin'), 'x');
    await expectRuns([
      [['--file', 'out.mp4'], () => [runs.transcode!.id]],
      [['--sha256', output.sha256!.toUpperCase()], () => [runs.transcode!.id]],
      [['--sha256', input.sha256!, '--tool', 'ffprobe'], () => [runs.probe!.id]],
      // a copy elsewhere is found by its content
      [['--file', path.join(tmp, 'copy.mp4')], () => [runs.transcode!.id]],
      // a file never recorded, by content or by path, matches nothing
      [['--file', path.join(tmp, 'other.bin')], () => []],
      // a missing file is looked up by its path
      [['--file', 'missing.mp4'], () => [runs.failed!.id]],
    ]);
    // A file whose present content no run recorded is looked up by its path.
    fs.writeFileSync(path.join(media, 'missing.mp4'), 'created later');
    try {
      await expectRuns([[['--file', 'missing.mp4'], () => [runs.failed!.id]]]);
    } finally {
      fs.rmSync(path.join(media, 'missing.mp4'));
    }
  });

  it('greps the command line case-insensitively, and keeps the most recent N with --limit', async () => {
    await expectRuns([
      [['--grep', 'SCALE=80'], () => [runs.transcode!.id]],
      [['--grep', 'ticket-7'], () => [runs.transcode!.id]],
      [['--limit', '2'], () => [runs.incomplete!.id, runs.killed!.id]],
      [['--user', 'bob', '--limit', '1'], () => [runs.incomplete!.id]],
    ]);
  });
});

describe('ffaudit log (table)', () => {
  it('shows one line per run with escaped control characters', async () => {
    const r = await cli('log');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /^RUN\s+ENTRY\s+STARTED \(UTC\)\s+USER\s+TOOL\s+STATUS\s+EXIT\s+TIME\s+COMMAND$/);
    assert.ok(lines[1]!.startsWith(runs.transcode!.id.slice(0, 12)));
    assert.match(lines[3]!, /bob \(carol\)\s+ffmpeg\s+failed\s+1\s/);
    assert.match(lines[6]!, /terminated\s+SIGTERM/);
    assert.ok(lines[4]!.includes("'evil\\n\\x1b[31mred\\u202e.mp4'"), lines[4]);
    assert.ok(!r.stdout.includes('\u001b') && !r.stdout.includes('\u202e'));
  });

  it('says so on stderr when nothing matches', async () => {
    const r = await cli('log', '--user', 'nobody');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'ffaudit: no runs or custody notes match\n');
    assert.equal((await cli('log', '--user', 'nobody', '--type', 'run')).stderr, 'ffaudit: no runs match\n');
  });
});

describe('ffaudit show', () => {
  it('finds a run by id, id prefix, or either entry index', async () => {
    const t = runs.transcode!;
    const full = await cli('show', t.id, '--json');
    assert.equal(full.status, 0, full.stderr);
    for (const ref of [t.id.slice(0, 8), String(t.start), String(t.end)]) assert.equal((await cli('show', ref, '--json')).stdout, full.stdout, ref);
  });

  it('prints everything for people, and the redactions in --json', async () => {
    const t = runs.transcode!;
    const r = await cli('show', t.id);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^run +${t.id}$`, 'm'));
    assert.match(r.stdout, /^status +ok \(exit 0\)$/m);
    assert.match(r.stdout, /^reason +TICKET-7$/m);
    assert.ok(r.stdout.includes(`${output.sha256}  ${output.size}  ${output.path}`));
    assert.match(r.stdout, /^ {2}output #0:0 {2}Video {2}mpeg4 {2}80x60/m);
    assert.match(r.stdout, /^redacted +1 secret \(option:decryption_key\)/m);
    assert.match(r.stdout, new RegExp(`^ {2}argv\\[3\\] +option:decryption_key +hmac ${redactionHmac(redactionKey, SECRET)}$`, 'm'));
    assert.ok(!r.stdout.includes(SECRET));
    const j = JSON.parse((await cli('show', t.id, '--json')).stdout) as { redactions: { hmac: string; where: string }[] };
    assert.deepEqual(j.redactions.map((x) => x.where), ['argv[3]']);
    // The keyed hash proves the value to someone who holds it.
    assert.equal(j.redactions[0]!.hmac, redactionHmac(redactionKey, SECRET));
  });

  it("prints the stored report byte for byte with --raw, without the secret", async () => {
    const r = await cli('show', runs.transcode!.id, '--report', '--raw');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, storedReport);
    assert.match(storedReport, /Opening 'in\.mp4' for reading/);
    assert.ok(!storedReport.includes(SECRET));
  });

  it('shows an incomplete run, which has no report', async () => {
    const r = await cli('show', runs.incomplete!.id);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^status +incomplete/m);
    assert.match(r.stdout, /^ended +-$/m);
    const rep = await cli('show', runs.incomplete!.id, '--report');
    assert.equal(rep.status, 2);
    assert.match(rep.stderr, /^ffaudit: run [0-9a-f]+ has no stored report \(it never ended\)\n$/);
  });
});

describe('ffaudit redaction-check', () => {
  it('proves a value read from stdin was the redacted one, and only that value', async () => {
    const t = runs.transcode!;
    const yes = await cliWithInput(`${SECRET}\n`, 'redaction-check', t.id);
    assert.equal(yes.status, 0, yes.stderr);
    assert.equal(yes.stdout, `run ${t.id}  argv[3]  option:decryption_key\n`);
    assert.equal((await cliWithInput(SECRET, 'redaction-check')).stdout, yes.stdout);
    const no = await cliWithInput(`${SECRET}0`, 'redaction-check', t.id);
    assert.equal(no.status, 1);
    assert.equal(no.stdout, '');
    assert.equal(no.stderr, 'ffaudit: the value matches no redaction\n');
    assert.equal((await cliWithInput(`${SECRET}\n`, 'redaction-check', '--exact', t.id)).status, 1);
    assert.equal((await cliWithInput('', 'redaction-check')).status, 2);
  });
});

describe('bad input', () => {
  const oneLine = (r: { status: number | null; stderr: string }, status: number, what = '') => {
    assert.equal(r.status, status, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /^ffaudit: [^\n]+\n$/, what);
    assert.ok(!r.stderr.includes('    at '));
  };
  it('exits 2 with one line for unknown runs and malformed options', async () => {
    const cases = [
      ['show', 'deadbeefdeadbeef'],
      ['show', '999999'],
      ['log', '--since', 'yesterday-ish'],
      ['log', '--until', '2026-13-45'],
      ['log', '--sha256', 'abc'],
      ['log', '--limit', '0'],
      ['log', '--limit', '-3'],
      ['log', '--tool', 'sox'],
      ['log', '--status', 'fine'],
      ['show', runs.transcode!.id, '--json', '--report'],
    ];
    const results = await Promise.all(cases.map((c) => cli(...c)));
    results.forEach((r, i) => oneLine(r, 2, cases[i]!.join(' ')));
  });
  it('exits 2 when the ledger does not exist, and creates nothing', async () => {
    const missing = path.join(tmp, 'nope');
    const r = await runCliInProcess(['--ledger', missing, 'log']);
    oneLine(r, 2);
    assert.ok(!fs.existsSync(missing));
  });
});

describe('a tampered ledger', () => {
  it('does not let an edited runs index make a run match', async () => {
    const db = new Database(path.join(ledgerDir, 'ledger.db'));
    try {
      assert.equal(db.prepare("UPDATE runs SET user = 'mallory' WHERE id = ?").run(runs.odd!.id).changes, 1);
    } finally {
      db.close();
    }
    await expectRuns([
      [['--user', 'mallory'], () => []],
    ]);
    assert.equal(jsonLines((await cli('log', '--json')).stdout).find((x) => x.id === runs.odd!.id)!.user, 'alice');
  });

  it('reports a run whose entry was rewritten, and still lists the others', async () => {
    const db = new Database(path.join(ledgerDir, 'ledger.db'));
    try {
      const row = db.prepare('SELECT data FROM entries WHERE idx = ?').get(runs.probe!.start) as { data: Buffer };
      db.exec('DROP TRIGGER entries_no_update');
      db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(Buffer.from(row.data.toString('utf8').replace('"bob"', '"eve"')), runs.probe!.start);
    } finally {
      db.close();
    }
    // Through the index (a filter it narrows), and reading the log in order (no filter): the same verdict.
    const r = await cli('log', '--json', '--since', '1w');
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `ffaudit: run ${runs.probe!.id} (entry ${runs.probe!.start}) cannot be read back: entry ${runs.probe!.start} was modified (run ffaudit verify)\n`);
    assert.equal(jsonLines(r.stdout).length, 5);
    assert.ok(!r.stdout.includes('"eve"'));
    const all = await cli('log', '--json');
    assert.equal(all.status, 1);
    assert.equal(all.stderr, `ffaudit: entry ${runs.probe!.start} cannot be read back: entry ${runs.probe!.start} was modified (run ffaudit verify)\n`);
    assert.equal(all.stdout, r.stdout);
    const s = await cli('show', runs.probe!.id);
    assert.equal(s.status, 1);
    assert.match(s.stderr, /^ffaudit: entry \d+ was modified \(run ffaudit verify\)\n$/);
  });

  it('refuses to print a stored report that was altered or removed', async () => {
    const sha = createHash('sha256').update(storedReport).digest('hex');
    const db = new Database(path.join(ledgerDir, 'ledger.db'));
    try {
      db.exec('DROP TRIGGER blobs_no_update; DROP TRIGGER blobs_no_delete');
      db.prepare("UPDATE blobs SET codec = 'identity', data = ? WHERE sha256 = ?").run(Buffer.from(storedReport.replace('in.mp4', 'xx.mp4')), sha);
    } finally {
      db.close();
    }
    const altered = await cli('show', runs.transcode!.id, '--report');
    assert.equal(altered.status, 1);
    assert.equal(altered.stdout, '');
    assert.equal(altered.stderr, `ffaudit: blob ${sha} is damaged or does not match its hash\n`);
    const db2 = new Database(path.join(ledgerDir, 'ledger.db'));
    try {
      db2.prepare('DELETE FROM blobs WHERE sha256 = ?').run(sha);
    } finally {
      db2.close();
    }
    const removed = await cli('show', runs.transcode!.id, '--report');
    assert.equal(removed.status, 1);
    assert.equal(removed.stderr, `ffaudit: the report ${sha} of run ${runs.transcode!.id} is missing from the ledger\n`);
  });

  it('with --scan, finds a run whose index row was deleted', async () => {
    const db = new Database(path.join(ledgerDir, 'ledger.db'));
    try {
      assert.equal(db.prepare('DELETE FROM runs WHERE id = ?').run(runs.killed!.id).changes, 1);
    } finally {
      db.close();
    }
    assert.ok(!ids((await cli('log', '--json', '--since', '1w')).stdout).includes(runs.killed!.id));
    const r = await cli('log', '--json', '--scan', '--since', '1w');
    assert.equal(r.status, 1);
    assert.deepEqual(ids(r.stdout), ['transcode', 'failed', 'odd', 'incomplete', 'killed'].map((k) => runs[k]!.id));
    assert.equal(r.stderr, `ffaudit: entry ${runs.probe!.start} cannot be read back: entry ${runs.probe!.start} was modified (run ffaudit verify)\n`);
    assert.deepEqual(ids((await cli('log', '--json', '--scan', '--failed')).stdout), [runs.failed!.id, runs.incomplete!.id, runs.killed!.id]);
  });
});
