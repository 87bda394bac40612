/**
 * Custody notes in `ffaudit log`, and the small things of the command line: secrets counted once, redaction-check
 * without duplicates, `show` on a note's index, --failed with incomplete runs, --until a date, bundle sizes in
 * bytes, bare `ffaudit`, and the audited-run options in --help. Real FFmpeg, a real ledger, the real CLI: the
 * commands run in this process (runCliInProcess), but for the audited FFmpeg runs, which need a process of their own,
 * and bare `ffaudit` and --help, which are checked as a user meets them, through the binary.
 */
import assert from 'node:assert/strict';
import { cpSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NoteRecord } from '../../core/entry.js';
import type { RunRecord } from '../../core/run.js';
import { currentAuthor, nowRfc3339 } from '../../ledger/clock.js';
import { Ledger } from '../../ledger/ledger.js';
import { runCliInProcess } from '../../testing/cli.js';
import { cleanEnv, isOneErrorLine, runCli, tempDir } from '../../testing/fixtures.js';

const tmp = tempDir('notes-small');
after(tmp.cleanup);
const ledger = join(tmp.dir, 'ledger');
const media = (name: string) => join(tmp.dir, name);
const cli = (...args: string[]) => runCliInProcess(['--ledger', ledger, ...args], { cwd: tmp.dir });
/** An audited run: a process of its own. */
const audited = (...args: string[]) => runCli(['--ledger', ledger, ...args], { cwd: tmp.dir });
type Line = (RunRecord & { type?: undefined }) | (NoteRecord & { type: 'custody.note' });
const lines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
const CLIP = 'clé ü.mp4'; // a name whose UTF-8 bytes outnumber its characters
let ok: RunRecord;
let secret: RunRecord;
let incompleteIndex: number;
let handedIndex: number;
let viewedIndex: number;

before(async () => {
  assert.equal((await cli('init', '--origin', 'example.org/notes')).status, 0);
  const a = audited('ffmpeg', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=5', '-y', CLIP);
  assert.equal(a.status, 0, a.stderr);
  // Four secrets: a header, a key, URL credentials and a token; FFmpeg fails on the URL (no network needed).
  const s = audited('ffmpeg', '-hide_banner', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32', '-headers', 'Authorization: Bearer sekrit123', '-decryption_key', '00112233445566778899aabbccddeeff', '-y', 'http://bob:hunter2@127.0.0.1:9/out.mp4?token=abc123');
  assert.notEqual(s.status, 0);
  const l = Ledger.open({ dir: ledger, explicit: true });
  try {
    incompleteIndex = l.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by: currentAuthor(), run: 'never-ended', tool: 'ffmpeg', cwd: tmp.dir, argv: ['-i', 'x.mov', 'y.mp4'], redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: null, sha256: null }, inputs: [] }]).indices[0]!;
  } finally {
    l.close();
  }
  const n1 = await cli('note', 'handed to Legal on USB key 7', '--file', media(CLIP), '--actor', 'clerk', '--json');
  assert.equal(n1.status, 0, n1.stderr);
  handedIndex = (JSON.parse(n1.stdout) as { index: number }).index;
  const n2 = await cli('note', 'viewed in suite 3', '--json');
  viewedIndex = (JSON.parse(n2.stdout) as { index: number }).index;
  const runs = lines((await cli('log', '--json', '--type', 'run')).stdout) as RunRecord[];
  [ok, secret] = runs as [RunRecord, RunRecord];
});

