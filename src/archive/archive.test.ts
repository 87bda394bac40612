/**
 * `ffaudit archive` and `verify --from/--trusted` against a real S3 server with Object Lock (Ceph RGW) and
 * against a directory: the same scenarios on both, through the real CLI. Then, on S3, incremental runs in-process
 * (one test file, so that one S3 server serves them all).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, symlinkSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { CustodyNote } from '../core/entry.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { prepareBlob } from '../ledger/blob.js';
import { Ledger } from '../ledger/ledger.js';
import { tilePath, tilesForSize } from '../core/tiles.js';
import { startS3TestServer, type S3TestServer } from '../testing/s3-server.js';
import { archiveLedger, type ArchiveResult } from './archive.js';
import { recordArchiveRefusal, REFUSED_FILE, startAutoArchive } from './auto.js';
import { archiveLockHolder } from './lock.js';
import { readPendingRun } from './journal.js';
import { parseRetention, type Retention } from './retention.js';
import { openTarget } from './open-target.js';
import type { ArchiveTarget, StoredObject } from './target.js';
import { verifyArchive } from './verify-archive.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/ffaudit.js');
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const work = mkdtempSync(join(tmpdir(), 'ffaudit-archive-test-'));
after(() => removeTree(work));

/** Archive directories hold immutable files (chattr +i): lift that before removing them. */
function removeTree(dir: string): void {
  spawnSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

let seq = 0;
function fresh(name: string): string {
  return join(work, `${name}-${++seq}`);
}

function note(i: number, text = 'note'): CustodyNote {
  return { v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text: `${text} ${i}`, files: [] };
}

/** Stores `count` random report blobs as the ledger does (gzip, named by the SHA-256 of the content). */
function storeReports(l: Ledger, count: number): string[] {
  return l.putBlobs(Array.from({ length: count }, () => prepareBlob(randomBytes(2048))));
}

/** Appends `count` notes; the first ones name the given reports, as a run's end entry names its report. */
function appendNotes(l: Ledger, count: number, reports: string[], text = 'note', from = 0): void {
  for (let a = 0; a < count; a += 500) {
    l.append(
      Array.from({ length: Math.min(500, count - a) }, (_, k) => {
        const n = note(from + a + k, text);
        const sha = reports[a + k];
        return sha ? { ...n, report_sha256: sha } : n;
      }),
    );
  }
}

/** A ledger with `entries` notes and `blobs` random report blobs, each named by one of the entries. */
function makeLedger(entries: number, blobs = 0, opts: { origin?: string; keyPath?: string; text?: string } = {}): string {
  const dir = fresh('ledger');
  const l = Ledger.init(dir, { origin: opts.origin, keyPath: opts.keyPath });
  appendNotes(l, entries, storeReports(l, blobs), opts.text);
  l.close();
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes a stored blob as an attacker would: triggers dropped, the row deleted, the triggers put back. */
function deleteBlob(dir: string, sha: string): void {
  const db = new Database(join(dir, 'ledger.db'));
  const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as { name: string; sql: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  assert.equal(db.prepare('DELETE FROM blobs WHERE sha256 = ?').run(sha).changes, 1);
  for (const t of triggers) db.exec(t.sql);
  db.close();
}

/** The report an entry names (`report_sha256`). */
function reportOf(dir: string, index: number): string {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return (JSON.parse(l.entry(index).toString('utf8')) as { report_sha256: string }).report_sha256;
  } finally {
    l.close();
  }
}

function addEntries(dir: string, n: number, blobs = 0): void {
  const l = Ledger.open({ dir, explicit: true });
  appendNotes(l, n, storeReports(l, blobs), 'later', 10_000);
  l.close();
}

function ledgerInfo(dir: string): { checkpoint: string; vkey: string; origin: string; size: number } {
  const l = Ledger.open({ dir, explicit: true });
  try {
    return { checkpoint: l.checkpoint(), vkey: l.vkey, origin: l.origin, size: l.size() };
  } finally {
    l.close();
  }
}

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface Backend {
  name: string;
  env: Record<string, string>;
  /** A new, empty archive location. */
  newLocation(): Promise<string>;
  read(loc: string, name: string): Promise<Buffer | undefined>;
  /** Every object and its versions (S3) or identity (directory): equal snapshots mean nothing was written. */
  snapshot(loc: string): Promise<Map<string, string[]>>;
  /** Objects holding a blob (for the kill test). */
  countObjects(loc: string): Promise<number>;
}

const transcript: string[] = []; // everything the CLI printed, checked for credentials at the end

function cli(backend: Backend, ledger: string | undefined, args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...(ledger ? ['--ledger', ledger] : []), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...backend.env },
    timeout: 120_000,
  });
  transcript.push(r.stdout, r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * An independent read of an archive, written from c2sp.org/tlog-tiles and RFC 6962 alone (not our tile code):
 * every entry bundle against its level-0 tile, every level-1 hash against the MTH of its 256 leaves, and the root
 * of all leaves against the checkpoint's.
 */
async function readIndependently(read: (name: string) => Promise<Buffer | undefined>): Promise<{ size: number; root: Buffer; signedRoot: Buffer }> {
  const checkpoint = (await read('checkpoint'))!.toString('utf8').split('\n');
  const size = Number(checkpoint[1]);
  const signedRoot = Buffer.from(checkpoint[2]!, 'base64');
  const index = (n: number): string => {
    const groups: string[] = [];
    do {
      groups.unshift(String(n % 1000).padStart(3, '0'));
      n = Math.floor(n / 1000);
    } while (n > 0);
    return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  };
  const name = (level: string, n: number, width: number) => `tile/${level}/${index(n)}${width === 256 ? '' : `.p/${width}`}`;
  const leaves: Buffer[] = [];
  for (let n = 0; n * 256 < size; n++) {
    const width = Math.min(256, size - n * 256);
    const tile = await read(name('0', n, width));
    const bundle = await read(name('entries', n, width));
    assert.ok(tile && bundle, `${name('0', n, width)} and its entry bundle exist`);
    assert.equal(tile.length, width * 32);
    let at = 0;
    for (let i = 0; i < width; i++) {
      const len = bundle.readUInt16BE(at);
      const entry = bundle.subarray(at + 2, at + 2 + len);
      at += 2 + len;
      const leaf: Buffer = tile.subarray(i * 32, i * 32 + 32);
      assert.deepEqual(sha256(Buffer.from([0]), entry), leaf, `entry ${n * 256 + i} hashes to its leaf`);
      leaves.push(leaf);
    }
    assert.equal(at, bundle.length, 'nothing after the last entry');
  }
  const mth = (from: number, to: number): Buffer => {
    if (to - from === 1) return leaves[from]!;
    let k = 1;
    while (k * 2 < to - from) k *= 2;
    return sha256(Buffer.from([1]), mth(from, from + k), mth(from + k, to));
  };
  const level1 = Math.floor(size / 256);
  for (let n = 0; n * 256 < level1; n++) {
    const width = Math.min(256, level1 - n * 256);
    const tile = await read(name('1', n, width));
    assert.ok(tile, `${name('1', n, width)} exists`);
    for (let i = 0; i < width; i++) {
      const t = n * 256 + i;
      assert.deepEqual(tile.subarray(i * 32, i * 32 + 32), mth(t * 256, t * 256 + 256), `level-1 hash ${t}`);
    }
  }
  return { size, root: size === 0 ? sha256() : mth(0, size), signedRoot };
}

// ---------------------------------------------------------------------------------------------------------------
// The two backends.

function dirBackend(): Backend {
  const snapshotDir = (root: string): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    const walk = (rel: string) => {
      for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
        const name = rel ? `${rel}/${e.name}` : e.name;
        if (name === '.incoming') continue;
        if (e.isDirectory()) walk(name);
        else if (e.isSymbolicLink()) out.set(name, [`-> ${readlinkSync(join(root, name))}`]);
        else {
          const st = statSync(join(root, name));
          out.set(name, [`${st.ino}:${st.mtimeMs}:${st.size}`]);
        }
      }
    };
    walk('');
    return out;
  };
  return {
    name: 'directory',
    env: {},
    // eslint-disable-next-line @typescript-eslint/require-await
    newLocation: async () => fresh('archive'),
    // eslint-disable-next-line @typescript-eslint/require-await
    read: async (loc, name) => (existsSync(join(loc, name)) ? readFileSync(join(loc, name)) : undefined),
    // eslint-disable-next-line @typescript-eslint/require-await
    snapshot: async (loc) => snapshotDir(loc),
    // eslint-disable-next-line @typescript-eslint/require-await
    countObjects: async (loc) => (existsSync(join(loc, 'blob')) ? readdirSync(join(loc, 'blob')).length : 0),
  };
}

