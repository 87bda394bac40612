/**
 * The command line's contracts (outputs other tools rely on) and its behaviour on bad input. The commands run in this
 * process (runCliInProcess: the binary's parsing, actions and error reporting); these spawn the binary instead:
 * "the same through the binary", which holds the two ways to the same bytes, status and one-line errors, and the
 * first use of the per-user ledger by several processes at once, which only separate processes can race.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { verifyTlogProof } from '../core/tlog-proof.js';
import { parseVerifierKey } from '../core/note.js';
import { Ledger } from '../ledger/ledger.js';
import {
  cleanEnv,
  independentlyOpenCheckpoint,
  isOneErrorLine,
  naiveConsistency,
  naiveLeaf,
  naiveRoot,
  runCli,
  runCliAsync,
  tempDir,
  type CliResult,
} from '../testing/fixtures.js';
import { BIN, runCliInProcess } from '../testing/cli.js';

const cli = runCliInProcess;
const tmp = tempDir('cli');
after(tmp.cleanup);
let ledger = '';
let counter = 0;

/** Asserts the error contract: exit 2, one `ffaudit: …` line, no stack trace, nothing on stdout. */
function assertUsageError(r: CliResult, pattern?: RegExp): void {
  assert.equal(r.status, 2, `status ${r.status}: ${r.stderr}`);
  assert.ok(isOneErrorLine(r.stderr), `stderr: ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, '');
  if (pattern) assert.match(r.stderr, pattern);
}

before(async () => {
  ledger = join(tmp.dir, 'main');
  const init = await cli(['--ledger', ledger, 'init', '--origin', 'example.org/cli']);
  assert.equal(init.status, 0, init.stderr);
  for (let i = 0; i < 5; i++) assert.equal((await cli(['--ledger', ledger, 'note', `step ${i}`])).status, 0);
});

function storedBytes(dir: string, n: number): Buffer {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return l.entry(n);
  } finally {
    l.close();
  }
}

describe('ffaudit init', () => {
  it('prints the ledger, origin and vkey, and refuses a second init (exit 2)', async () => {
    const dir = join(tmp.dir, `init${counter++}`);
    const r = await cli(['--ledger', dir, 'init', '--origin', 'example.org/x']);
    assert.equal(r.status, 0, r.stderr);
    const vkey = readFileSync(join(dir, 'vkey'), 'utf8');
    assert.equal(r.stdout, `created ledger ${dir}\norigin example.org/x\nvkey ${vkey}`);
    const again = await cli(['--ledger', dir, 'init']);
    assertUsageError(again, /already exists/);
    assert.equal(readFileSync(join(dir, 'vkey'), 'utf8'), vkey);
  });

  it('keeps the key where --key or FFAUDIT_KEY says', async () => {
    const dir = join(tmp.dir, `init${counter++}`);
    const key = join(tmp.dir, `k${counter++}.key`);
    assert.equal((await cli(['--ledger', dir, '--key', key, 'init'])).status, 0);
    assert.ok(existsSync(key) && !existsSync(join(dir, 'signing.key')));
    assert.equal((await cli(['--ledger', dir, 'note', 'signed elsewhere'])).status, 0);
    const dir2 = join(tmp.dir, `init${counter++}`);
    const key2 = join(tmp.dir, `k${counter++}.key`);
    assert.equal((await cli(['--ledger', dir2, 'init'], { env: cleanEnv({ FFAUDIT_KEY: key2 }) })).status, 0);
    assert.ok(existsSync(key2) && !existsSync(join(dir2, 'signing.key')));
  });

  it('refuses an origin with a space (exit 2)', async () => {
    assertUsageError(await cli(['--ledger', join(tmp.dir, `init${counter++}`), 'init', '--origin', 'two words']));
  });
});

describe('output contracts', () => {
  it('checkpoint prints the latest signed checkpoint byte for byte', async () => {
    const r = await cli(['--ledger', ledger, 'checkpoint']);
    assert.equal(r.status, 0);
    const l = Ledger.open({ dir: ledger, explicit: true });
    assert.deepEqual(r.stdoutBytes, Buffer.from(l.checkpoint(), 'utf8'));
    l.close();
    const cp = independentlyOpenCheckpoint(r.stdout, readFileSync(join(ledger, 'vkey'), 'utf8'));
    assert.equal(cp.origin, 'example.org/cli');
    assert.equal(cp.size, 5);
    assert.deepEqual(cp.root, naiveRoot(Array.from({ length: 5 }, (_, i) => naiveLeaf(storedBytes(ledger, i)))));
  });

  it('pubkey prints the vkey line', async () => {
    const r = await cli(['--ledger', ledger, 'pubkey']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^example\.org\/cli\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n$/);
    assert.equal(r.stdout, readFileSync(join(ledger, 'vkey'), 'utf8'));
    assert.equal(parseVerifierKey(r.stdout).name, 'example.org/cli');
  });

  it('entry --raw prints the exact stored bytes, nothing added; without --raw, pretty JSON', async () => {
    const raw = await cli(['--ledger', ledger, 'entry', '2', '--raw']);
    assert.equal(raw.status, 0);
    assert.deepEqual(raw.stdoutBytes, storedBytes(ledger, 2));
    assert.ok(!raw.stdout.endsWith('\n'));
    const pretty = await cli(['--ledger', ledger, 'entry', '2']);
    assert.equal(pretty.status, 0);
    assert.ok(pretty.stdout.includes('\n  "'));
    assert.deepEqual(JSON.parse(pretty.stdout), JSON.parse(raw.stdout));
    assert.equal((JSON.parse(raw.stdout) as { text: string }).text, 'step 2');
  });

  it('proof prints a tlog-proof receipt that verifies against the latest checkpoint', async () => {
    const vkey = parseVerifierKey(readFileSync(join(ledger, 'vkey'), 'utf8'));
    const checkpoint = (await cli(['--ledger', ledger, 'checkpoint'])).stdout;
    for (const i of [0, 3]) {
      const r = await cli(['--ledger', ledger, 'proof', String(i)]);
      assert.equal(r.status, 0);
      assert.ok(r.stdout.startsWith(`c2sp.org/tlog-proof@v1\nindex ${i}\n`));
      assert.ok(r.stdout.endsWith(`\n\n${checkpoint}`));
      verifyTlogProof(r.stdout, naiveLeaf(storedBytes(ledger, i)), [vkey], 'example.org/cli');
      assert.throws(() => verifyTlogProof(r.stdout, naiveLeaf(storedBytes(ledger, (i + 1) % 5)), [vkey]));
    }
  });

  it('consistency --json prints {"old_size","size","hashes"}, NEW defaulting to the latest size', async () => {
    const leaves = Array.from({ length: 5 }, (_, i) => naiveLeaf(storedBytes(ledger, i)));
    const expected = (a: number, b: number) =>
      `${JSON.stringify({ old_size: a, size: b, hashes: naiveConsistency(leaves.slice(0, b), a).map((h) => h.toString('base64')) })}\n`;
    const r = await cli(['--ledger', ledger, 'consistency', '3', '--json']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, expected(3, 5));
    assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object), ['old_size', 'size', 'hashes']);
    assert.equal((await cli(['--ledger', ledger, 'consistency', '2', '4', '--json'])).stdout, expected(2, 4));
    assert.equal((await cli(['--ledger', ledger, 'consistency', '5', '--json'])).stdout, expected(5, 5));
    const plain = await cli(['--ledger', ledger, 'consistency', '3']);
    assert.equal(plain.stdout, naiveConsistency(leaves, 3).map((h) => `${h.toString('base64')}\n`).join(''));
  });

  it('note --file records each file’s absolute path, size and SHA-256', async () => {
    const dir = join(tmp.dir, `files${counter++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.bin'), Buffer.alloc(3000, 7));
    writeFileSync(join(dir, 'b.txt'), 'hello\n');
    const r = await cli(['--ledger', ledger, 'note', 'received two files', '--file', 'a.bin', '--file', join(dir, 'b.txt'), '--json'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    const { index, size } = JSON.parse(r.stdout) as { index: number; size: number };
    assert.equal(size, index + 1);
    const entry = JSON.parse(storedBytes(ledger, index).toString('utf8')) as { type: string; text: string; files: unknown[] };
    assert.equal(entry.type, 'custody.note');
    assert.equal(entry.text, 'received two files');
    assert.deepEqual(entry.files, [
      { path: join(dir, 'a.bin'), sha256: createHash('sha256').update(Buffer.alloc(3000, 7)).digest('hex'), size: 3000 },
      { path: join(dir, 'b.txt'), sha256: createHash('sha256').update('hello\n').digest('hex'), size: 6 },
    ]);
    // Without --json: the index alone.
    const plain = await cli(['--ledger', ledger, 'note', 'viewed']);
    assert.equal(plain.stdout, `entry ${index + 1}\n`);
  });

  it('note redacts its text and file names as a run is redacted: URL credentials and the ledger’s own patterns', async () => {
    const dir = join(tmp.dir, `redact${counter++}`);
    const own = join(dir, 'ledger');
    assert.equal((await cli(['init', '--ledger', own])).status, 0);
    writeFileSync(join(own, 'config.json'), JSON.stringify({ redact: [{ name: 'case', pattern: 'CASE-[0-9]{5}' }] }));
    mkdirSync(join(dir, 'CASE-31337'));
    writeFileSync(join(dir, 'CASE-31337', 'clip.mov'), 'evidence');
    const r = await cli(['--ledger', own, 'note', 'CASE-31337: pulled from https://ingest:hunter22@nas.example/x', '--file', join(dir, 'CASE-31337', 'clip.mov'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { index } = JSON.parse(r.stdout) as { index: number };
    const stored = storedBytes(own, index).toString('utf8');
    const entry = JSON.parse(stored) as { text: string; files: { path: string; sha256: string }[]; redactions: { where: string; kind: string }[] };
    for (const secret of ['31337', 'hunter22']) assert.ok(!stored.includes(secret), `${secret} reached the ledger: ${stored}`);
    assert.match(entry.text, /^<redacted:[0-9a-f]+>: pulled from https:\/\/<redacted:[0-9a-f]+>@nas\.example\/x$/);
    assert.equal(entry.files[0]!.sha256, createHash('sha256').update('evidence').digest('hex'));
    assert.ok(entry.files[0]!.path.endsWith('/clip.mov') && !entry.files[0]!.path.includes('CASE-'));
    assert.deepEqual(entry.redactions.map((x) => `${x.where} ${x.kind}`).sort(), ['files[0].path pattern:case', 'text pattern:case', 'text url-credentials']);
    // A note with nothing to hide has no redactions field.
    const plain = await cli(['--ledger', own, 'note', 'viewed', '--json']);
    assert.ok(!storedBytes(own, (JSON.parse(plain.stdout) as { index: number }).index).includes('redactions'));
  });
});

describe('bad input: one line on stderr, exit 2, no stack trace, nothing recorded or created', () => {
  it('a ledger named explicitly that does not exist (flag or variable) is not created', async () => {
    const missing = join(tmp.dir, 'nowhere', 'ledger');
    for (const args of [['note', 'x'], ['verify']]) assertUsageError(await cli(['--ledger', missing, ...args]), /no ledger/);
    for (const args of [['note', 'x'], ['proof', '0']]) assertUsageError(await cli(args, { env: cleanEnv({ FFAUDIT_LEDGER: missing }) }), /no ledger/);
    assert.ok(!existsSync(join(tmp.dir, 'nowhere')));
  });

  it('a file to note that cannot be read appends nothing', async () => {
    const before = (await cli(['--ledger', ledger, 'checkpoint'])).stdout;
    assertUsageError(await cli(['--ledger', ledger, 'note', 'x', '--file', join(tmp.dir, 'no-such-file')]), /cannot read/);
    assert.equal((await cli(['--ledger', ledger, 'checkpoint'])).stdout, before);
  });

  it('an index out of range or not a number', async () => {
    assertUsageError(await cli(['--ledger', ledger, 'entry', '9999', '--raw']), /no entry 9999/);
    assertUsageError(await cli(['--ledger', ledger, 'proof', '9999']), /no entry 9999/);
    assertUsageError(await cli(['--ledger', ledger, 'entry', '-1']));
    assertUsageError(await cli(['--ledger', ledger, 'proof', '99999999999999999999']));
    assertUsageError(await cli(['--ledger', ledger, 'consistency', '4', '2']));
  });

  it('an empty ledger has no checkpoint, entry or proof yet', async () => {
    const dir = join(tmp.dir, `empty${counter++}`);
    assert.equal((await cli(['--ledger', dir, 'init'])).status, 0);
    assertUsageError(await cli(['--ledger', dir, 'checkpoint']), /empty/);
    assertUsageError(await cli(['--ledger', dir, 'entry', '0']), /empty/);
    assertUsageError(await cli(['--ledger', dir, 'proof', '0']), /empty/);
  });

  it('a malformed or unreadable trusted checkpoint', async () => {
    const bad = join(tmp.dir, `bad${counter++}.checkpoint`);
    writeFileSync(bad, 'example.org/cli\nnot a size\n');
    assertUsageError(await cli(['--ledger', ledger, 'verify', '--trusted', bad]), /trusted checkpoint/);
    assertUsageError(await cli(['--ledger', ledger, 'verify', '--trusted', join(tmp.dir, 'absent.checkpoint')]), /cannot read/);
    assertUsageError(await cli(['--ledger', ledger, 'verify', '--trusted', tmp.dir]));
  });

  it('an unreadable signing key: a directory, or a file of garbage', async () => {
    const before = (await cli(['--ledger', ledger, 'checkpoint'])).stdout;
    const garbage = join(tmp.dir, `garbage${counter++}.key`);
    writeFileSync(garbage, 'this is not a key\n');
    assertUsageError(await cli(['--ledger', ledger, '--key', tmp.dir, 'note', 'x']), /signing key/);
    assertUsageError(await cli(['--ledger', ledger, '--key', garbage, 'note', 'x']), /key/);
    // The ledger's own key file replaced by garbage.
    const dir = join(tmp.dir, `keyless${counter++}`);
    assert.equal((await cli(['--ledger', dir, 'init'])).status, 0);
    writeFileSync(join(dir, 'signing.key'), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    assertUsageError(await cli(['--ledger', dir, 'note', 'x']), /key/);
    // Reading needs no key: verify still runs.
    assert.equal((await cli(['--ledger', dir, 'verify'])).status, 0);
    assert.equal((await cli(['--ledger', ledger, 'checkpoint'])).stdout, before);
    // init refuses to put a key where a directory is.
    assertUsageError(await cli(['--ledger', join(tmp.dir, `init${counter++}`), '--key', tmp.dir, 'init']));
  });

  it('an unknown command or option', async () => {
    const r = await cli(['--ledger', ledger, 'frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ffaudit: /);
    assert.ok(!/\n\s+at /.test(r.stderr));
  });

  it('--verbose adds the stack trace', async () => {
    const r = await cli(['--verbose', '--ledger', join(tmp.dir, 'nowhere2'), 'checkpoint']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ffaudit: no ledger/);
    assert.match(r.stderr, /\n\s+at /);
  });
});

describe('the same through the binary', () => {
  it('gives the same status, stdout bytes and stderr as in-process, for results and for errors', async () => {
    const env = cleanEnv();
    for (const args of [
      ['--ledger', ledger, 'checkpoint'],
      ['--ledger', ledger, 'entry', '2', '--raw'],
      ['--ledger', ledger, 'entry', '9999'],
      ['--ledger', ledger, 'frobnicate'],
      ['--ledger', join(tmp.dir, 'nowhere3'), 'note', 'x'],
      [],
    ]) {
      const spawned = runCli(args, { env });
      const inProcess = await cli(args, { env });
      assert.deepEqual({ ...inProcess, stdout: undefined }, { ...spawned, stdout: undefined }, args.join(' '));
    }
  });

  it('runs from a directory that was deleted when every path it needs is absolute (the directory is read only for a relative one)', () => {
    // The binary started in a directory that is then removed, as a shell left in a deleted folder would start it.
    const run = (args: string[]) => {
      const gone = join(tmp.dir, `gone${counter++}`);
      mkdirSync(gone);
      const start = `process.chdir(${JSON.stringify(gone)}); require('node:fs').rmdirSync(${JSON.stringify(gone)}); process.argv.splice(1, 0, ${JSON.stringify(BIN)});`;
      return spawnSync(process.execPath, ['-e', `${start} import(${JSON.stringify(pathToFileURL(BIN).href)})`, '--', ...args], { encoding: 'utf8', env: cleanEnv() });
    };
    const ok = run(['--ledger', ledger, 'verify']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /INTACT/);
    const relative = run(['--ledger', 'ledger-here', 'verify']);
    assert.equal(relative.status, 2);
    assert.equal(relative.stderr, 'ffaudit: cannot resolve ledger-here: the current directory no longer exists\n');
  });

  it('in-process, a command leaves the process as it found it: directory, environment, exit status, listeners', async () => {
    const env = { ...process.env };
    const cwd = process.cwd();
    const listeners = () => ['error', 'close'].map((e) => process.stdout.listenerCount(e) + process.stderr.listenerCount(e)).concat(['SIGINT', 'SIGTERM', 'exit'].map((e) => process.listenerCount(e)));
    const before = listeners();
    const elsewhere = join(tmp.dir, `cwd${counter++}`);
    mkdirSync(elsewhere);
    assert.equal((await cli(['--ledger', ledger, 'verify'], { cwd: elsewhere, env: cleanEnv({ FFAUDIT_ACTOR: 'x' }) })).status, 0);
    assert.equal((await cli(['--ledger', ledger, 'entry', '9999'])).status, 2);
    assert.equal((await cli(['--ledger', ledger, 'export', '--format', 'ecs'])).status, 0);
    assert.equal(process.exitCode, undefined);
    assert.equal(process.cwd(), cwd);
    assert.deepEqual({ ...process.env }, env);
    assert.deepEqual(listeners(), before);
  });
});

describe('the per-user default ledger', () => {
  it('is created on first use under $XDG_DATA_HOME with a one-line notice, then used quietly', async () => {
    const xdg = join(tmp.dir, `xdg${counter++}`);
    mkdirSync(xdg);
    const env = cleanEnv({ XDG_DATA_HOME: xdg });
    const first = await cli(['note', 'hello'], { env });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, new RegExp(`^ffaudit: created a new ledger at ${join(xdg, 'ffaudit').replace(/[.]/g, '\\.')} \\(origin [^)]+\\)\\n$`));
    assert.equal(first.stdout, 'entry 0\n');
    assert.ok(existsSync(join(xdg, 'ffaudit', 'ledger.db')));
    const second = await cli(['note', 'again'], { env });
    assert.equal(second.status, 0);
    assert.equal(second.stderr, '');
    assert.equal(second.stdout, 'entry 1\n');
    const verify = await cli(['verify', '--json'], { env });
    assert.deepEqual(JSON.parse(verify.stdout), { ok: true, size: 2, problems: [] });
    assert.deepEqual(readdirSync(xdg), ['ffaudit']);
  });

  it('is created once when several processes use it first at the same moment', async () => {
    const xdg = join(tmp.dir, `xdg${counter++}`);
    mkdirSync(xdg);
    const env = cleanEnv({ XDG_DATA_HOME: xdg });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => runCliAsync(['note', `first use ${i}`, '--json'], env)));
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    assert.equal(results.filter((r) => r.stderr.startsWith('ffaudit: created a new ledger')).length, 1);
    const indices = results.map((r) => (JSON.parse(r.stdout) as { index: number }).index).sort((a, b) => a - b);
    assert.deepEqual(indices, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(JSON.parse(runCli(['verify', '--json'], { env }).stdout), { ok: true, size: 8, problems: [] });
    // Nothing left over from the creation.
    assert.deepEqual(readdirSync(join(xdg, 'ffaudit')).sort(), ['config.json', 'ledger.db', 'redaction.key', 'signing.key', 'vkey']);
  });

  it('verify does not create it', async () => {
    const xdg = join(tmp.dir, `xdg${counter++}`);
    mkdirSync(xdg);
    assertUsageError(await cli(['verify'], { env: cleanEnv({ XDG_DATA_HOME: xdg }) }), /no ledger/);
    assert.deepEqual(readdirSync(xdg), []);
  });
});
