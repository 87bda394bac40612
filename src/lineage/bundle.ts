/**
 * Assembling evidence bundles (format: src/core/bundle.ts, docs/provenance.md) from the logs' EvidenceSources
 * (lookup.ts): the entries of each file's lineage, with their exact stored bytes, one tlog-proof each against one
 * signed checkpoint of its log, the blobs they name, and optionally FFmpeg's (already redacted) report logs. The
 * checkpoint is the latest one witnesses cosigned when that covers every entry (it then carries their cosignature
 * lines, so a verifier's tlog-policy quorum can be met), else the log's latest.
 *
 * Nothing leaves unchecked: the checkpoint is verified with the log's key and every proof is verified before the
 * bundle is returned, so a damaged store yields an error here rather than a bundle that fails elsewhere.
 */
import { BUNDLE_FORMAT, MULTI_BUNDLE_FORMAT, type Bundle, type BundleSubject, type MultiBundle } from '../core/bundle.js';
import type { BundleTimestamps } from '../core/bundle-time.js';
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { isBlobRef, parseEntry } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../core/merkle.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import type { EvidenceSource, StoredTimestamp } from './lookup.js';
import type { Lineage } from './walk.js';

export interface BundleOptions {
  withReports?: boolean;
  /** The bundle's `created` time, RFC 3339 (the caller's clock; passed in for reproducible output). */
  now: () => string;
}

/** The entry indices a lineage rests on: its runs (or, for a file no run produced, the runs that read it) and its notes. */
export function lineageEntries(l: Lineage): number[] {
  const runs = l.runs.length > 0 ? l.runs : l.readBy;
  return [...runs.flatMap((r) => r.entries), ...l.notes.map((n) => n.index)];
}

/**
 * The checkpoint to prove `needed` entries against: the largest cosigned one that covers them and that the log
 * still holds (its signature checked with the log's key; one that fails is passed over), else the latest.
 */
async function bundleCheckpoint(src: EvidenceSource, needed: number): Promise<{ note: string; cp: SignedCheckpoint }> {
  const head = await src.signedHead();
  if (head === undefined) throw new FfauditError('NOT_FOUND', 'the ledger is empty');
  const latest = openCheckpoint(head, [src.verifier], src.origin);
  for (const note of (await src.cosignedCheckpoints?.()) ?? []) {
    let cp: SignedCheckpoint;
    try {
      cp = openCheckpoint(note, [src.verifier], src.origin);
    } catch {
      continue;
    }
    if (cp.size >= needed && cp.size <= latest.size) return { note, cp };
  }
  return { note: head, cp: latest };
}

/**
 * The trusted time for the entries `sorted` (core/bundle-time.ts): the tokens over the smallest time-stamped
 * checkpoint that covers all of them, else over the largest that covers some, with their renewals and a
 * consistency proof between it and the bundle's checkpoint `cp`. The checkpoint's signature and the proof are
 * checked here, as the entries' are; the tokens are copied as stored (checking them needs the CA certificates the
 * recipient trusts: verify-bundle does). A stored checkpoint that the log's key did not sign is passed over.
 */
