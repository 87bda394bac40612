/**
 * Incremental archive runs against a real S3 server with Object Lock (Ceph RGW): what a run asks and writes
 * (counted by a wrapper around the real target), runs stopped at each step before the checkpoint is published,
 * and a forged archive checkpoint. Plus the checkpoint listing windows, which must cover every size in a range.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type * as S3Sdk from '@aws-sdk/client-s3';
import { tilePath, tilesForSize } from '../core/tiles.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { startS3TestServer, type S3TestServer } from '../testing/s3-server.js';
import { archiveLedger, type ArchiveResult } from './archive.js';
import { readPendingRun } from './journal.js';
import { checkpointHistoryPath, checkpointHistoryWindows, parseCheckpointHistoryPath } from './layout.js';
import { parseRetention, type Retention } from './retention.js';
import { openTarget, type ArchiveTarget, type StoredObject } from './target.js';
import { verifyArchive } from './verify-archive.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/ffaudit.js');
const work = mkdtempSync(join(tmpdir(), 'ffaudit-incremental-test-'));
after(() => rmSync(work, { recursive: true, force: true }));
const retention = parseRetention('governance', '1d');

describe('checkpoint listing windows', () => {
  it('cover exactly the sizes in a range, whatever digit counts it spans', () => {
    const names = Array.from({ length: 12_001 }, (_, s) => checkpointHistoryPath(s)).sort();
    for (const [from, to] of [
      [0, 9],
      [0, 12_000],
      [7, 12],
      [99, 100],
      [950, 10_050],
      [1000, 1000],
      [4095, 4096],
      [9999, 11_111],
    ] as const) {
      const found = new Set<number>();
      for (const w of checkpointHistoryWindows(from, to)) {
        assert.ok(w.after < w.through);
        for (const n of names) if (n > w.after && n <= w.through) found.add(parseCheckpointHistoryPath(n)!);
      }
      const inRange = [...found].filter((s) => s > from && s <= to).sort((a, b) => a - b);
      assert.deepEqual(inRange, Array.from({ length: to - from }, (_, k) => from + 1 + k), `(${from}, ${to}]`);
    }
    // What a window returns grows with the range, not with the history before it.
    const [w] = checkpointHistoryWindows(10_000, 10_100);
    assert.equal(names.filter((n) => n > w!.after && n <= w!.through).length, 100 + 11, 'the range and the 11 shorter names that sort inside it (1001…1010, 101)');
  });
});

// ---------------------------------------------------------------------------------------------------------------

let seq = 0;
function note(text: string) {
  return { v: 1 as const, type: 'custody.note' as const, time: nowRfc3339(), by: currentAuthor(), text: `${text} ${++seq}`, files: [] };
}

/** Appends `count` notes; the first `reports` of them name a fresh report each, as a run's end entry does. */
function grow(l: Ledger, count: number, reports: number): string[] {
  const shas: string[] = [];
  l.store.appendTransaction((tx) => {
    for (let i = 0; i < reports; i++) {
      const data = randomBytes(1024);
      const sha = createHash('sha256').update(data).digest('hex');
      tx.putBlob(sha, 'gzip', gzipSync(data), data.length);
      shas.push(sha);
    }
  });
  l.append(Array.from({ length: count }, (_, k) => (k < reports ? { ...note('run'), report_sha256: shas[k]! } : note('note'))));
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

const server = startS3TestServer();
describe('incremental archive runs on S3 with Object Lock (Ceph RGW)', { skip: 'skip' in server ? server.skip : false }, () => {
  let s3: typeof S3Sdk;
  let client: S3Sdk.S3Client;
  const live = server as S3TestServer; // used only when not skipped
  before(async () => {
    if ('skip' in server) return;
    Object.assign(process.env, server.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
    s3 = await import('@aws-sdk/client-s3');
    client = new s3.S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1' });
  });
  after(() => {
    if ('skip' in server) return;
    client?.destroy();
    server.stop();
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
    const l = Ledger.init(join(work, `ledger-${++seq}`), {});
    const shas = grow(l, entries, reports);
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
    const fresh = grow(l, 39, 10);
    // A note that names an archived report again (any 64-hex mention of a stored blob counts).
    l.append([{ ...note(`re-examined the report ${shas[3]!}`) }]);
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
    const fresh = grow(l, 100, 20);
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
    grow(l, 10, 3);
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
    const fresh = grow(l, 50, 10);
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
    l.store.appendTransaction((tx) => tx.putBlob(orphan, 'gzip', gzipSync(data), data.length));
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
    grow(l, 5, 1);
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
});
