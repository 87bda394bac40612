/**
 * The phases of an audited run, each on its own: the intent from argv alone, the start on a real temporary ledger
 * (and its fail-closed path), FFmpeg run with its report written where we read it, and what is collected and
 * committed at the end from real files.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FfauditError } from '../core/errors.js';
import type { RunEndEntry, RunStartEntry } from '../core/run.js';
import { Ledger } from '../ledger/ledger.js';
import { captureRun, collectRun, commitEnd } from './audited-run.js';
import type { EarlyHash } from './file-state.js';
import { runFfmpeg, type Ran } from './ffmpeg-process.js';
import { prepareIntent, type RunIntent } from './intent.js';
import { locateTool } from './locate.js';
import { startHash } from './run-end.js';
import { commitStart, startEntry, type Started } from './start.js';

const KEY = Buffer.alloc(32, 7);
const IDENTITY = { path: '/usr/bin/ffmpeg', version: '5.1', sha256: null };
const SECRET = 's3cr3tpw';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** The arguments, all valid UTF-8 (no read of this process's own /proc/self/cmdline). */
const utf8 = (args: string[]) => args.map(() => undefined);

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'ffaudit-phases-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function freshDir(name: string): string {
  const d = join(root, name);
  mkdirSync(d);
  return d;
}

function intentOf(args: string[], cwd: string, opts: { env?: NodeJS.ProcessEnv; rawArgs?: (Buffer | undefined)[]; linkDir?: string } = {}): RunIntent {
  return prepareIntent({ tool: 'ffmpeg', args, cwd, env: opts.env ?? {}, rawArgs: opts.rawArgs ?? utf8(args) }, opts.linkDir ?? freshDir(`links-${Math.random().toString(36).slice(2)}`));
}

function makeLedger(name: string): string {
  const dir = join(root, name);
  Ledger.init(dir, { origin: 'test.example/phases' }).close();
  return dir;
}

const openAt = (dir: string) => () => Ledger.open({ dir, explicit: true });

function entries(dir: string): Record<string, unknown>[] {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return l.entries(0, l.size()).map((data) => JSON.parse(data.toString('utf8')) as Record<string, unknown>);
  } finally {
    l.close();
  }
}