async function bundleTime(src: EvidenceSource, sorted: readonly number[], cp: SignedCheckpoint): Promise<BundleTimestamps | undefined> {
  if (!src.timestamps || !src.consistencyProof || sorted.length === 0) return undefined;
  const lo = sorted[0]!;
  const hi = sorted[sorted.length - 1]!;
  const bySize = new Map<number, StoredTimestamp[]>();
  for (const r of await src.timestamps(lo, hi)) bySize.set(r.size, [...(bySize.get(r.size) ?? []), r]);
  const sizes = [...bySize.keys()].filter((n) => n > lo).sort((a, b) => a - b);
  for (const size of [...sizes.filter((n) => n > hi), ...sizes.filter((n) => n <= hi).reverse()]) {
    const rows = bySize.get(size)!;
    const own = rows.find((r) => {
      if (r.renews !== null) return false;
      try {
        return openCheckpoint(r.checkpoint, [src.verifier], src.origin).size === size;
      } catch {
        return false;
      }
    });
    if (!own) continue;
    const tcp = openCheckpoint(own.checkpoint, [src.verifier], src.origin);
    // Tokens over this note, then each renewal after the token it renews (a renewal of a token left out is left out).
    const tokens: StoredTimestamp[] = rows.filter((r) => r.renews === null && r.checkpoint === own.checkpoint);
    const kept = new Set(tokens.map((r) => r.tokenHash.toString('hex')));
    for (let grew = true; grew; ) {
      grew = false;
      for (const r of rows) {
        const h = r.tokenHash.toString('hex');
        if (r.renews === null || kept.has(h) || !kept.has(r.renews.toString('hex')) || r.checkpoint !== own.checkpoint) continue;
        tokens.push(r);
        kept.add(h);
        grew = true;
      }
    }
    const [a, b] = size <= cp.size ? [tcp, cp] : [cp, tcp];
    const consistency = await src.consistencyProof(a.size, b.size);
    if (!verifyConsistency(a.size, b.size, consistency, a.root, b.root)) {
      throw new FfauditError('INTEGRITY', `the time-stamped checkpoint at tree size ${size} is not consistent with the checkpoint at tree size ${cp.size} (run ffaudit verify)`);
    }
    return { checkpoint: own.checkpoint, consistency, tokens: tokens.map((r) => ({ token: r.token, renews: r.renews?.toString('hex') ?? null })) };
  }
  return undefined;
}

/** A bundle of exactly these entries, proven against one signed checkpoint (bundleCheckpoint). */
export async function bundleEntries(src: EvidenceSource, indices: Iterable<number>, subjects: BundleSubject[], sources: string[], opts: BundleOptions): Promise<Bundle> {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const { note: head, cp } = await bundleCheckpoint(src, sorted.length > 0 ? sorted[sorted.length - 1]! + 1 : 0);
  const blobs = new Map<string, Buffer>();
  const addBlob = async (sha: string) => {
    if (blobs.has(sha)) return;
    const data = await src.blob(sha);
    if (!data) throw new FfauditError('INTEGRITY', `blob ${sha} named by the lineage is missing from the ledger`);
    blobs.set(sha, data);
  };
  const entries = [];
  for (const index of sorted) {
    if (index >= cp.size) throw new FfauditError('INTEGRITY', `entry ${index} is not covered by the latest checkpoint`);
    const { data, proof } = await src.entryWithProof(index, cp.size);
    if (!verifyInclusion(hashLeaf(data), index, cp.size, proof, cp.root)) {
      throw new FfauditError('INTEGRITY', `entry ${index} does not verify against the signed checkpoint (run ffaudit verify)`);
    }
    const e = parseEntry(data);
    for (const v of Object.values(e)) if (isBlobRef(v)) await addBlob(v.$blob);
    if (opts.withReports && typeof e.report_sha256 === 'string') await addBlob(e.report_sha256);
    entries.push({ index, data, proof: formatTlogProof(index, proof, head) });
  }
  const time = await bundleTime(src, sorted, cp);
  return {
    format: BUNDLE_FORMAT,
    created: opts.now(),
    origin: src.origin,
    vkey: src.vkey,
    checkpoint: head,
    subjects,
    sources,
    entries,
    blobs: [...blobs].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([sha256, data]) => ({ sha256, data })),
    ...(time ? { timestamps: [time] } : {}),
  };
}

/** What the lineages of a bundle rest on: its subjects, its sources, and the entry indices in each log. */
interface Gathered {
  subjects: BundleSubject[];
  sources: string[];
  /** Origin → entry indices, in the order the logs first appear. */
  byLog: Map<string, Set<number>>;
}

function gather(lineages: readonly Lineage[]): Gathered {
  const subjects: BundleSubject[] = [];
  const byLog = new Map<string, Set<number>>();
  const sources = new Set<string>();
  const add = (log: string, indices: readonly number[]) => {
    let set = byLog.get(log);
    if (!set) byLog.set(log, (set = new Set()));
    for (const i of indices) set.add(i);
  };
  for (const l of lineages) {
    if (!subjects.some((s) => s.sha256 === l.file.sha256)) subjects.push({ path: l.file.path, sha256: l.file.sha256 });
    // The steps of each log (a step names its log only when it is not the lineage's own): lineageEntries, by log.
    for (const r of l.runs.length > 0 ? l.runs : l.readBy) add(r.log ?? l.log, r.entries);
    for (const n of l.notes) add(n.log ?? l.log, [n.index]);
    for (const s of l.sources) if (s.sha256) sources.add(s.sha256);
    // A file no run produced: the bundle shows the runs that read it, and their inputs are its sources, except
    // those whose producer their signed entry names (not part of this file's story).
    if (l.runs.length === 0) for (const r of l.readBy) for (const f of r.inputs) if (f.sha256 && typeof f.produced_by !== 'object') sources.add(f.sha256);
  }
  return { subjects, sources: [...sources].sort(), byLog };
}

