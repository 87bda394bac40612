/**
 * `ffaudit monitor --tsa-ca PEM --timestamp-within D` through the real CLI, against archives written by
 * `ffaudit archive` from ledgers timestamped by a real TSA (OpenSSL, src/testing/tsa-server.ts): clean when each
 * checkpoint is covered by a valid token; `timestamp-missing` once, after the window, when it is not; `bad-timestamp`
 * for a token altered in the archive or from a TSA under another CA.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCliInProcess } from '../testing/cli.js';
import { tempDir } from '../testing/fixtures.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import type { Finding } from './finding.js';

const skip = tsaSkip;
const tmp = tempDir('monitor-stamps');
let tsa: TestTsa;
before(async () => {
  if (!skip) tsa = await startTestTsa(join(tmp.dir));
});
after(async () => {
  await tsa?.close();
  spawnSync('chattr', ['-R', '-i', tmp.dir], { stdio: 'ignore' });
  tmp.cleanup();
});
let seq = 0;

/** A ledger of `n` notes (timestamped through its config when `stamped`), archived; its dir, archive and key file. */
async function archived(n: number, stamped: boolean): Promise<{ ledger: string; archive: string; pubkey: string; cli: (...a: string[]) => ReturnType<typeof runCliInProcess> }> {
  const ledger = join(tmp.dir, `ledger${++seq}`);
  const archive = join(tmp.dir, `archive${seq}`);
  const cli = (...a: string[]) => runCliInProcess(['--ledger', ledger, ...a], { cwd: tmp.dir });
  assert.equal((await cli('init', '--origin', `example.org/monitored-${seq}`)).status, 0);
  for (let i = 0; i < n; i++) assert.equal((await cli('note', `note ${i}`)).status, 0);
  if (stamped) assert.equal((await cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile, '--renew-before', '2d')).status, 0);
  const a = await cli('archive', '--to', archive);
  assert.equal(a.status, 0, a.stdout + a.stderr);
  const pubkey = join(tmp.dir, `key${seq}.vkey`);
  writeFileSync(pubkey, (await cli('pubkey')).stdout);
  return { ledger, archive, pubkey, cli };
}

async function monitor(source: string, pubkey: string, state: string, ...more: string[]): Promise<{ status: number | null; findings: Finding[]; stderr: string }> {
  const r = await runCliInProcess(['monitor', source, '--pubkey', pubkey, '--state', state, '--once', ...more], { cwd: tmp.dir });
  return { status: r.status, findings: r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Finding), stderr: r.stderr };
}

describe('the monitor and RFC 3161 timestamps', { skip }, () => {
  it('is clean when every checkpoint seen is covered by a valid token, and stays so as the log grows', async () => {
    const a = await archived(3, true);
    const state = join(tmp.dir, `state${seq}.json`);
    const first = await monitor(a.archive, a.pubkey, state, '--tsa-ca', tsa.caFile, '--timestamp-within', '1s');
    assert.deepEqual([first.status, first.findings, first.stderr], [0, [], '']);
    assert.equal((JSON.parse(readFileSync(state, 'utf8')) as { timestamps: Record<string, unknown[]> }).timestamps[`example.org/monitored-${seq}`]!.length, 0);
    assert.equal((await a.cli('note', 'more')).status, 0);
    assert.equal((await a.cli('archive', '--to', a.archive)).status, 0);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await monitor(a.archive, a.pubkey, state, '--tsa-ca', tsa.caFile, '--timestamp-within', '1s');
    assert.deepEqual([second.status, second.findings], [0, []]);
  });

  it('reports timestamp-missing once, after the window, for a checkpoint no token covers', async () => {
    const a = await archived(2, false);
    const state = join(tmp.dir, `state${seq}.json`);
    const within = ['--tsa-ca', tsa.caFile, '--timestamp-within', '1s'];
    const early = await monitor(a.archive, a.pubkey, state, ...within);
    assert.deepEqual([early.status, early.findings], [0, []], 'within the window it is no finding');
    await new Promise((r) => setTimeout(r, 1100));
    const late = await monitor(a.archive, a.pubkey, state, ...within);
    assert.equal(late.status, 1);
    assert.equal(late.findings.length, 1);
    const f = late.findings[0]!;
    assert.deepEqual([f.kind, f.origin, f.old_size, f.size, f.source], ['timestamp-missing', `example.org/monitored-${seq}`, 2, 2, a.archive]);
    assert.equal(f.evidence.note, readFileSync(join(a.archive, 'checkpoints', '2'), 'utf8'));
    assert.deepEqual([f.evidence.within_ms, f.evidence.stamped_sizes], [1000, []]);
    const again = await monitor(a.archive, a.pubkey, state, ...within);
    assert.deepEqual([again.status, again.findings], [0, []], 'once per checkpoint');
    // A token arrives after all: the checkpoint is covered and no longer waited for.
    assert.equal((await a.cli('timestamp', '--set-tsa', tsa.url('good'), '--tsa-ca', tsa.caFile, '--renew-before', '2d')).status, 0);
    assert.equal((await a.cli('archive', '--to', a.archive)).status, 0);
    assert.deepEqual((await monitor(a.archive, a.pubkey, state, ...within)).findings, []);
    assert.deepEqual((JSON.parse(readFileSync(state, 'utf8')) as { timestamps: Record<string, unknown[]> }).timestamps[f.origin], []);
  });

  it('reports bad-timestamp for a published token altered, or from a TSA the CA given does not anchor', async () => {
    const a = await archived(2, true);
    const copy = join(tmp.dir, `tampered${seq}`);
    cpSync(a.archive, copy, { recursive: true, verbatimSymlinks: true });
    spawnSync('chattr', ['-R', '-i', copy], { stdio: 'ignore' });
    spawnSync('chmod', ['-R', 'u+w', copy]);
    const token = join(copy, 'timestamp', '2');
    const bytes = readFileSync(token);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(token, bytes);
    const bad = await monitor(copy, a.pubkey, join(tmp.dir, `state${seq}a.json`), '--tsa-ca', tsa.caFile);
    assert.equal(bad.status, 1);
    assert.deepEqual(
      bad.findings.map((f) => [f.kind, f.size, f.evidence.name, f.evidence.reason]),
      [['bad-timestamp', 2, 'timestamp/2', 'time-stamp token: the CMS signature over the signed attributes does not verify']],
    );
    assert.equal(bad.findings[0]!.evidence.token, bytes.toString('base64'));
    const other = await monitor(a.archive, a.pubkey, join(tmp.dir, `state${seq}b.json`), '--tsa-ca', tsa.file('other-ca.pem'));
    assert.deepEqual(
      other.findings.map((f) => [f.kind, f.evidence.reason]),
      [['bad-timestamp', 'time-stamp token: the signer certificate does not chain to a configured CA']],
    );
  });

  it('refuses --timestamp-within without --tsa-ca', async () => {
    const r = await runCliInProcess(['monitor', tmp.dir, '--pubkey', 'x', '--once', '--timestamp-within', '1h'], { cwd: tmp.dir });
    assert.deepEqual([r.status, r.stderr], [2, 'ffaudit: --timestamp-within needs --tsa-ca FILE: the CA the tokens must chain to\n']);
  });
});
