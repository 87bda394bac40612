/**
 * Every file a run touched, from two sources combined: the command line (what the user named, known before the
 * run) and FFmpeg's own report (what it actually opened: concat-listed files, image-sequence frames, HLS/DASH/segment
 * pieces, movie= and subtitles= sources). Local files are recorded by absolute path with their size and SHA-256;
 * pipes as `pipe:0`/`pipe:1` with the hash of the bytes that streamed through; network URLs redacted, unhashed.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileRecord } from '../core/entry.js';
import type { InputRecord } from '../core/run.js';
import { fileState, sameState, type EarlyHash, type LocalFile, type Operands } from './file-state.js';
import { hashFile, hashInBackground, type FileDigest } from './hash.js';
import type { ReportAnalysis } from '../ffmpeg/ffreport.js';
import { classifyTarget, isSequencePattern, sequenceRegExp, type Target } from './target.js';

export function startHash(file: LocalFile): EarlyHash {
  const before = fileState(file.fsPath);
  const failed = (error: string) => ({ file, before, finish: () => Promise.resolve({ error }), cancel: () => undefined });
  if ('error' in before) return failed(before.error);
  if (!before.regular) return failed('not a regular file');
  const h = hashInBackground(file.fsPath, Number(before.size));
  const asRecord = (p: Promise<FileDigest>) => p.catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));
  return { file, before, finish: () => asRecord(h.finish()), cancel: () => h.cancel() };
}

export interface TouchedContext {
  cwd: string;
  operands: Operands;
  report: ReportAnalysis | undefined;
  /** Names FFmpeg received → the local file they stand for (symlinks made for non-UTF-8 names). */
  aliases: Map<string, LocalFile>;
  early: Map<string, EarlyHash>;
  pipes: Map<string, FileDigest>;
  redactUrl: (url: string) => string;
}

function withExtras(rec: InputRecord, f: LocalFile | undefined, error?: string): InputRecord {
  if (f?.pathB64) rec.path_b64 = f.pathB64;
  if (error) rec.error = error;
  return rec;
}

async function recordLocal(f: LocalFile, early: EarlyHash | undefined): Promise<InputRecord> {
  if (early) {
    const d = await early.finish();
    const after = fileState(f.fsPath);
    if ('error' in d) return withExtras({ path: f.path, size: null, sha256: null }, f, d.error);
    const rec: InputRecord = withExtras({ path: f.path, size: d.size, sha256: d.sha256 }, f);
    if (!sameState(early.before, after)) rec.changed_during_run = true;
    return rec;
  }
  const st = fileState(f.fsPath);
  if ('error' in st) return withExtras({ path: f.path, size: null, sha256: null }, f, st.error);
  if (!st.regular) return withExtras({ path: f.path, size: null, sha256: null }, f, 'not a regular file');
  try {
    const d = await hashFile(f.fsPath);
    return withExtras({ path: f.path, size: d.size, sha256: d.sha256 }, f);
  } catch (e) {
    return withExtras({ path: f.path, size: null, sha256: null }, f, e instanceof Error ? e.message : String(e));
  }
}