describe('custody notes in ffaudit log', () => {
  it('are listed with the runs, in log order, as JSON lines of type custody.note', async () => {
    const r = await cli('log', '--json');
    assert.equal(r.status, 0, r.stderr);
    const all = lines(r.stdout);
    assert.deepEqual(all.map((x) => (x.type === 'custody.note' ? x.index : x.entries[0])), [ok.entries[0], secret.entries[0], incompleteIndex, handedIndex, viewedIndex]);
    const note = all[3] as NoteRecord & { type: string };
    assert.deepEqual(Object.keys(note).sort(), ['asserted_actor', 'files', 'host', 'index', 'text', 'time', 'type', 'uid', 'user']);
    assert.equal(note.text, 'handed to Legal on USB key 7');
    assert.equal(note.asserted_actor, 'clerk');
    assert.deepEqual(note.files, ok.outputs);
    assert.equal((all[0] as RunRecord & { type?: string }).type, undefined, 'run lines keep the documented shape');
  });

  it('in the table, one line per note', async () => {
    const r = await cli('log');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n');
    assert.equal(rows.length, 6);
    assert.match(rows[4]!, new RegExp(`^-\\s+${handedIndex}\\s+\\S+ \\S+\\s+\\S+ \\(clerk\\)\\s+note\\s+-\\s+-\\s+-\\s+note: handed to Legal on USB key 7  \\(.*${CLIP}\\)$`));
    assert.match(rows[5]!, /note: viewed in suite 3$/);
  });

  it('--type note|run, and the filters that apply to notes', async () => {
    const idx = async (...args: string[]) => {
      const r = await cli('log', '--json', ...args);
      assert.equal(r.status, 0, r.stderr);
      return lines(r.stdout).map((x) => (x.type === 'custody.note' ? `note ${x.index}` : x.id));
    };
    assert.deepEqual(await idx('--type', 'note'), [`note ${handedIndex}`, `note ${viewedIndex}`]);
    assert.deepEqual(await idx('--type', 'run'), [ok.id, secret.id, 'never-ended']);
    assert.deepEqual(await idx('--grep', 'usb KEY'), [`note ${handedIndex}`], '--grep finds the text of a note');
    assert.deepEqual(await idx('--grep', 'suite 3', '--type', 'note'), [`note ${viewedIndex}`]);
    assert.deepEqual(await idx('--actor', 'clerk'), [`note ${handedIndex}`]);
    assert.deepEqual(await idx('--file', media(CLIP)), [ok.id, `note ${handedIndex}`], 'a file finds the run that wrote it and the note that names it');
    assert.deepEqual(await idx('--sha256', ok.outputs[0]!.sha256!, '--type', 'note'), [`note ${handedIndex}`]);
    assert.deepEqual(await idx('--limit', '2'), [`note ${handedIndex}`, `note ${viewedIndex}`]);
    assert.deepEqual(await idx('--since', '1h', '--type', 'note', '--scan'), [`note ${handedIndex}`, `note ${viewedIndex}`]);
    assert.deepEqual(await idx('--status', 'ok'), [ok.id], 'a run-only condition lists runs only');
    const bad = await cli('log', '--type', 'note', '--failed');
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'ffaudit: --failed selects runs, not custody notes: leave it out with --type note\n');
    const worse = await cli('log', '--type', 'notes');
    assert.equal(worse.status, 2);
    assert.ok(isOneErrorLine(worse.stderr));
  });

  it('show N on a note index points to entry N', async () => {
    const r = await cli('show', String(handedIndex));
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `ffaudit: entry ${handedIndex} is a custody note, not a run: see it with ffaudit entry ${handedIndex}\n`);
    assert.equal((await cli('show', '999')).stderr, 'ffaudit: no run "999" in the ledger\n');
  });
});

describe('a custody note rewritten in the database', () => {
  it('is reported by log (exit 1, the others listed) and stops the export (exit 1), never shown as recorded', async () => {
    const copy = join(tmp.dir, 'tampered');
    cpSync(ledger, copy, { recursive: true });
    const db = new Database(join(copy, 'ledger.db'));
    try {
      db.exec('DROP TRIGGER entries_no_update');
      const row = db.prepare('SELECT data FROM entries WHERE idx = ?').get(handedIndex) as { data: Buffer };
      const forged = Buffer.from(row.data.toString('utf8').replace('USB key 7', 'USB key 8'), 'utf8');
      assert.equal(db.prepare('UPDATE entries SET data = ? WHERE idx = ?').run(forged, handedIndex).changes, 1);
    } finally {
      db.close();
    }
    const r = await runCliInProcess(['--ledger', copy, 'log', '--json', '--type', 'note'], { env: cleanEnv() });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `ffaudit: entry ${handedIndex} cannot be read back: entry ${handedIndex} was modified (run ffaudit verify)\n`);
    assert.deepEqual(lines(r.stdout).map((x) => (x as NoteRecord).index), [viewedIndex]);
    assert.ok(!r.stdout.includes('USB key 8'));
    for (const format of ['ecs', 'in-toto']) {
      const e = await runCliInProcess(['--ledger', copy, 'export', '--format', format], { env: cleanEnv() });
      assert.equal(e.status, 1, format);
      assert.equal(e.stdout, '');
      assert.equal(e.stderr, `ffaudit: entry ${handedIndex} was modified (run ffaudit verify)\n`);
    }
  });
});

