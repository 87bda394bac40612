/**
 * Shared test fixtures: the project's paths, temporary directories, a CLI runner, a seeded PRNG and an independent
 * naive Merkle tree hash. Only tests import this module (it is left out of the published package).
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file compiles to dist/testing/fixtures.js). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Known-answer vectors from outside the project, with their provenance and licences (testdata/vectors/README.md). */
export const VECTORS_DIR = join(PROJECT_ROOT, 'testdata', 'vectors');
export const CLI = join(PROJECT_ROOT, 'bin', 'ffaudit.js');

/** A fresh temporary directory; `cleanup` removes it. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ffaudit-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An environment without any ffaudit variable, so that a test names its ledger itself. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FFAUDIT_') && k !== 'XDG_DATA_HOME') env[k] = v;
  return { ...env, ...extra };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** Runs `bin/ffaudit.js` with an argument array (never a shell). */
export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): CliResult {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [CLI, ...args], {
    env: opts.env ?? cleanEnv(),
    cwd: opts.cwd ?? PROJECT_ROOT,
    input: opts.input,
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stdoutBytes: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Runs `bin/ffaudit.js` asynchronously, so that several can run at the same moment. */
export function runCliAsync(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv(), input?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: PROJECT_ROOT });
    child.stdin.end(input ?? '');
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status) => {
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({ status, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Asserts the CLI's error contract: exactly one `ffaudit: …` line on stderr, no stack trace. */
export function isOneErrorLine(stderr: string): boolean {
  return /^ffaudit: [^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr);
}

/** mulberry32: a small seeded PRNG, so that property tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * MTH(D[n]) written straight from RFC 6962 §2.1 by recursion, independent of src/core/merkle.ts, over leaf hashes.
 */
export function naiveRoot(leafHashes: readonly Buffer[]): Buffer {
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const mth = (lo: number, hi: number): Buffer => {
    const n = hi - lo;
    if (n === 0) return sha();
    if (n === 1) return leafHashes[lo]!;
    let k = 1;
    while (k << 1 < n) k <<= 1;
    return sha(Buffer.from([1]), mth(lo, lo + k), mth(lo + k, hi));
  };
  return mth(0, leafHashes.length);
}

/** SHA-256(0x00 ‖ data), written here rather than imported, for the independent checks. */
export function naiveLeaf(data: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(data).digest();
}

/** The `<<<`/`>>>` blocks of testdata/vectors/c2sp-examples.txt, in order, each line ending in a newline. */
export function c2spExamples(): string[] {
  const text = readFileSync(join(VECTORS_DIR, 'c2sp-examples.txt'), 'utf8');
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line === '<<<') current = [];
    else if (line === '>>>' && current) {
      blocks.push(current.map((l) => `${l}\n`).join(''));
      current = undefined;
    } else current?.push(line);
  }
  return blocks;
}

/** PATH(m, D[n]) of RFC 6962 §2.1.1, by recursion over naive roots: the leaf's sibling first. */
export function naivePath(leafHashes: readonly Buffer[], m: number): Buffer[] {
  const n = leafHashes.length;
  if (n <= 1) return [];
  let k = 1;
  while (k << 1 < n) k <<= 1;
  return m < k
    ? [...naivePath(leafHashes.slice(0, k), m), naiveRoot(leafHashes.slice(k))]
    : [...naivePath(leafHashes.slice(k), m - k), naiveRoot(leafHashes.slice(0, k))];
}

/** PROOF(m, D[n]) of RFC 6962 §2.1.2, by recursion over naive roots. */
export function naiveConsistency(leafHashes: readonly Buffer[], m: number): Buffer[] {
  const sub = (d: readonly Buffer[], mm: number, b: boolean): Buffer[] => {
    const n = d.length;
    if (mm === n) return b ? [] : [naiveRoot(d)];
    let k = 1;
    while (k << 1 < n) k <<= 1;
    return mm <= k ? [...sub(d.slice(0, k), mm, b), naiveRoot(d.slice(k))] : [...sub(d.slice(k), mm - k, false), naiveRoot(d.slice(0, k))];
  };
  return m === 0 || m === leafHashes.length ? [] : sub(leafHashes, m, true);
}

/**
 * Checks a C2SP signed checkpoint with node:crypto alone, from c2sp.org/signed-note and tlog-checkpoint, without
 * any of ffaudit's code: returns the origin, size and root it signs, or throws.
 */
export function independentlyOpenCheckpoint(note: string, vkey: string): { origin: string; size: number; root: Buffer } {
  // name+id+key: the name and the hex ID hold no '+', the base64 key may.
  const [, name, idHex, keyB64] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey.trim()) as unknown as [string, string, string, string];
  const typedKey = Buffer.from(keyB64, 'base64');
  if (typedKey[0] !== 0x01 || typedKey.length !== 33) throw new Error('not an Ed25519 vkey');
  const pub = typedKey.subarray(1);
  const keyId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x01]), pub])).digest().subarray(0, 4);
  if (keyId.toString('hex') !== idHex) throw new Error('vkey ID mismatch');
  const split = note.lastIndexOf('\n\n');
  const text = note.slice(0, split + 1);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
  let ok = false;
  for (const line of note.slice(split + 2).split('\n').filter(Boolean)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const sig = Buffer.from(m[2]!, 'base64');
    if (!sig.subarray(0, 4).equals(keyId)) continue;
    if (!cryptoVerify(null, Buffer.from(text, 'utf8'), spki, sig.subarray(4))) throw new Error('bad signature');
    ok = true;
  }
  if (!ok) throw new Error('not signed by the key');
  const [origin, size, root] = text.split('\n') as [string, string, string];
  return { origin, size: Number(size), root: Buffer.from(root, 'base64') };
}