/**
 * One bundle for the lineages of several files, all in the log `src`. A bundle of this format is one log's
 * evidence (one checkpoint, one key): a lineage with steps in another log is refused rather than bundled in part
 * (bundleLineagesAcross bundles those).
 */
export async function bundleLineages(src: EvidenceSource, lineages: readonly Lineage[], opts: BundleOptions): Promise<Bundle> {
  for (const l of lineages) {
    const other = [l.log, ...[...l.runs, ...l.readBy, ...l.notes].map((s) => s.log ?? l.log)].find((log) => log !== src.origin);
    if (other !== undefined) {
      throw new FfauditError('USAGE', `the lineage of ${l.file.path} has steps in the log ${JSON.stringify(other)}, not only in ${JSON.stringify(src.origin)}: a bundle holds one log's evidence, so it cannot be bundled`);
    }
  }
  const g = gather(lineages);
  return bundleEntries(src, g.byLog.get(src.origin) ?? [], g.subjects, g.sources, opts);
}

/**
 * One bundle for the lineages of several files, wherever their steps were recorded: each log's entries proven
 * against one checkpoint of that log (bundleCheckpoint: its latest cosigned one that covers them, with the
 * cosignature lines, else its latest), every proof checked before it is returned. A lineage whose steps are all
 * in one log gives exactly the `ffaudit-bundle/v1` bundle that bundleLineages gives, so that every verifier, old
 * or new, reads it; steps in several logs give an `ffaudit-bundle/v2` bundle (docs/provenance.md), its logs
 * ordered by origin. `sourceFor` gives a log's evidence by origin (NOT_FOUND for a log it does not hold).
 */
export async function bundleLineagesAcross(sourceFor: (origin: string) => Promise<EvidenceSource>, lineages: readonly Lineage[], opts: BundleOptions): Promise<Bundle | MultiBundle> {
  if (lineages.length === 0) throw new FfauditError('USAGE', 'no file to bundle');
  const g = gather(lineages);
  const open = async (origin: string) => {
    const src = await sourceFor(origin);
    // The source is trusted for its origin only: one answering for another log would mix two logs' evidence.
    if (src.origin !== origin) throw new FfauditError('INTEGRITY', `the evidence for the log ${JSON.stringify(origin)} came from the log ${JSON.stringify(src.origin)}`);
    return src;
  };
  const logs = [...g.byLog.keys()].filter((o) => g.byLog.get(o)!.size > 0).sort();
  if (logs.length <= 1) {
    const origin = logs[0] ?? lineages[0]!.log;
    return bundleEntries(await open(origin), g.byLog.get(origin) ?? [], g.subjects, g.sources, opts);
  }
  const created = opts.now();
  const parts: { origin: string; part: Bundle }[] = [];
  for (const origin of logs) parts.push({ origin, part: await bundleEntries(await open(origin), g.byLog.get(origin)!, g.subjects, g.sources, { ...opts, now: () => created }) });
  const blobs = new Map<string, Buffer>();
  for (const { part } of parts) for (const b of part.blobs) blobs.set(b.sha256, b.data);
  const timestamps = parts.flatMap(({ origin, part }) => (part.timestamps ?? []).map((t) => ({ log: origin, ...t })));
  return {
    format: MULTI_BUNDLE_FORMAT,
    created,
    logs: parts.map(({ part }) => ({ origin: part.origin, vkey: part.vkey, checkpoint: part.checkpoint })),
    subjects: g.subjects,
    sources: g.sources,
    entries: parts.flatMap(({ origin, part }) => part.entries.map((e) => ({ log: origin, index: e.index, data: e.data, proof: e.proof }))),
    blobs: [...blobs].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([sha256, data]) => ({ sha256, data })),
    ...(timestamps.length > 0 ? { timestamps } : {}),
  };
}
