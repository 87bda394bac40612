/**
 * `ffaudit verify-proof` and `ffaudit verify-consistency`: a recipient checks what the ledger handed out (receipts,
 * checkpoints, consistency proofs) with the public key only, no ledger. Exit 0 valid, 1 invalid, 2 could not run.
 * The commands run in this process (runCliInProcess), but for the audited FFmpeg run, which needs a process of its
 * own, and the entry read from a named pipe, whose writer (this process) must not wait on its reader.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, runCliInProcess } from '../testing/cli.js';
import { cleanEnv, isOneErrorLine, runCli, tempDir } from '../testing/fixtures.js';

const tmp = tempDir('verifiers');
after(tmp.cleanup);
const p = (name: string) => join(tmp.dir, name);
const ledger = p('ledger');
/** Runs ffaudit against the test ledger and saves stdout's exact bytes to `file`. */
async function save(file: string, ...args: string[]): Promise<string> {
  const r = await runCliInProcess(['--ledger', ledger, ...args], { cwd: tmp.dir });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(p(file), r.stdoutBytes);
  return p(file);
}
const cli = (...args: string[]) => runCliInProcess(args, { cwd: tmp.dir, env: cleanEnv() });
const inLedger = (l: string, ...args: string[]) => runCliInProcess(['--ledger', l, ...args], { cwd: tmp.dir });