async function s3Backend(endpoint: string, env: Record<string, string>): Promise<Backend & { client: S3Sdk.S3Client; s3: typeof S3Sdk }> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    endpoint,
    forcePathStyle: true,
    region: env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  const split = (loc: string) => {
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(loc)!;
    return { bucket: m[1]!, prefix: m[2] ? `${m[2]}/` : '' };
  };
  return {
    name: 'S3 Object Lock',
    env: { ...env, AWS_ENDPOINT_URL_S3: endpoint },
    client,
    s3,
    newLocation: async () => {
      const bucket = `ffaudit-test-${randomBytes(6).toString('hex')}`;
      await client.send(new s3.CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
      return `s3://${bucket}/log/a`;
    },
    read: async (loc, name) => {
      const { bucket, prefix } = split(loc);
      try {
        const r = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: prefix + name }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (e) {
        if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
        throw e;
      }
    },
    snapshot: async (loc) => {
      const { bucket, prefix } = split(loc);
      const out = new Map<string, string[]>();
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      do {
        const r = await client.send(new s3.ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
        for (const v of [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])]) {
          const k = v.Key!.slice(prefix.length);
          out.set(k, [...(out.get(k) ?? []), v.VersionId!].sort());
        }
        keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
        versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
      } while (keyMarker);
      return out;
    },
    countObjects: async (loc) => {
      const { bucket, prefix } = split(loc);
      const r = await client.send(new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}blob/` }));
      return r.KeyCount ?? 0;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The scenarios, run on each backend.

function scenarios(get: () => Backend): void {
  it('archives as tlog-tiles that an independent reader rebuilds into the signed root; a rerun writes nothing', async () => {
    const b = get();
    const ledger = makeLedger(300, 3);
    const loc = await b.newLocation();
    const first = cli(b, ledger, ['archive', '--to', loc]);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /retention {2}(governance mode until \d{4}-|none on a directory)/);
    assert.match(first.stdout, /wrote 3 hash tiles, 2 entry bundles, 3 reports, the vkey, the checkpoint/);
    const info = ledgerInfo(ledger);
    assert.equal((await b.read(loc, 'checkpoint'))!.toString(), info.checkpoint);
    assert.equal((await b.read(loc, 'vkey'))!.toString(), `${info.vkey}\n`);
    const ind = await readIndependently((n) => b.read(loc, n));
    assert.equal(ind.size, 300);
    assert.deepEqual(ind.root, ind.signedRoot);

    const before = await b.snapshot(loc);
    const blobs = [...before.keys()].filter((k) => k.startsWith('blob/'));
    assert.equal(blobs.length, 3);
    for (const k of blobs) assert.equal(sha256((await b.read(loc, k))!).toString('hex'), k.slice(5), 'a report is named by its hash');
    const again = cli(b, ledger, ['archive', '--to', loc, '--json']);
    assert.equal(again.status, 0, again.stderr);
    const r = JSON.parse(again.stdout) as { written: Record<string, number | boolean>; alreadyThere: number };
    assert.deepEqual(r.written, { tiles: 0, bundles: 0, blobs: 0, checkpoint: false, vkey: false });
    assert.deepEqual(await b.snapshot(loc), before, 'the rerun wrote nothing');

    // Growing: new partial tiles beside the old ones, nothing overwritten; only the checkpoint gains a version.
    addEntries(ledger, 10);
    const grow = cli(b, ledger, ['archive', '--to', loc]);
    assert.equal(grow.status, 0, grow.stderr);
    const after = await b.snapshot(loc);
    for (const [k, v] of before) {
      if (k === 'checkpoint') continue;
      assert.deepEqual(after.get(k), v, `${k} untouched`);
    }
    assert.ok(after.has('tile/0/001.p/44') && after.has('tile/0/001.p/54') && after.has('tile/entries/001.p/54'));
    assert.ok(after.has('checkpoints/300') && after.has('checkpoints/310'));
    if (b.name !== 'directory') assert.equal(after.get('checkpoint')!.length, 2, 'the checkpoint gained a second version');
    for (const [k, v] of after) if (k !== 'checkpoint') assert.equal(v.length, 1, `${k} written once`);
    const ind2 = await readIndependently((n) => b.read(loc, n));
    assert.equal(ind2.size, 310);
    assert.deepEqual(ind2.root, ind2.signedRoot);
  });

  it('verifies the archived copy alone, saying unmissably when the key itself was not verified', async () => {
    const b = get();
    const ledger = makeLedger(40, 2);
    const loc = await b.newLocation();
    assert.equal(cli(b, ledger, ['archive', '--to', loc]).status, 0);
    const withKey = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey')]);
    assert.equal(withKey.status, 0, withKey.stdout + withKey.stderr);
    assert.match(withKey.stdout, /INTACT: all 40 archived entries/);
    assert.doesNotMatch(withKey.stdout, /NOT VERIFIED/);
    const json = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey'), '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { ok: true, size: 40, key_verified: true, origin: ledgerInfo(ledger).origin, problems: [] });
    const noKey = cli(b, undefined, ['verify', '--from', loc]);
    assert.equal(noKey.status, 0);
    assert.match(noKey.stdout, /NOT VERIFIED/);
    // Someone else's key: nothing in the archive counts as signed.
    const other = makeLedger(1);
    const wrong = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(other, 'vkey'), '--json']);
    assert.equal(wrong.status, 1);
    assert.ok((JSON.parse(wrong.stdout) as { problems: { kind: string }[] }).problems.some((p) => p.kind === 'checkpoint-signature-invalid'));
    // Not an archive at all: exit 2, one line.
    const none = cli(b, undefined, ['verify', '--from', await b.newLocation()]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^ffaudit: .*(no archive|no vkey|no checkpoint)/);
    assert.equal(none.stderr.trim().split('\n').length, 1);
  });

  it('completes an archive killed half-way, writing nothing twice (first and incremental runs)', async () => {
    const b = get();
    const ledger = makeLedger(2000, 200);
    const loc = await b.newLocation();
    const killArchive = async (minReports: number) => {
      const child = spawn(process.execPath, [BIN, '--ledger', ledger, 'archive', '--to', loc], { env: { ...process.env, ...b.env }, stdio: 'ignore' });
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      let killed = false;
      for (let i = 0; i < 3000 && child.exitCode === null; i++) {
        if ((await b.countObjects(loc)) >= minReports) {
          child.kill('SIGKILL');
          killed = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await exited;
      assert.ok(killed, 'the archive was killed before it finished');
    };
    const rerun = async (size: number, newReports: number) => {
      const partial = await b.snapshot(loc);
      const again = cli(b, ledger, ['archive', '--to', loc, '--json']);
      assert.equal(again.status, 0, again.stderr);
      const r = JSON.parse(again.stdout) as { written: { blobs: number }; alreadyThere: number; size: number };
      assert.equal(r.size, size);
      assert.ok(r.alreadyThere >= 5 && r.written.blobs < newReports, `the rerun skipped what was there (${r.alreadyThere})`);
      const done = await b.snapshot(loc);
      for (const [k, v] of partial) if (k !== 'checkpoint') assert.deepEqual(done.get(k), v, `${k} was not written again`);
      for (const [k, v] of done) if (k !== 'checkpoint') assert.equal(v.length, 1, `${k} has one version`);
      const verify = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey'), '--json']);
      assert.equal(verify.status, 0, verify.stdout);
      assert.equal((JSON.parse(verify.stdout) as { size: number }).size, size);
      const ind = await readIndependently((n) => b.read(loc, n));
      assert.deepEqual(ind.root, ind.signedRoot);
      return done;
    };

    await killArchive(5);
    assert.equal(await b.read(loc, 'checkpoint'), undefined, 'the checkpoint is written last');
    const first = await rerun(2000, 200);
    assert.equal([...first.keys()].filter((k) => k.startsWith('blob/')).length, 200);

    // Incremental: the archive already holds 2000 entries; the new run is killed half-way too.
    addEntries(ledger, 600, 120);
    const before = await b.read(loc, 'checkpoint');
    await killArchive(205);
    assert.deepEqual(await b.read(loc, 'checkpoint'), before, 'the killed run published nothing');
    const second = await rerun(2600, 120);
    assert.equal([...second.keys()].filter((k) => k.startsWith('blob/')).length, 320);
  });

  it('catches a local history rewritten with the same key (verify --trusted ARCHIVE), and refuses to archive it', async () => {
    const b = get();
    const honest = makeLedger(20);
    const loc = await b.newLocation();
    assert.equal(cli(b, honest, ['archive', '--to', loc]).status, 0);
    assert.equal(cli(b, honest, ['verify', '--trusted', loc]).status, 0);
    // The thief: same key, same origin, a different history that is longer and signs perfectly.
    const stolenKey = join(fresh('stolen'), 'signing.key');
    spawnSync('mkdir', ['-p', dirname(stolenKey)]);
    copyFileSync(join(honest, 'signing.key'), stolenKey);
    const forged = makeLedger(25, 0, { origin: ledgerInfo(honest).origin, keyPath: stolenKey, text: 'forged' });
    assert.equal(ledgerInfo(forged).vkey, ledgerInfo(honest).vkey);
    const alone = cli(b, forged, ['verify']);
    assert.equal(alone.status, 0, 'on its own the forged ledger looks intact');
    const caught = cli(b, forged, ['verify', '--trusted', loc, '--json']);
    assert.equal(caught.status, 1);
    assert.ok((JSON.parse(caught.stdout) as { problems: { kind: string }[] }).problems.some((p) => p.kind === 'fork'));
    const before = await b.snapshot(loc);
    const refused = cli(b, forged, ['archive', '--to', loc]);
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /fork/);
    assert.match(refused.stdout, /nothing was written/);
    assert.deepEqual(await b.snapshot(loc), before, 'nothing was written');
  });

  it('a ledger restored from a backup and appended to: auto-archive refuses and later runs say so on stderr; verify checks the configured archive by default', async () => {
    const b = get();
    const loc = await b.newLocation();
    const ledger = makeLedger(5);
    const cfgPath = join(ledger, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, 'utf8')) as object), archive: { to: loc, auto: true } }));
    const backup = fresh('backup');
    cpSync(ledger, backup, { recursive: true });
    addEntries(ledger, 3);
    assert.equal(cli(b, ledger, ['archive']).status, 0);
    const intact = cli(b, ledger, ['verify']);
    assert.equal(intact.status, 0, intact.stderr);
    assert.match(intact.stdout, new RegExp(`INTACT: all 8 entries are exactly as signed, and the log extends the checkpoint at size 8 of the archive ${loc}.* \\(named in the ledger's config\\)`));
    assert.equal(intact.stderr, '');

    // The backup restored, and the work goes on: a different history from entry 5 on, innocently.
    rmSync(ledger, { recursive: true });
    cpSync(backup, ledger, { recursive: true });
    addEntries(ledger, 4);
    const capture = (name: string) => cli(b, ledger, ['ffmpeg', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=64x48:rate=10', '-y', `${fresh(name)}.mp4`]);
    const first = capture('first');
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stderr, '', 'the first run returns before its archive has run');
    const refused = join(ledger, REFUSED_FILE);
    for (let i = 0; i < 600 && !(existsSync(refused) && archiveLockHolder(ledger) === undefined); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(refused), 'the background archive refused');
    assert.match(readFileSync(join(ledger, 'archive.log'), 'utf8'), /REFUSED: the local log is not an append-only extension of the archive/);
    const before = await b.snapshot(loc);
    const second = capture('second');
    assert.equal(second.status, 0, 'the run keeps FFmpeg\'s status');
    const line = new RegExp(
      `^ffaudit: automatic archiving to ${loc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is REFUSED since \\S+ \\(fork at size 8\\): the local log is not an append-only extension of the archive \\(an older copy of the ledger restored from a backup and new entries appended, or a history rewritten with the signing key\\); nothing is archived until this is resolved: run ffaudit verify, and see ${join(ledger, 'archive.log')}\n$`,
    );
    assert.match(second.stderr, line);
    const refusals = () => readFileSync(join(ledger, 'archive.log'), 'utf8').split('REFUSED').length - 1;
    for (let i = 0; i < 600 && !(refusals() === 2 && archiveLockHolder(ledger) === undefined); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(refusals(), 2, 'the second run\'s archive refused too');
    assert.deepEqual(await b.snapshot(loc), before, 'nothing was archived');

    // verify checks the ledger against the configured archive by default: the fork is a finding, worded with both causes.
    const v = cli(b, ledger, ['verify']);
    assert.equal(v.status, 1, v.stderr);
    assert.match(v.stdout, /✗ fork \(size 8\): the log's first 8 entries do not hash to the trusted checkpoint's root: an older copy of the ledger was restored and new entries appended, or history was rewritten with the signing key/);
    assert.match(v.stdout, /fork: the log is not an extension of the checkpoint you trusted: an older copy of the ledger was restored \(from a backup, say\) and new entries appended to it, or history was rewritten with the signing key/);
    const skipped = cli(b, ledger, ['verify', '--no-archive']);
    assert.equal(skipped.status, 0, 'on its own the restored ledger is intact');
    assert.match(skipped.stdout, /\(a rollback to an older copy of the ledger, or a history rewritten with the signing key, is caught only against a\n {9}checkpoint kept elsewhere: --trusted CHECKPOINT, an archive, or the team server: --trusted https:\/\/SERVER\)/);
  });

  it('refuses to archive entries whose report was deleted from the ledger (first, incremental and --full runs)', async () => {
    const b = get();
    // A first archive: nothing at all is written, not even the vkey.
    const first = makeLedger(8, 3);
    deleteBlob(first, reportOf(first, 1));
    const empty = await b.newLocation();
    const r0 = cli(b, first, ['archive', '--to', empty, '--json']);
    assert.equal(r0.status, 1, r0.stderr);
    assert.deepEqual((JSON.parse(r0.stdout) as { problems: { kind: string; index: number }[] }).problems.map((p) => `${p.kind}@${p.index}`), ['blob-missing@1']);
    assert.equal(await b.read(empty, 'checkpoint'), undefined);
    assert.equal(await b.read(empty, 'vkey'), undefined);

    // Later runs: what was archived stays as it was.
    const ledger = makeLedger(20);
    const loc = await b.newLocation();
    assert.equal(cli(b, ledger, ['archive', '--to', loc]).status, 0);
    addEntries(ledger, 5, 2); // entries 20 and 21 name a report each
    deleteBlob(ledger, reportOf(ledger, 21));
    const before = await b.snapshot(loc);
    for (const extra of [[], ['--full']]) {
      const r = cli(b, ledger, ['archive', '--to', loc, ...extra]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /REFUSED: entries to be archived name reports or values that are missing from the ledger/);
      assert.match(r.stdout, new RegExp(`✗ blob-missing \\(entry 21\\): blob ${reportOf(ledger, 21)}, named by entry 21, is missing from the ledger`));
      assert.equal(r.stderr, '');
      assert.deepEqual(await b.snapshot(loc), before, `nothing was written (${extra.join(' ') || 'incremental'})`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------

describe('archive to a directory', () => {
  const b = dirBackend();
  scenarios(() => b);

  it('makes files read-only and immutable, and verify --from finds what an attacker with root changes', async () => {
    const ledger = makeLedger(30, 1);
    const loc = await b.newLocation();
    const r = cli(b, ledger, ['archive', '--to', loc]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(join(loc, 'checkpoint')).isSymbolicLink(), 'checkpoint is a link into checkpoints/');
    const bundle = join(loc, 'tile/entries/000.p/30');
    assert.equal(statSync(bundle).mode & 0o222, 0, 'read-only');
    if (process.getuid?.() === 0 && /immutable/.test(r.stdout) && !/could not/.test(r.stdout)) {
      assert.throws(() => writeFileSync(bundle, 'x'), { code: 'EPERM' });
      assert.throws(() => unlinkSync(bundle), { code: 'EPERM' });
    } else {
      assert.match(r.stdout, /could not be made immutable/);
    }
    // The attacker lifts the protection and edits one entry.
    spawnSync('chattr', ['-i', bundle]);
    chmodSync(bundle, 0o644);
    const bytes = readFileSync(bundle);
    const at = bytes.indexOf('note 7');
    bytes.write('NOTE 7', at);
    writeFileSync(bundle, bytes);
    const v = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey'), '--json']);
    assert.equal(v.status, 1);
    const problems = (JSON.parse(v.stdout) as { problems: { kind: string; index?: number; detail: string }[] }).problems;
    assert.ok(problems.some((p) => p.kind === 'entry-modified' && p.index === 7), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.kind === 'not-locked' && p.detail.includes('tile/entries/000.p/30')));
    assert.ok(problems.some((p) => p.kind === 'root-mismatch'));
  });

  it('verify --from finds a report deleted from the archive, naming the entry that names it', async () => {
    const ledger = makeLedger(12, 3);
    const loc = await b.newLocation();
    assert.equal(cli(b, ledger, ['archive', '--to', loc]).status, 0);
    assert.equal(cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey')]).status, 0);
    const blob = join(loc, 'blob', reportOf(ledger, 2));
    spawnSync('chattr', ['-i', blob]);
    unlinkSync(blob);
    const v = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey'), '--json']);
    assert.equal(v.status, 1);
    const problems = (JSON.parse(v.stdout) as { problems: { kind: string; index?: number }[] }).problems;
    assert.deepEqual(problems.map((p) => `${p.kind}@${p.index}`), ['blob-missing@2']);
  });

  it('verify warns, naming it, when the archive its config names cannot be read, and keeps the ledger\'s own verdict', () => {
    const ledger = makeLedger(3);
    const cfgPath = join(ledger, 'config.json');
    const config = JSON.parse(readFileSync(cfgPath, 'utf8')) as object;
    const missing = fresh('nowhere');
    for (const [to, why] of [
      [missing, `no archive at ${missing}`],
      ['s3://no-such-bucket/x', 'S3 GetObject s3://no-such-bucket/x/checkpoint failed: '],
    ] as const) {
      writeFileSync(cfgPath, JSON.stringify({ ...config, archive: { to, endpoint: 'http://127.0.0.1:9' } }));
      for (const json of [false, true]) {
        const v = cli(b, ledger, ['verify', ...(json ? ['--json'] : [])]);
        assert.equal(v.status, 0, v.stderr);
        assert.ok(v.stderr.startsWith(`ffaudit: warning: the ledger was not checked against the archive its config names (${to}): ${why}`), v.stderr);
        assert.equal(v.stderr.split('\n').length, 2, 'one line');
        if (json) assert.deepEqual(JSON.parse(v.stdout), { ok: true, size: 3, problems: [] });
        else assert.match(v.stdout, /INTACT: all 3 entries are exactly as signed\.\n/);
      }
      // An archive that exists but holds nothing yet is a warning too; --no-archive and --trusted skip the configured archive.
      assert.equal(cli(b, ledger, ['verify', '--no-archive']).stderr, '');
      writeFileSync(join(ledger, 'saved.checkpoint'), ledgerInfo(ledger).checkpoint);
      const t = cli(b, ledger, ['verify', '--trusted', join(ledger, 'saved.checkpoint')]);
      assert.equal(t.status, 0);
      assert.equal(t.stderr, '');
    }
    const empty = fresh('empty');
    mkdirSync(empty);
    writeFileSync(cfgPath, JSON.stringify({ ...config, archive: { to: empty } }));
    const v = cli(b, ledger, ['verify']);
    assert.equal(v.status, 0);
    assert.equal(v.stderr, `ffaudit: warning: the ledger was not checked against the archive its config names (${empty}): it holds no checkpoint (nothing was archived there yet)\n`);
  });

  it('an archive that succeeds where one was refused ends the refusal runs report', async () => {
    const ledger = makeLedger(4);
    const loc = await b.newLocation();
    const cfgPath = join(ledger, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, 'utf8')) as object), archive: { to: loc, auto: true } }));
    recordArchiveRefusal(ledger, loc, [{ kind: 'rollback', size: 9 }]);
    const said: string[] = [];
    const stderr = { write: (s: string) => said.push(s) };
    recordArchiveRefusal(ledger, `${loc}-elsewhere`, [{ kind: 'fork', size: 2 }]);
    const exited = async (pid: number | undefined) => {
      assert.ok(pid !== undefined, 'an archive was started');
      for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await exited(startAutoArchive(ledger, stderr));
    assert.deepEqual(said, [], 'a refusal recorded for another location is not this archive\'s');
    assert.equal(existsSync(join(ledger, REFUSED_FILE)), true, 'and it stays');
    recordArchiveRefusal(ledger, loc, [{ kind: 'rollback', size: 9 }, { kind: '<b>\u001b[31m', size: 1 }]);
    await exited(startAutoArchive(ledger, stderr));
    assert.equal(said.length, 1);
    assert.match(said[0]!, /^ffaudit: automatic archiving to \S+ is REFUSED since \S+ \(rollback at size 9\): the local log is not an append-only extension of the archive \(an older copy/);
    assert.equal(existsSync(join(ledger, REFUSED_FILE)), false, 'the archive succeeded: the refusal is over');
    await exited(startAutoArchive(ledger, stderr));
    assert.equal(said.length, 1, 'and no later run reports it');

    // The folder is hostile: a FIFO there is no refusal and never a wait; a link there is never written through.
    const fifo = join(ledger, REFUSED_FILE);
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    await exited(startAutoArchive(ledger, stderr));
    assert.equal(said.length, 1);
    rmSync(fifo);
    const outside = join(fresh('outside'), 'precious');
    mkdirSync(dirname(outside));
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, fifo);
    recordArchiveRefusal(ledger, loc, [{ kind: 'fork', size: 1 }]);
    assert.equal(readFileSync(outside, 'utf8'), 'keep me');
    assert.equal(lstatSync(fifo).isFile(), true, 'the link was replaced by a file');
    rmSync(join(ledger, 'archive.log'));
    symlinkSync(outside, join(ledger, 'archive.log'));
    assert.equal(startAutoArchive(ledger, stderr), undefined, 'no archive logs through a link');
    assert.equal(readFileSync(outside, 'utf8'), 'keep me');
  });

  it('refuses to build on a checkpoint an interrupted run left from another history', async () => {
    const honest = makeLedger(20);
    const loc = await b.newLocation();
    assert.equal(cli(b, honest, ['archive', '--to', loc]).status, 0);
    const stolenKey = join(fresh('stolen'), 'signing.key');
    spawnSync('mkdir', ['-p', dirname(stolenKey)]);
    copyFileSync(join(honest, 'signing.key'), stolenKey);
    const forged = makeLedger(25, 0, { origin: ledgerInfo(honest).origin, keyPath: stolenKey, text: 'forged' });
    // As if a run of the forged ledger had been killed just before publishing its checkpoint.
    writeFileSync(join(loc, 'checkpoints', '25'), ledgerInfo(forged).checkpoint, { mode: 0o444 });
    addEntries(honest, 10);
    const before = await b.snapshot(loc);
    const r = cli(b, honest, ['archive', '--to', loc, '--json']);
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: { kind: string }[] };
    assert.deepEqual(out.problems.map((p) => p.kind), ['fork']);
    assert.deepEqual(await b.snapshot(loc), before, 'nothing was written');
  });

  it('reports archive-behind when local entries stay unarchived longer than archive.maxLag', async () => {
    const ledger = makeLedger(5);
    const loc = await b.newLocation();
    assert.equal(cli(b, ledger, ['archive', '--to', loc]).status, 0);
    const cfgPath = join(ledger, 'config.json');
    const config = JSON.parse(readFileSync(cfgPath, 'utf8')) as object;
    const setMaxLag = (maxLag: string) => writeFileSync(cfgPath, JSON.stringify({ ...config, archive: { maxLag } }));
    addEntries(ledger, 2);
    // An hour's limit cannot have passed, however slow the machine; then a second's, after waiting longer than that.
    setMaxLag('1h');
    assert.equal(cli(b, ledger, ['verify', '--trusted', loc]).status, 0, 'not yet older than the limit');
    setMaxLag('1s');
    await new Promise((r) => setTimeout(r, 1500));
    const v = cli(b, ledger, ['verify', '--trusted', loc, '--json']);
    assert.equal(v.status, 1);
    const problems = (JSON.parse(v.stdout) as { problems: { kind: string; index?: number }[] }).problems;
    assert.deepEqual(problems.map((p) => [p.kind, p.index]), [['archive-behind', 5]]);
    assert.equal(cli(b, ledger, ['archive', '--to', loc]).status, 0);
    assert.equal(cli(b, ledger, ['verify', '--trusted', loc]).status, 0);
  });

  it('archives by itself: scheduleAutoArchive starts a background archive without waiting, and --watch keeps up', async () => {
    const ledger = makeLedger(12);
    const loc = await b.newLocation();
    assert.equal(startAutoArchive(ledger), undefined, 'nothing configured: nothing started');
    const cfgPath = join(ledger, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, 'utf8')) as object), archive: { to: loc, auto: true } }));
    const t0 = process.hrtime.bigint();
    const pid = startAutoArchive(ledger);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(pid !== undefined);
    assert.ok(ms < 500, `returned in ${ms} ms`);
    for (let i = 0; i < 400; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(readFileSync(join(loc, 'checkpoint'), 'utf8'), ledgerInfo(ledger).checkpoint);

    const watch = spawn(process.execPath, [BIN, '--ledger', ledger, 'archive', '--watch', '--interval', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((res) => watch.on('exit', (code) => res(code)));
    addEntries(ledger, 3);
    const want = ledgerInfo(ledger).checkpoint;
    let caughtUp = false;
    for (let i = 0; i < 200 && !caughtUp; i++) {
      await new Promise((r) => setTimeout(r, 50));
      caughtUp = existsSync(join(loc, 'checkpoint')) && readFileSync(join(loc, 'checkpoint'), 'utf8') === want;
    }
    watch.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(caughtUp, 'the watcher archived the new entries');
  });

  it('refuses bad options with one line and exit 2', () => {
    const ledger = makeLedger(1);
    for (const args of [
      ['archive', '--to', fresh('a'), '--retain', '7w'],
      ['archive', '--to', fresh('a'), '--mode', 'strict'],
      ['archive'],
      ['archive', '--to', 'ftp://host/x'],
      ['archive', '--watch', '--interval', 'soon', '--to', fresh('a')],
    ]) {
      const r = cli(b, ledger, args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /^ffaudit: /);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Incremental runs on S3, in-process: what a run asks and writes (counted by a wrapper around the real target),
// runs stopped at each step before the checkpoint is published, and a forged archive checkpoint.

const retention = parseRetention('governance', '1d');

function incNote(text: string): CustodyNote {
  return note(++seq, text);
}

/** Appends `count` notes; the first `reports` of them name a fresh report each, as a run's end entry does. */
function incGrow(l: Ledger, count: number, reports: number): string[] {
  const shas: string[] = [];
  shas.push(...l.putBlobs(Array.from({ length: reports }, () => prepareBlob(randomBytes(1024)))));
  l.append(Array.from({ length: count }, (_, k) => (k < reports ? { ...incNote('run'), report_sha256: shas[k]! } : incNote('note'))));
  return shas;
}

/** The names a tree of `to` leaves has and one of `from` leaves has not. */
function newTiles(from: number, to: number): string[] {
  const old = new Set(tilesForSize(from).map((t) => tilePath(t)));
  return tilesForSize(to)
    .map((t) => tilePath(t))
    .filter((n) => !old.has(n));
}

/** The real target, with every call counted; `failOn` makes a call throw, as a run killed at that point stops. */
class CountingTarget implements ArchiveTarget {
  readonly calls = { put: [] as string[], has: [] as string[], list: [] as string[], listRange: [] as string[], get: [] as string[], publish: 0 };
  constructor(
    private readonly inner: ArchiveTarget,
    private readonly failOn?: (call: 'put' | 'publish', name: string) => boolean,
  ) {}
  get location(): string {
    return this.inner.location;
  }
  get parallelListing(): boolean {
    return this.inner.parallelListing;
  }
  get exclusiveCreate(): boolean {
    return this.inner.exclusiveCreate;
  }
  list(prefix: string): Promise<string[]> {
    this.calls.list.push(prefix);
    return this.inner.list(prefix);
  }
  listRange(prefix: string, a: string, b: string): Promise<string[]> {
    this.calls.listRange.push(prefix);
    return this.inner.listRange(prefix, a, b);
  }
  has(name: string): Promise<boolean> {
    this.calls.has.push(name);
    return this.inner.has(name);
  }
  get(name: string): Promise<StoredObject | undefined> {
    this.calls.get.push(name);
    return this.inner.get(name);
  }
  prepare(): Promise<void> {
    return this.inner.prepare();
  }
  put(name: string, data: Buffer, r: Retention): Promise<boolean> {
    if (this.failOn?.('put', name)) return Promise.reject(new Error(`stopped before writing ${name}`));
    this.calls.put.push(name);
    return this.inner.put(name, data, r);
  }
  publishCheckpoint(data: Buffer, size: number, r: Retention): Promise<void> {
    if (this.failOn?.('publish', 'checkpoint')) return Promise.reject(new Error('stopped before publishing the checkpoint'));
    this.calls.publish++;
    return this.inner.publishCheckpoint(data, size, r);
  }
  finish(): Promise<string | undefined> {
    return this.inner.finish();
  }
  close(): void {
    this.inner.close();
  }
}


function incrementalScenarios(get: () => { s3: typeof S3Sdk; client: S3Sdk.S3Client; live: { endpoint: string; env: Record<string, string> } }): void {
  let s3: typeof S3Sdk;
  let client: S3Sdk.S3Client;
  let live: { endpoint: string; env: Record<string, string> };
  before(() => {
    ({ s3, client, live } = get());
    Object.assign(process.env, live.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  });

  const newBucket = async (): Promise<string> => {
    const bucket = `ffaudit-inc-${randomBytes(6).toString('hex')}`;
    await client.send(new s3.CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    return bucket;
  };
  const open = async (bucket: string): Promise<ArchiveTarget> => openTarget(`s3://${bucket}/log`, { endpoint: live.endpoint });
  /** Every key under log/ and how many versions it has. */
  const versions = async (bucket: string): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const r = await client.send(new s3.ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'log/', KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
      for (const v of r.Versions ?? []) out.set(v.Key!.slice(4), (out.get(v.Key!.slice(4)) ?? 0) + 1);
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return out;
  };
  const read = async (bucket: string, name: string): Promise<string> => {
    const r = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: `log/${name}` }));
    return r.Body!.transformToString();
  };
  /** A ledger of `entries` notes, `reports` of them naming reports, archived once into a new bucket. */
  const archived = async (entries: number, reports: number): Promise<{ l: Ledger; bucket: string; shas: string[] }> => {
    const l = Ledger.init(fresh('ledger'), {});
    const shas = incGrow(l, entries, reports);
    const bucket = await newBucket();
    const t = await open(bucket);
    try {
      const r = await archiveLedger(l, t, { retention });
      assert.equal(r.mode, 'full', 'a first run lists the (empty) archive');
    } finally {
      t.close();
    }
    return { l, bucket, shas };
  };
  const run = async (l: Ledger, target: ArchiveTarget, full = false): Promise<ArchiveResult> => {
    try {
      return await archiveLedger(l, target, { retention, full });
    } finally {
      target.close();
    }
  };
  const verifyIntact = async (bucket: string, l: Ledger, size: number) => {
    const t = await open(bucket);
    try {
      const v = await verifyArchive(t, { pubkey: l.vkey });
      assert.deepEqual(v.problems, []);
      assert.equal(v.size, size);
    } finally {
      t.close();
    }
  };

  it('writes only the new objects, asks only about blobs an older entry may name, and lists only the new checkpoint range', async () => {
    const { l, bucket, shas } = await archived(600, 30);
    const before = await versions(bucket);
    const fresh = incGrow(l, 39, 10);
    // A note that names an archived report again (any 64-hex mention of a stored blob counts).
    l.append([{ ...incNote(`re-examined the report ${shas[3]!}`) }]);
    const t = new CountingTarget(await open(bucket));
    const r = await run(l, t);
    assert.equal(r.mode, 'incremental');
    assert.equal(r.previousSize, 600);
    assert.equal(r.size, 640);
    assert.deepEqual(t.calls.list, [], 'no listing of tiles, blobs or checkpoints');
    assert.deepEqual(t.calls.listRange, ['checkpoints/']);
    assert.deepEqual(t.calls.has, [`blob/${shas[3]!}`], 'only the report named again is asked about');
    assert.deepEqual(t.calls.get, ['checkpoint']);
    const tiles = newTiles(600, 640);
    assert.deepEqual(tiles, ['tile/0/002.p/128', 'tile/entries/002.p/128'], 'tile/1/000.p/2 is the same for 600 and 640');
    assert.deepEqual([...t.calls.put].sort(), [...tiles, ...fresh.map((s) => `blob/${s}`), 'checkpoints/640'].sort());
    assert.equal(t.calls.publish, 1);
    assert.deepEqual(r.written, { tiles: 1, bundles: 1, blobs: 10, checkpoint: true, vkey: false });
    assert.equal(r.alreadyThere, 1);
    const afterRun = await versions(bucket);
    for (const [k, n] of afterRun) assert.equal(n, k === 'checkpoint' ? 2 : 1, `${k}: ${n} versions`);
    assert.equal(afterRun.size, before.size + tiles.length + 10 + 1, 'exactly the new objects were added');
    await verifyIntact(bucket, l, 640);

    // Nothing new: one GET and one small listing, nothing written.
    const idle = new CountingTarget(await open(bucket));
    const r2 = await run(l, idle);
    assert.deepEqual(r2.written, { tiles: 0, bundles: 0, blobs: 0, checkpoint: false, vkey: false });
    assert.deepEqual([idle.calls.put, idle.calls.has, idle.calls.list, idle.calls.publish], [[], [], [], 0]);
    l.close();
  });

  it('completes a run stopped after its reports and tiles, before any checkpoint, writing nothing twice', async () => {
    const { l, bucket } = await archived(300, 20);
    const fresh = incGrow(l, 100, 20);
    const stopped = new CountingTarget(await open(bucket), (call, name) => call === 'put' && name.startsWith('checkpoints/'));
    await assert.rejects(run(l, stopped), /stopped before writing checkpoints\/400/);
    assert.equal(stopped.calls.put.length, newTiles(300, 400).length + 20, 'every tile and report was written');
    assert.match(await read(bucket, 'checkpoint'), /\n300\n/, 'the archive still says 300');
    assert.ok(readPendingRun(l.dir, stopped.location), 'the journal records the unfinished run');
    await verifyIntact(bucket, l, 300);

    const next = new CountingTarget(await open(bucket));
    const r = await run(l, next);
    assert.equal(r.mode, 'incremental');
    assert.deepEqual(r.written, { tiles: 0, bundles: 0, blobs: 0, checkpoint: true, vkey: false });
    assert.equal(r.alreadyThere, newTiles(300, 400).length + 20);
    assert.deepEqual([...next.calls.has].sort(), [...newTiles(300, 400), ...fresh.map((s) => `blob/${s}`)].sort(), 'the names in doubt were asked about');
    assert.deepEqual(next.calls.put, ['checkpoints/400']);
    for (const [k, n] of await versions(bucket)) assert.equal(n, k === 'checkpoint' ? 2 : 1, `${k}: ${n} versions`);
    assert.equal(readPendingRun(l.dir, next.location), undefined, 'the journal is cleared');
    await verifyIntact(bucket, l, 400);
    l.close();
  });

  it('completes a run stopped between checkpoints/<size> and the checkpoint', async () => {
    const { l, bucket } = await archived(100, 5);
    incGrow(l, 10, 3);
    await assert.rejects(run(l, new CountingTarget(await open(bucket), (call) => call === 'publish')), /stopped before publishing/);
    assert.match(await read(bucket, 'checkpoint'), /\n100\n/);
    const next = new CountingTarget(await open(bucket));
    const r = await run(l, next);
    assert.deepEqual(r.written, { tiles: 0, bundles: 0, blobs: 0, checkpoint: true, vkey: false });
    assert.deepEqual(next.calls.put, [], 'checkpoints/110 was found by the range listing, not written again');
    assert.equal(next.calls.publish, 1);
    for (const [k, n] of await versions(bucket)) assert.equal(n, k === 'checkpoint' ? 2 : 1, `${k}: ${n} versions`);
    await verifyIntact(bucket, l, 110);
    l.close();
  });

  it('without the journal (lost, or another machine stopped), still completes the archive; --full repairs a missing report', async () => {
    const { l, bucket } = await archived(200, 10);
    const fresh = incGrow(l, 50, 10);
    const t = new CountingTarget(await open(bucket), (call, name) => call === 'put' && name.startsWith('checkpoints/'));
    await assert.rejects(run(l, t));
    for (const f of readdirSync(l.dir)) if (f.startsWith('archive-pending-')) unlinkSync(join(l.dir, f));
    const r = await run(l, await open(bucket));
    assert.equal(r.size, 250);
    // On a server that ignores If-None-Match the objects of the stopped run gain an identical second version.
    const v = await versions(bucket);
    for (const s of fresh) assert.ok([1, 2].includes(v.get(`blob/${s}`) ?? 0), `blob/${s}`);
    await verifyIntact(bucket, l, 250);

    // A report that never reached the archive (as if written by hand around the tool) is found by --full only.
    const data = randomBytes(512);
    const orphan = createHash('sha256').update(data).digest('hex');
    l.putBlob(data);
    const inc = await run(l, await open(bucket));
    assert.equal(inc.written.blobs, 0, 'an incremental run writes the blobs new entries name');
    const full = await run(l, await open(bucket), true);
    assert.equal(full.mode, 'full');
    assert.deepEqual(full.written, { tiles: 0, bundles: 0, blobs: 1, checkpoint: false, vkey: false });
    assert.ok((await versions(bucket)).has(`blob/${orphan}`));
    l.close();
  });

  it('refuses to build on a forged archive checkpoint: exact finding, exit status 1, nothing written', async () => {
    const { l, bucket } = await archived(50, 2);
    incGrow(l, 5, 1);
    const dir = l.dir;
    l.close();
    const genuine = await read(bucket, 'checkpoint');
    const forgeries = [
      ['a size changed, signature kept', genuine.replace('\n50\n', '\n60\n'), 60],
      ['not a checkpoint at all', 'hello\n', undefined],
    ] as const;
    for (const [what, forged, size] of forgeries) {
      // The attacker can add a version (governance mode keeps the locked one underneath, but readers see the latest).
      await client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: 'log/checkpoint', Body: forged }));
      const before = await versions(bucket);
      const env = { ...process.env, ...live.env, AWS_ENDPOINT_URL_S3: live.endpoint };
      const r = spawnSync(process.execPath, [BIN, '--ledger', dir, 'archive', '--to', `s3://${bucket}/log`, '--json'], { encoding: 'utf8', env });
      assert.equal(r.status, 1, `${what}: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { ok: boolean; problems: { kind: string; size?: number; detail: string }[] };
      assert.equal(out.ok, false);
      assert.deepEqual(
        out.problems.map((p) => [p.kind, p.size]),
        [['checkpoint-signature-invalid', size]],
        what,
      );
      assert.match(out.problems[0]!.detail, size === undefined ? /checkpoint is malformed/ : /\(size 60\) is not validly signed by this log's key/);
      const text = spawnSync(process.execPath, [BIN, '--ledger', dir, 'archive', '--to', `s3://${bucket}/log`, '--full'], { encoding: 'utf8', env });
      assert.equal(text.status, 1, '--full refuses too');
      assert.match(text.stdout, /REFUSED: the archive's checkpoint is not validly signed by this log's key; nothing was written/);
      assert.deepEqual(await versions(bucket), before, 'nothing was written');
    }
    assert.ok(!existsSync(join(dir, 'archive.lock')));
  });
}

const server = startS3TestServer();
describe('archive to S3 with Object Lock (Ceph RGW)', { skip: 'skip' in server ? server.skip : false }, () => {
  let b: Awaited<ReturnType<typeof s3Backend>>;
  before(async () => {
    if ('skip' in server) return;
    b = await s3Backend(server.endpoint, server.env);
  });
  after(() => {
    if (!('skip' in server)) {
      b?.client.destroy();
      server.stop();
    }
  });
  scenarios(() => b);
  describe('incremental runs', () => incrementalScenarios(() => ({ s3: b.s3, client: b.client, live: server as S3TestServer })));

  it('writes every object with Object Lock; a locked version can be neither deleted nor overwritten', async () => {
    const ledger = makeLedger(10, 1);
    const loc = await b.newLocation();
    const r = cli(b, ledger, ['archive', '--to', loc, '--mode', 'compliance', '--retain', '2d']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /compliance mode until/);
    const [bucket, ...rest] = loc.slice(5).split('/');
    const prefix = `${rest.join('/')}/`;
    const snap = await b.snapshot(loc);
    for (const k of snap.keys()) {
      const h = await b.client.send(new b.s3.HeadObjectCommand({ Bucket: bucket, Key: prefix + k }));
      assert.equal(h.ObjectLockMode, 'COMPLIANCE', k);
      const days = (h.ObjectLockRetainUntilDate!.getTime() - Date.now()) / 86_400_000;
      assert.ok(days > 1.9 && days <= 2, `${k} retained ${days} days`);
    }
    const key = `${prefix}tile/entries/000.p/10`;
    const version = snap.get('tile/entries/000.p/10')![0]!;
    const original = await b.read(loc, 'tile/entries/000.p/10');
    await assert.rejects(b.client.send(new b.s3.DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: version })), { name: 'AccessDenied' });
    await assert.rejects(
      b.client.send(new b.s3.DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: version, BypassGovernanceRetention: true })),
      { name: 'AccessDenied' },
    );
    // An "overwrite" only adds a version; the locked one stays, byte for byte, and verify flags the unlocked fake.
    await b.client.send(new b.s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('forged') }));
    const kept = await b.client.send(new b.s3.GetObjectCommand({ Bucket: bucket, Key: key, VersionId: version }));
    assert.deepEqual(Buffer.from(await kept.Body!.transformToByteArray()), original);
    const v = cli(b, undefined, ['verify', '--from', loc, '--pubkey', join(ledger, 'vkey'), '--json']);
    assert.equal(v.status, 1);
    const problems = (JSON.parse(v.stdout) as { problems: { kind: string; detail: string }[] }).problems;
    assert.ok(problems.some((p) => p.kind === 'not-locked' && p.detail.includes('tile/entries/000.p/10')), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.kind === 'entry-modified'));
  });

  it('refuses a bucket without Object Lock, and never prints or records credentials', async () => {
    const ledger = makeLedger(3, 1);
    const plain = `ffaudit-test-${randomBytes(6).toString('hex')}`;
    await b.client.send(new b.s3.CreateBucketCommand({ Bucket: plain }));
    const r = cli(b, ledger, ['archive', '--to', `s3://${plain}/x`]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no Object Lock/);
    const inUrl = cli(b, ledger, ['archive', '--to', `s3://${b.env.AWS_ACCESS_KEY_ID}:${b.env.AWS_SECRET_ACCESS_KEY}@bucket/x`]);
    assert.equal(inUrl.status, 2);
    const badSecret = spawnSync(process.execPath, [BIN, '--ledger', ledger, 'archive', '--to', await b.newLocation()], {
      encoding: 'utf8',
      env: { ...process.env, ...b.env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-0123456789' },
    });
    transcript.push(badSecret.stdout, badSecret.stderr);
    assert.equal(badSecret.status, 2);
    assert.ok(!badSecret.stderr.includes('wrong-secret-0123456789'));
    const loc = await b.newLocation();
    assert.equal(cli(b, ledger, ['archive', '--to', loc, '--endpoint', b.env.AWS_ENDPOINT_URL_S3!]).status, 0);
    // verify finds the same server by --endpoint (or the ledger's archive config) when the environment names none.
    const bare: NodeJS.ProcessEnv = { ...process.env, ...b.env };
    delete bare.AWS_ENDPOINT_URL_S3;
    delete bare.AWS_ENDPOINT_URL;
    const verifyBare = (args: string[]) => {
      const r = spawnSync(process.execPath, [BIN, '--ledger', ledger, 'verify', ...args, '--json'], { encoding: 'utf8', env: bare, timeout: 120_000 });
      transcript.push(r.stdout, r.stderr);
      return r;
    };
    for (const args of [['--from', loc, '--pubkey', join(ledger, 'vkey'), '--endpoint', b.env.AWS_ENDPOINT_URL_S3!], ['--trusted', loc, '--endpoint', b.env.AWS_ENDPOINT_URL_S3!]]) {
      const v = verifyBare(args);
      assert.equal(v.status, 0, `verify ${args[0]}: ${v.stderr}`);
      assert.equal((JSON.parse(v.stdout) as { ok: boolean }).ok, true);
    }
    // The trust anchor is never fetched from where the ledger's own config says: whoever rewrote the ledger could
    // point it at a server of their own. A config naming another endpoint is ignored.
    const cfgFile = join(ledger, 'config.json');
    const before = readFileSync(cfgFile, 'utf8');
    writeFileSync(cfgFile, JSON.stringify({ ...(JSON.parse(before) as object), archive: { to: loc, endpoint: 'http://127.0.0.1:9' } }));
    const ignored = cli(b, ledger, ['verify', '--trusted', loc, '--json']);
    assert.equal(ignored.status, 0, ignored.stderr);
    writeFileSync(cfgFile, before);
    // Auto-archive's log, the config and the database: none holds a credential.
    const cfgPath = join(ledger, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(readFileSync(cfgPath, 'utf8')) as object), archive: { to: loc, auto: true } }));
    addEntries(ledger, 1);
    const child = spawnSync(process.execPath, [BIN, '--ledger', ledger, 'archive'], { encoding: 'utf8', env: { ...process.env, ...b.env } });
    transcript.push(child.stdout, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    const secrets = [b.env.AWS_SECRET_ACCESS_KEY!, b.env.AWS_ACCESS_KEY_ID!];
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk : (p: string) => files.push(p))(join(d, e.name));
    };
    walk(ledger);
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const s of secrets) assert.ok(!bytes.includes(s), `${f} holds a credential`);
    }
    for (const text of transcript) for (const s of secrets) assert.ok(!text.includes(s), `output holds a credential: ${text.slice(0, 200)}`);
  });
});