describe('small things', () => {
  it('log --failed lists incomplete runs too', async () => {
    const r = await cli('log', '--json', '--failed');
    assert.deepEqual(lines(r.stdout).map((x) => (x as RunRecord).id), [secret.id, 'never-ended']);
  });

  it('show counts each secret once, and lists each place once', async () => {
    const r = await cli('show', secret.id);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^redacted +4 secrets in 8 places \(option:headers, option:decryption_key, url-credentials, url-query:token, argv-secret\); /m);
    const places = r.stdout.split('\n').filter((x) => / hmac [0-9a-f]{64}$/.test(x));
    assert.equal(places.length, 8);
    assert.equal(new Set(places).size, 8, 'no place twice');
    const j = JSON.parse((await cli('show', secret.id, '--json')).stdout) as { redactions: unknown[] };
    assert.equal(j.redactions.length, 8);
  });

  it('redaction-check prints each place once; URL credentials are checked as user:password', async () => {
    const r = await runCliInProcess(['--ledger', ledger, 'redaction-check'], { input: 'bob:hunter2\n', env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trimEnd().split('\n');
    assert.deepEqual(out.map((x) => x.replace(/^run \S+ +/, '')), [`${await secretArgvOf('url-credentials')}  url-credentials`, 'report  argv-secret']);
    const password = await runCliInProcess(['--ledger', ledger, 'redaction-check'], { input: 'hunter2\n', env: cleanEnv() });
    assert.equal(password.status, 1, 'the password alone is not what was hashed');
    assert.match((await runCliInProcess(['--ledger', ledger, 'redaction-check', '--help'])).stdout, /user:password/);
  });

  it('--until a date includes that day; "YYYY-MM-DD HH:MM" is accepted', async () => {
    const today = ok.started_at.slice(0, 10);
    const minute = `${today} ${ok.started_at.slice(11, 16)}`;
    const ids = async (...args: string[]) => {
      const r = await cli('log', '--json', '--type', 'run', ...args);
      assert.equal(r.status, 0, r.stderr);
      return lines(r.stdout).map((x) => (x as RunRecord).id);
    };
    // Before, a date as --until meant its midnight: runs of that very day were left out.
    assert.ok((await ids('--until', today)).includes(ok.id), 'the day it started is included');
    assert.ok((await ids('--since', today, '--until', today)).includes(ok.id));
    const dayBefore = new Date(Date.parse(`${today}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    assert.deepEqual(await ids('--until', dayBefore), []);
    assert.ok((await ids('--until', minute)).includes(ok.id), 'the minute it started is included');
    assert.ok((await ids('--since', minute)).includes(ok.id));
    const exported = await cli('export', '--format', 'ecs', '--until', today);
    assert.ok(exported.stdout.includes(ok.id), 'export: the same bounds');
  });

  it('bundle reports the size of what it wrote in bytes', async () => {
    const out = media('bündle.json');
    const r = await cli('bundle', media(CLIP), '-o', out);
    assert.equal(r.status, 0, r.stderr);
    const size = statSync(out).size;
    assert.match(r.stdout, new RegExp(`, ${size} bytes, `));
  });

  it('bare ffaudit is a usage error: the help on stderr, exit 2; --help and help print it on stdout, exit 0', () => {
    const bare = runCli([], { env: cleanEnv() });
    assert.equal(bare.status, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /^Usage: ffaudit /);
    for (const args of [['--help'], ['help']]) {
      const r = runCli(args, { env: cleanEnv() });
      assert.equal(r.status, 0);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^Usage: ffaudit /);
      for (const opt of ['--actor <name>', '--reason <text>', '--ffmpeg <path>', '--ffprobe <path>']) assert.ok(r.stdout.includes(`  ${opt} `), `${opt} in ${args.join(' ')}`);
    }
  });
});

/** Where the URL with credentials stood in the secret run's arguments, as `show` names it. */
async function secretArgvOf(kind: string): Promise<string> {
  const j = JSON.parse((await cli('show', secret.id, '--json')).stdout) as { redactions: { where: string; kind: string }[] };
  return j.redactions.find((x) => x.kind === kind)!.where;
}