before(async () => {
  assert.equal((await inLedger(ledger, 'init', '--origin', 'example.org/verifiers')).status, 0);
  const run = runCli(['--ledger', ledger, 'ffmpeg', '-hide_banner', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32:rate=5', '-y', p('out.mp4')], { cwd: tmp.dir });
  assert.equal(run.status, 0, run.stderr); // entries 0 (run.start) and 1 (run.end)
  assert.equal((await inLedger(ledger, 'note', 'received', '--file', p('out.mp4'))).status, 0); // entry 2
  await save('vkey', 'pubkey');
  await save('entry1', 'entry', '1', '--raw');
  await save('entry2', 'entry', '2', '--raw');
  await save('cp3', 'checkpoint');
  await save('proof1', 'proof', '1');
  await save('proof2', 'proof', '2');
  assert.equal((await inLedger(ledger, 'note', 'viewed')).status, 0);
  await save('cp4', 'checkpoint');
  assert.equal((await inLedger(ledger, 'note', 'handed over')).status, 0);
  await save('cp5', 'checkpoint');
  await save('c35.json', 'consistency', '3', '5', '--json');
  await save('c35.txt', 'consistency', '3', '5');
  await save('c45.json', 'consistency', '4', '5', '--json');
  // The same origin with another key: a rewritten history, or a stolen name.
  const other = p('other');
  assert.equal((await inLedger(other, 'init', '--origin', 'example.org/verifiers')).status, 0);
  for (const t of ['a', 'b', 'c', 'd', 'e']) assert.equal((await inLedger(other, 'note', t)).status, 0);
  writeFileSync(p('other.vkey'), (await inLedger(other, 'pubkey')).stdoutBytes);
  writeFileSync(p('other.cp5'), (await inLedger(other, 'checkpoint')).stdoutBytes);
});

describe('ffaudit verify-proof RECEIPT --entry FILE --pubkey VKEY', () => {
  it('a receipt for the entry, with the log key: VALID, exit 0', async () => {
    const r = await cli('verify-proof', p('proof1'), '--entry', p('entry1'), '--pubkey', p('vkey'));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^VALID: the entry is entry 1 of the log example\.org\/verifiers, included in its checkpoint at tree size 3 signed by example\.org\/verifiers\+[0-9a-f]{8}\n$/);
    const j = await cli('verify-proof', p('proof2'), '--entry', p('entry2'), '--pubkey', p('vkey'), '--json');
    assert.equal(j.status, 0);
    assert.deepEqual(JSON.parse(j.stdout), { ok: true, failure: null, index: 2, size: 3, origin: 'example.org/verifiers' });
  });

  it('reads the entry from a pipe, as `--entry <(ffaudit entry 1 --raw)` gives it', async () => {
    const fifo = p('entry1.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const child = spawn(process.execPath, [BIN, 'verify-proof', p('proof1'), '--entry', fifo, '--pubkey', p('vkey')], { env: cleanEnv() });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    writeFileSync(fifo, readFileSync(p('entry1'))); // blocks until the child opens the pipe
    assert.equal(await done, 0, stdout);
    assert.match(stdout, /^VALID: /);
  });

  it('one flipped byte of the entry: INVALID, exit 1', async () => {
    const bytes = readFileSync(p('entry1'));
    for (const at of [0, bytes.length >> 1, bytes.length - 1]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x01;
      writeFileSync(p('entry1.flipped'), flipped);
      const r = await cli('verify-proof', p('proof1'), '--entry', p('entry1.flipped'), '--pubkey', p('vkey'));
      assert.equal(r.status, 1, `byte ${at}`);
      assert.match(r.stdout, /^INVALID: the entry is not the one at index 1 of the signed log/);
    }
    // A flipped proof hash, or a flipped byte in the signature, fails the same way.
    const receipt = readFileSync(p('proof1'), 'utf8').split('\n');
    receipt[2] = `${receipt[2]![0] === 'A' ? 'B' : 'A'}${receipt[2]!.slice(1)}`;
    writeFileSync(p('proof1.flipped'), receipt.join('\n'));
    assert.equal((await cli('verify-proof', p('proof1.flipped'), '--entry', p('entry1'), '--pubkey', p('vkey'))).status, 1);
    // Character 20 of the base64 lies in the signature, past the 4-byte key ID.
    const sig = readFileSync(p('proof1'), 'utf8').replace(/(— \S+ .{20})(.)/, (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`);
    writeFileSync(p('proof1.sig'), sig);
    const bad = await cli('verify-proof', p('proof1.sig'), '--entry', p('entry1'), '--pubkey', p('vkey'));
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^INVALID: the receipt's checkpoint: checkpoint signature is invalid\n$/);
  });

  it('another key of the same name: INVALID, exit 1', async () => {
    const r = await cli('verify-proof', p('proof1'), '--entry', p('entry1'), '--pubkey', p('other.vkey'));
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "INVALID: the receipt's checkpoint: checkpoint is not signed by a known key\n");
  });

  it("a receipt for another index: INVALID, exit 1", async () => {
    const r = await cli('verify-proof', p('proof2'), '--entry', p('entry1'), '--pubkey', p('vkey'));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^INVALID: the entry is not the one at index 2 of the signed log/);
    // The index line rewritten to the entry's own index: the proof no longer leads to the root.
    writeFileSync(p('proof2.as1'), readFileSync(p('proof2'), 'utf8').replace('\nindex 2\n', '\nindex 1\n'));
    assert.equal((await cli('verify-proof', p('proof2.as1'), '--entry', p('entry1'), '--pubkey', p('vkey'))).status, 1);
  });

  it('a malformed receipt is invalid (exit 1); a missing file or a malformed key cannot run (exit 2, one line)', async () => {
    writeFileSync(p('garbage'), 'not a receipt\n');
    const g = await cli('verify-proof', p('garbage'), '--entry', p('entry1'), '--pubkey', p('vkey'));
    assert.equal(g.status, 1);
    assert.match(g.stdout, /^INVALID: the receipt is malformed: /);
    for (const args of [
      ['verify-proof', p('proof1'), '--entry', p('nope'), '--pubkey', p('vkey')],
      ['verify-proof', p('proof1'), '--entry', p('entry1'), '--pubkey', p('garbage')],
      ['verify-proof', p('proof1'), '--entry', p('entry1')],
    ]) {
      const r = await cli(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
      assert.equal(r.stdout, '');
    }
  });
});

describe('ffaudit verify-consistency OLD NEW --proof PROOF --pubkey VKEY', () => {
  it('two checkpoints of one log and the proof between them (JSON or text form): CONSISTENT, exit 0', async () => {
    for (const proof of ['c35.json', 'c35.txt']) {
      const r = await cli('verify-consistency', p('cp3'), p('cp5'), '--proof', p(proof), '--pubkey', p('vkey'));
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^CONSISTENT: the log example\.org\/verifiers at tree size 5 extends its checkpoint at tree size 3, both signed by /);
    }
    const j = await cli('verify-consistency', p('cp4'), p('cp5'), '--proof', p('c45.json'), '--pubkey', p('vkey'), '--json');
    assert.deepEqual(JSON.parse(j.stdout), { ok: true, failure: null, old_size: 4, size: 5, origin: 'example.org/verifiers' });
  });

  it('mismatched checkpoints, swapped checkpoints, a flipped proof hash, another log, another key: INCONSISTENT, exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [[p('cp4'), p('cp5'), '--proof', p('c35.json'), '--pubkey', p('vkey')], /^INCONSISTENT: the proof is between tree sizes 3 and 5, the checkpoints are at 4 and 5\n$/],
      [[p('cp4'), p('cp5'), '--proof', p('c35.txt'), '--pubkey', p('vkey')], /^INCONSISTENT: the log at tree size 5 is not an append-only extension of the log at 4/],
      [[p('cp5'), p('cp3'), '--proof', p('c35.txt'), '--pubkey', p('vkey')], /^INCONSISTENT: the old checkpoint \(tree size 5\) is larger than the new one \(3\)/],
      [[p('cp3'), p('other.cp5'), '--proof', p('c35.json'), '--pubkey', p('vkey')], /^INCONSISTENT: the new checkpoint: checkpoint is not signed by a known key\n$/],
      [[p('cp3'), p('cp5'), '--proof', p('c35.json'), '--pubkey', p('other.vkey')], /^INCONSISTENT: the old checkpoint: checkpoint is not signed by a known key\n$/],
    ];
    const j = JSON.parse(readFileSync(p('c35.json'), 'utf8')) as { hashes: string[] };
    const h = Buffer.from(j.hashes[0]!, 'base64');
    h[31]! ^= 0x01;
    j.hashes[0] = h.toString('base64');
    writeFileSync(p('c35.flipped.json'), JSON.stringify(j));
    cases.push([[p('cp3'), p('cp5'), '--proof', p('c35.flipped.json'), '--pubkey', p('vkey')], /^INCONSISTENT: the log at tree size 5 is not an append-only extension of the log at 3/]);
    for (const [args, want] of cases) {
      const r = await cli('verify-consistency', ...args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, want);
    }
  });

  it('a missing checkpoint or a malformed key cannot run (exit 2, one line)', async () => {
    writeFileSync(p('garbage.key'), 'nonsense\n');
    for (const args of [
      [p('cp3'), p('missing'), '--proof', p('c35.json'), '--pubkey', p('vkey')],
      [p('cp3'), p('cp5'), '--proof', p('c35.json'), '--pubkey', p('garbage.key')],
    ]) {
      const r = await cli('verify-consistency', ...args);
      assert.equal(r.status, 2, r.stderr);
      assert.ok(isOneErrorLine(r.stderr), r.stderr);
    }
  });
});