describe('the intent (argv alone)', () => {
  it('names the local inputs FFmpeg will read, resolved against the cwd, and the pipes it uses', () => {
    // Guards: an input left out of knownInputs is not hashed while FFmpeg reads it; a pipe missed is not hashed at all.
    const i = intentOf(['-i', 'a.mp4', '-f', 'lavfi', '-i', 'testsrc', '-i', '-', '-map', '0', 'out.mkv', '-f', 'mpegts', 'pipe:1'], '/w');
    assert.deepEqual(i.knownInputs, [{ path: '/w/a.mp4', fsPath: '/w/a.mp4' }]);
    assert.deepEqual(i.operands.outputs.map((o) => o.name), ['out.mkv', 'pipe:1']);
    assert.equal(i.pipeIn, true);
    assert.equal(i.pipeOut, true);
    assert.deepEqual(i.ffArgs, i.args, 'UTF-8 arguments reach FFmpeg verbatim');
    assert.equal(i.ownReport, false);
    const plain = intentOf(['-i', 'a.mp4', 'b.mp4'], '/w');
    assert.equal(plain.pipeIn || plain.pipeOut, false);
  });

  it("knows when the user asked for their own report (-report, FFREPORT), whose stderr is then left alone", () => {
    assert.equal(intentOf(['-report', '-i', 'a.mp4', 'b.mp4'], '/w').ownReport, true);
    assert.equal(intentOf(['-i', 'a.mp4', 'b.mp4'], '/w', { env: { FFREPORT: 'file=x.log' } }).ownReport, true);
  });

  it('gives FFmpeg a link for a non-UTF-8 operand, keeping its extension, and remembers its exact bytes', () => {
    // Guards: FFmpeg given the mangled UTF-8 text (a file that does not exist), a link without the extension
    // (FFmpeg would pick no muxer), or the record losing the name's real bytes.
    const cwd = freshDir('nonutf8');
    const name = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('.mp4')]);
    const args = ['-i', name.toString('utf8'), 'out.mp4'];
    const linkDir = freshDir('nonutf8-links');
    const i = intentOf(args, cwd, { rawArgs: [undefined, name, undefined], linkDir });
    const link = i.ffArgs[1]!;
    assert.ok(link.startsWith(`${linkDir}/`) && link.endsWith('.mp4'), link);
    assert.ok(lstatSync(link).isSymbolicLink());
    const abs = Buffer.concat([Buffer.from(`${cwd}/`), name]);
    assert.ok(readlinkSync(link, { encoding: 'buffer' }).equals(abs));
    assert.deepEqual(i.argvB64, { 1: name.toString('base64') });
    assert.equal(i.aliases.get(link)?.pathB64, abs.toString('base64'));
    assert.equal(i.knownInputs.length, 1);
    assert.ok(Buffer.isBuffer(i.knownInputs[0]!.fsPath) && i.knownInputs[0]!.fsPath.equals(abs), 'hashed through its real bytes');
    assert.deepEqual(i.args, args, 'the arguments recorded are the ones typed');
  });

  it('refuses, before anything is linked, a non-UTF-8 argument that is no file name or names a set of files', () => {
    // Guards: FFmpeg run with an argument it was not given, or a link standing for a sequence it cannot expand.
    const bad = Buffer.from([0x2d, 0x6d, 0xe9]); // an option's value, not an operand
    const linkDir = freshDir('refused-links');
    assert.throws(() => intentOf(['-i', 'a.mp4', '-metadata', bad.toString('utf8'), 'b.mp4'], '/w', { rawArgs: [undefined, undefined, undefined, bad, undefined], linkDir }), (e: unknown) => e instanceof FfauditError && e.code === 'USAGE');
    const seq = Buffer.concat([Buffer.from([0xe9]), Buffer.from('%03d.png')]);
    assert.throws(() => intentOf(['-i', 'a.mp4', seq.toString('utf8')], '/w', { rawArgs: [undefined, undefined, seq], linkDir }), (e: unknown) => e instanceof FfauditError && e.code === 'USAGE');
    const hls = Buffer.concat([Buffer.from([0xe9]), Buffer.from('.m3u8')]);
    assert.throws(() => intentOf(['-i', 'a.mp4', hls.toString('utf8')], '/w', { rawArgs: [undefined, undefined, hls], linkDir }), (e: unknown) => e instanceof FfauditError && e.code === 'USAGE');
  });
});

describe('the start entry', () => {
  const author = { user: 'tester', uid: 1000, host: 'h', asserted_actor: `ci alice:${SECRET}` };

  it('is redacted everywhere the secret could appear: argv, inputs, actor, reason (docs/design.md invariant 4)', () => {
    // Guards: a secret from the command line stored in clear in any field of the start entry (the actor and the
    // reason repeat the URL's userinfo, the value the argv's redaction removes).
    const cwd = freshDir('start-redact');
    writeFileSync(join(cwd, 'in.bin'), 'twelve bytes');
    const url = `https://alice:${SECRET}@example.com/x.mp4`;
    const i = intentOf(['-i', 'in.bin', '-i', url, '-i', 'missing.bin', 'out.mp4'], cwd);
    const { entry, redacting, by } = startEntry(i, { key: KEY, extra: [], runId: 'r1', time: '2026-01-01T00:00:00.000000000Z', identity: IDENTITY, author, reason: `because alice:${SECRET}` });
    const text = JSON.stringify(entry);
    assert.ok(!text.includes(SECRET), text);
    assert.ok(!JSON.stringify(by).includes(SECRET), 'the author the end repeats is the redacted one');
    assert.ok(redacting.secrets.some((s) => s.includes(SECRET)), 'the end is told what to remove from the report');
    // The end's redactions list the argv's first, then the author's.
    const wheres = redacting.argvRedactions.map((r) => r.where);
    assert.ok(wheres.includes('argv[3]') && wheres.includes('by.asserted_actor'), wheres.join());
    const inputs = entry.inputs;
    assert.deepEqual(inputs[0], { path: join(cwd, 'in.bin'), size: 12, sha256: null });
    assert.equal(inputs[2]!.error, 'ENOENT');
    assert.equal(inputs[2]!.size, null);
    assert.equal(entry.run, 'r1');
    assert.equal(entry.cwd, cwd);
  });

  it('keeps the exact bytes only of arguments free of secrets', () => {
    // Guards: a redacted argument's bytes kept in argv_b64, where they would give the secret away.
    const name = Buffer.concat([Buffer.from('https://alice:'), Buffer.from(SECRET), Buffer.from([0xe9]), Buffer.from('@example.com/x.mp4')]);
    const other = Buffer.concat([Buffer.from('o'), Buffer.from([0xe9]), Buffer.from('.mp4')]);
    const args = ['-i', name.toString('utf8'), other.toString('utf8')];
    const cwd = freshDir('start-b64');
    const i = intentOf(args, cwd, { rawArgs: [undefined, name, other] });
    const { entry } = startEntry(i, { key: KEY, extra: [], runId: 'r2', time: '2026-01-01T00:00:00.000000000Z', identity: IDENTITY, author: { user: 'u', uid: null, host: 'h' } });
    assert.deepEqual(Object.keys(entry.argv_b64 ?? {}), ['2']);
  });
});