/** The files an image-sequence pattern names that exist now (sorted), e.g. img%03d.png → img001.png, img002.png… */
export function expandSequence(path: string): string[] {
  const dir = dirname(path);
  const re = sequenceRegExp(basename(path));
  try {
    return readdirSync(dir)
      .filter((n) => re.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

class Collector {
  readonly seen = new Map<string, Promise<InputRecord>>();
  constructor(private readonly ctx: TouchedContext) {}

  local(path: string): LocalFile {
    return this.ctx.aliases.get(path) ?? { path, fsPath: path };
  }

  add(t: Target, role: 'input' | 'output'): void {
    if (t.kind === 'virtual') return;
    if (t.kind === 'url') {
      const url = this.ctx.redactUrl(t.url);
      if (!this.seen.has(url)) this.seen.set(url, Promise.resolve({ path: url, size: null, sha256: null }));
      return;
    }
    if (t.kind === 'pipe') {
      if (this.seen.has(t.path)) return;
      const d = this.ctx.pipes.get(t.path);
      this.seen.set(t.path, Promise.resolve(d ? { path: t.path, size: d.size, sha256: d.sha256 } : { path: t.path, size: null, sha256: null }));
      return;
    }
    const f = this.local(t.path);
    if (this.seen.has(f.path)) return;
    this.seen.set(f.path, recordLocal(f, role === 'input' ? this.ctx.early.get(f.path) : undefined));
  }

  async records(): Promise<InputRecord[]> {
    return Promise.all(this.seen.values());
  }
}

export async function collectTouched(ctx: TouchedContext): Promise<{ inputs: InputRecord[]; outputs: FileRecord[] }> {
  const { cwd, operands, report } = ctx;
  const inputs = new Collector(ctx);
  const outputs = new Collector(ctx);
  const exists = (p: string) => 'regular' in fileState(ctx.aliases.get(p)?.fsPath ?? p);

  // Inputs named on the command line; a sequence pattern stands for the frames it matched.
  for (const spec of operands.inputs) {
    const t = classifyTarget(spec.name, 'input', spec.format, cwd);
    if (t.kind === 'file' && isSequencePattern(spec.name) && !ctx.aliases.has(t.path) && !exists(t.path)) {
      const opened = new Set((report?.opened ?? []).filter((o) => o.mode === 'read').map((o) => classifyTarget(o.path, 'input', null, cwd)).map((o) => (o.kind === 'file' ? o.path : '')));
      const frames = expandSequence(t.path);
      // With a report, exactly the frames FFmpeg opened; without one, every file the pattern matches now.
      for (const p of report ? frames.filter((f) => opened.has(f)) : frames) inputs.add({ kind: 'file', path: p }, 'input');
      continue;
    }
    inputs.add(t, 'input');
  }
  // What FFmpeg opened for reading: concat lists' files, frames, movie=/subtitles= sources, playlists' segments.
  for (const o of report?.opened ?? []) if (o.mode === 'read') inputs.add(classifyTarget(o.path, 'input', null, cwd), 'input');

  // Outputs FFmpeg opened itself: a file written under a temporary name and renamed (HLS/DASH `.tmp`) is
  // recorded under its final name.
  const renamed = new Map((report?.renamed ?? []).map((r) => [r.from, r.to]));
  const written: string[] = [];
  for (const o of report?.opened ?? []) {
    if (o.mode !== 'write') continue;
    const to = renamed.get(o.path);
    const from = classifyTarget(o.path, 'output', null, cwd);
    const t = to !== undefined && from.kind === 'file' && !exists(from.path) ? classifyTarget(to, 'output', null, cwd) : from;
    if (t.kind === 'file') written.push(t.path);
    else outputs.add(t, 'output');
  }
  for (const spec of operands.outputs) {
    const t = classifyTarget(spec.name, 'output', spec.format, cwd);
    // A pattern (image sequence, segment template) is not itself a file: the pieces FFmpeg opened are recorded.
    if (t.kind === 'file' && isSequencePattern(spec.name) && !exists(t.path)) {
      const matched = expandSequence(t.path);
      const pieces = report ? matched.filter((m) => written.includes(m)) : matched;
      for (const p of pieces) outputs.add({ kind: 'file', path: p }, 'output');
      continue;
    }
    outputs.add(t, 'output');
  }
  for (const w of written) outputs.add({ kind: 'file', path: w }, 'output');
  const outs = await outputs.records();
  const outPaths = new Set(outs.map((r) => r.path));
  // A file FFmpeg both wrote and read back (HLS playlists it reopens, two-pass logs) is an output.
  const ins = (await inputs.records()).filter((r) => !outPaths.has(r.path) || ctx.early.has(r.path));
  return { inputs: ins, outputs: outs };
}
