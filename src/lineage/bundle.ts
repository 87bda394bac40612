/**
 * Assembling evidence bundles (format: src/core/bundle.ts, docs/provenance.md) from one log's EvidenceSource
 * (lookup.ts): the entries of each file's lineage, with their exact stored bytes, one tlog-proof each against one
 * signed checkpoint of the log, the blobs they name, and optionally FFmpeg's (already redacted) report logs. The
 * checkpoint is the latest one witnesses cosigned when that covers every entry (it then carries their cosignature
 * lines, so a verifier's tlog-policy quorum can be met), else the log's latest.
 *
 * Nothing leaves unchecked: the checkpoint is verified with the log's key and every proof is verified before the
 * bundle is returned, so a damaged store yields an error here rather than a bundle that fails elsewhere.
 */
import { BUNDLE_FORMAT, type Bundle, type BundleSubject } from '../core/bundle.js';
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { isBlobRef, parseEntry } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf, verifyInclusion } from '../core/merkle.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import type { EvidenceSource } from './lookup.js';
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
  };
}

/**
 * One bundle for the lineages of several files, all in the log `src`. A bundle is one log's evidence (one
 * checkpoint, one key): a lineage with steps in another log is refused rather than bundled in part.
 */
export async function bundleLineages(src: EvidenceSource, lineages: readonly Lineage[], opts: BundleOptions): Promise<Bundle> {
  const subjects: BundleSubject[] = [];
  const indices = new Set<number>();
  const sources = new Set<string>();
  for (const l of lineages) {
    const other = [l.log, ...[...l.runs, ...l.readBy, ...l.notes].map((s) => s.log ?? l.log)].find((log) => log !== src.origin);
    if (other !== undefined) {
      throw new FfauditError('USAGE', `the lineage of ${l.file.path} has steps in the log ${JSON.stringify(other)}, not only in ${JSON.stringify(src.origin)}: a bundle holds one log's evidence, so it cannot be bundled`);
    }
    if (!subjects.some((s) => s.sha256 === l.file.sha256)) subjects.push({ path: l.file.path, sha256: l.file.sha256 });
    for (const i of lineageEntries(l)) indices.add(i);
    for (const s of l.sources) if (s.sha256) sources.add(s.sha256);
    // A file no run produced: the bundle shows the runs that read it, and their inputs are its sources, except
    // those whose producer their signed entry names (not part of this file's story).
    if (l.runs.length === 0) for (const r of l.readBy) for (const f of r.inputs) if (f.sha256 && typeof f.produced_by !== 'object') sources.add(f.sha256);
  }
  return bundleEntries(src, indices, subjects, [...sources].sort(), opts);
}