describe('committing the start', () => {
  const binary = locateTool('ffmpeg', undefined, process.env);

  it('appends the redacted run.start and hands on the open ledger', async () => {
    const dir = makeLedger('ledger-start');
    const i = intentOf(['-i', `https://alice:${SECRET}@example.com/x.mp4`, 'out.mp4'], root);
    const s = await commitStart(i, { openLedger: openAt(dir), binary, runId: 'a'.repeat(32), failOpen: false });
    assert.ok(s);
    assert.equal(s.startIndex, 0);
    s.ledger.close();
    const [e] = entries(dir) as unknown as RunStartEntry[];
    assert.equal(e!.type, 'run.start');
    assert.equal(e!.run, 'a'.repeat(32));
    assert.ok(!JSON.stringify(e).includes(SECRET));
  });

  it('fails closed when the start cannot be committed: RECORD (exit 125), nothing appended (docs/design.md invariant 3)', async () => {
    // Guards: a failure to record that lets the run go on (FFmpeg would run unaudited), or one that leaves a
    // half-written start behind.
    const dir = makeLedger('ledger-no-key');
    unlinkSync(join(dir, 'signing.key')); // the signing key is gone: the append cannot sign its checkpoint
    const i = intentOf(['-i', 'a.mp4', 'b.mp4'], root);
    let opened: Ledger | undefined;
    const openLedger = () => (opened = Ledger.open({ dir, explicit: true }));
    await assert.rejects(commitStart(i, { openLedger, binary, runId: 'b'.repeat(32), failOpen: false }), (e: unknown) => e instanceof FfauditError && e.code === 'RECORD' && /ffmpeg was not started/.test(e.message));
    assert.throws(() => opened!.size(), 'the ledger it opened is closed');
    assert.deepEqual(entries(dir), []);
    await assert.rejects(
      commitStart(i, { openLedger: () => Ledger.open({ dir: join(root, 'no-such-ledger'), explicit: true }), binary, runId: 'b'.repeat(32), failOpen: false }),
      (e: unknown) => e instanceof FfauditError && e.code === 'RECORD',
    );
  });

  it('under fail-open, goes on without a record instead', async () => {
    // Guards: FFAUDIT_POLICY=fail-open ignored (the run refused), or a ledger handed on that recorded nothing.
    const i = intentOf(['-i', 'a.mp4', 'b.mp4'], root);
    const s = await commitStart(i, { openLedger: () => Ledger.open({ dir: join(root, 'no-such-ledger'), explicit: true }), binary, runId: 'c'.repeat(32), failOpen: true });
    assert.equal(s, undefined);
  });
});

describe('running FFmpeg', () => {
  const binary = locateTool('ffmpeg', undefined, process.env);

  it('runs it with the arguments given, in the cwd given, its report where we read it', async () => {
    // Guards: FFREPORT not set (no report to learn the files from), or the arguments or cwd not passed through.
    const cwd = freshDir('run-ok');
    const i = intentOf(['-v', 'quiet', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x24:rate=10', '-y', 'out.nut'], cwd);
    const reportPath = join(cwd, 'report.log');
    let during = 0;
    const ran = await runFfmpeg(i, { binary, env: process.env, reportPath, self: undefined }, () => during++);
    assert.equal(during, 1);
    assert.deepEqual(ran.outcome, { code: 0, signal: null });
    assert.equal(ran.startFailure, undefined);
    assert.ok(lstatSync(join(cwd, 'out.nut')).size > 0);
    assert.ok(lstatSync(reportPath).size > 0, 'FFmpeg wrote its report where FFREPORT said');
    assert.ok(ran.endedMs >= ran.spawnedMs && ran.durationMs >= 0);
    assert.equal(ran.pipes.size, 0);
  });

  it("reports FFmpeg's own failure status, and a binary that cannot start, without throwing", async () => {
    // Guards: a failing FFmpeg reported as success, or a spawn error that escapes (the start would stay unclosed).
    const cwd = freshDir('run-fail');
    const i = intentOf(['-v', 'quiet', '-i', 'does-not-exist.mp4', 'out.mp4'], cwd);
    const ran = await runFfmpeg(i, { binary, env: process.env, reportPath: join(cwd, 'report.log'), self: undefined }, () => undefined);
    assert.notEqual(ran.outcome.code, 0);
    const none = await runFfmpeg(i, { binary: join(cwd, 'no-ffmpeg'), env: process.env, reportPath: join(cwd, 'r2.log'), self: undefined }, () => undefined);
    assert.ok(none.startFailure);
    assert.equal((none.startFailure as NodeJS.ErrnoException).code, 'ENOENT');
    assert.deepEqual(none.outcome, { code: null, signal: null });
  });
});

describe('collecting and committing the end (real files)', () => {
  const binary = locateTool('ffmpeg', undefined, process.env);
  const ran = (over: Partial<Ran> = {}): Ran => ({
    outcome: { code: 0, signal: null },
    received: undefined,
    startFailure: undefined,
    spawnedMs: 1,
    endedMs: 2,
    durationMs: 1,
    stdout: undefined,
    pipes: new Map(),
    ...over,
  });

  async function started(name: string, args: string[]): Promise<{ dir: string; cwd: string; intent: RunIntent; s: Started }> {
    const dir = makeLedger(`ledger-${name}`);
    const cwd = freshDir(`cwd-${name}`);
    writeFileSync(join(cwd, 'in.bin'), 'input bytes');
    const intent = intentOf(args, cwd);
    const s = await commitStart(intent, { openLedger: openAt(dir), binary, runId: 'd'.repeat(32), failOpen: false });
    assert.ok(s);
    return { dir, cwd, intent, s };
  }

  const early = (i: RunIntent) => Promise.resolve(new Map<string, EarlyHash>(i.knownInputs.map((f) => [f.path, startHash(f)])));

  it("takes FFmpeg's status as ours, 128+N when a signal killed it, 1 when its stdout was lost; no end without a start", async () => {
    // Guards: an exit status that hides FFmpeg's, or an end recorded for a run whose start was not.
    const i = intentOf(['-i', 'a.mp4', 'b.mp4'], root);
    const base = { intent: i, binary, runId: 'x', started: undefined, early: Promise.resolve(new Map<string, EarlyHash>()), reportPath: '/nonexistent', env: {}, verbose: false };
    assert.deepEqual(await collectRun({ ...base, ran: ran({ outcome: { code: 3, signal: null } }) }), { exitStatus: 3, failure: undefined, end: undefined });
    assert.equal((await collectRun({ ...base, ran: ran({ outcome: { code: null, signal: 'SIGKILL' } }) })).exitStatus, 137);
    const enoent = Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' });
    const c = await collectRun({ ...base, ran: ran({ outcome: { code: null, signal: null }, startFailure: enoent }) });
    assert.equal(c.failure?.code, 'FFMPEG_NOT_FOUND');
    assert.match(c.failure.message, /cannot start .*ENOENT/);
  });

  it('hands the end the inputs hashed while FFmpeg ran, the start it closes, and where the report is', async () => {
    // Guards: an end that loses the early hashes (inputs recorded unhashed), the start index, or the redaction.
    const { cwd, intent, s } = await started('collect', ['-i', 'in.bin', 'out.bin']);
    const c = await collectRun({ intent, binary, runId: 'd'.repeat(32), started: s, ran: ran(), early: early(intent), reportPath: join(cwd, 'report.log'), env: {}, verbose: false });
    s.ledger.close();
    assert.equal(c.exitStatus, 0);
    assert.ok(c.end);
    assert.equal(c.end.startIndex, 0);
    assert.deepEqual(c.end.reportFile, { own: false, path: join(cwd, 'report.log') });
    assert.equal(c.end.key, s.redacting.key);
    const h = c.end.early.get(join(cwd, 'in.bin'));
    assert.ok(h);
    const d = await h.finish();
    assert.ok(!('error' in d));
    assert.equal(d.sha256, sha256('input bytes'));
  });

  it('commits run.end with the real files hashed and the report stored redacted, then closes the ledger', async () => {
    // Guards: outputs left unhashed, a report blob holding the secret, a ledger left open.
    const url = `https://alice:${SECRET}@example.com/x.mp4`;
    const { dir, cwd, intent, s } = await started('commit', ['-i', 'in.bin', '-i', url, '-map', '0', 'out.bin']);
    writeFileSync(join(cwd, 'out.bin'), 'output bytes');
    const reportPath = join(cwd, 'report.log');
    writeFileSync(reportPath, `[in#1 @ 0x1] Opening '${url}' for reading\n[out#0 @ 0x2] Opening '${join(cwd, 'out.bin')}' for writing\n`);
    const c = await collectRun({ intent, binary, runId: 'd'.repeat(32), started: s, ran: ran(), early: early(intent), reportPath, env: {}, verbose: false });
    await commitEnd(c.end!);
    assert.throws(() => s.ledger.size(), 'the ledger is closed once the end is recorded');
    const [, end] = entries(dir) as unknown as [RunStartEntry, RunEndEntry];
    assert.equal(end.type, 'run.end');
    assert.equal(end.start, 0);
    assert.equal(end.status, 'ok');
    assert.equal(end.inputs.find((f) => f.path === join(cwd, 'in.bin'))?.sha256, sha256('input bytes'));
    assert.equal(end.outputs.find((f) => f.path === join(cwd, 'out.bin'))?.sha256, sha256('output bytes'));
    assert.ok(!JSON.stringify(end).includes(SECRET));
    assert.ok(end.report_sha256);
    const l = Ledger.open({ dir, explicit: true });
    try {
      const report = l.blob(end.report_sha256)!.toString('utf8');
      assert.match(report, /for writing/);
      assert.ok(!report.includes(SECRET), report);
    } finally {
      l.close();
    }
  });
});

describe('the whole run, in-process', () => {
  it('records the start and the end, and leaves the signal handling of its caller as it found it', async () => {
    // Guards: the handlers that keep a late signal from cutting the end record short left installed, so that a
    // caller that goes on (a test runner, a server) would ignore SIGINT and SIGTERM from then on.
    const cwd = freshDir('whole-run');
    const dir = makeLedger('whole-run-ledger');
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
    const before = signals.map((s) => process.listenerCount(s));
    const args = ['-v', 'quiet', '-f', 'lavfi', '-i', 'testsrc=duration=0.1:size=32x24:rate=10', '-y', 'whole.nut'];
    const status = await captureRun({ tool: 'ffmpeg', args, openLedger: openAt(dir), verbose: false, env: process.env, cwd, rawArgs: utf8(args) });
    assert.equal(status, 0);
    assert.deepEqual(entries(dir).map((e) => e.type), ['run.start', 'run.end']);
    assert.deepEqual(signals.map((s) => process.listenerCount(s)), before);
  });
});
