/**
 * Making evidence bundles (format: src/core/bundle.ts, docs/provenance.md): the entries of each file's lineage,
 * with their exact stored bytes, one tlog-proof each against the latest signed checkpoint, the blobs they name,
 * and optionally FFmpeg's (already redacted) report logs.
 *
 * Nothing leaves unchecked: the checkpoint is verified with the ledger's key and every proof is verified before
 * the bundle is written, so a damaged store yields an error here rather than a bundle that fails elsewhere.
 */
import { BUNDLE_FORMAT, type Bundle, type BundleSubject } from '../core/bundle.js';
import { openCheckpoint } from '../core/checkpoint.js';
import { isBlobRef, parseEntry } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { hashLeaf, inclusionProof, verifyInclusion } from '../core/merkle.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import { nowRfc3339 } from './clock.js';
import type { Ledger } from './ledger.js';
import type { Lineage } from './trace.js';

export interface BundleOptions {
  withReports?: boolean;
  /** The bundle's `created` time (default: now); passed in for reproducible output. */
  now?: () => string;
}

/** The entry indices a lineage rests on: its runs (or, for a file no run produced, the runs that read it) and its notes. */
export function lineageEntries(l: Lineage): number[] {
  const runs = l.runs.length > 0 ? l.runs : l.readBy;
  return [...runs.flatMap((r) => r.entries), ...l.notes.map((n) => n.index)];
}

/** A bundle of exactly these entries, proven against the ledger's latest checkpoint. */
export function bundleEntries(ledger: Ledger, indices: Iterable<number>, subjects: BundleSubject[], sources: string[], opts: BundleOptions = {}): Bundle {
  const head = ledger.store.head();
  if (!head) throw new FfauditError('NOT_FOUND', 'the ledger is empty');
  const cp = openCheckpoint(head.checkpoint, [ledger.verifier], ledger.origin);
  const blobs = new Map<string, Buffer>();
  const addBlob = (sha: string) => {
    if (blobs.has(sha)) return;
    const data = ledger.blob(sha);
    if (!data) throw new FfauditError('INTEGRITY', `blob ${sha} named by the lineage is missing from the ledger`);
    blobs.set(sha, data);
  };
  const entries = [...new Set(indices)].sort((a, b) => a - b).map((index) => {
    if (index >= cp.size) throw new FfauditError('INTEGRITY', `entry ${index} is not covered by the latest checkpoint`);
    const stored = ledger.store.entry(index);
    if (!stored) throw new FfauditError('INTEGRITY', `entry ${index} is missing from the ledger (run ffaudit verify)`);
    const proof = inclusionProof(ledger.store, index, cp.size);
    if (!verifyInclusion(hashLeaf(stored.data), index, cp.size, proof, cp.root)) {
      throw new FfauditError('INTEGRITY', `entry ${index} does not verify against the signed checkpoint (run ffaudit verify)`);
    }
    const e = parseEntry(stored.data);
    for (const v of Object.values(e)) if (isBlobRef(v)) addBlob(v.$blob);
    if (opts.withReports && typeof e.report_sha256 === 'string') addBlob(e.report_sha256);
    return { index, data: stored.data, proof: formatTlogProof(index, proof, head.checkpoint) };
  });
  return {
    format: BUNDLE_FORMAT,
    created: (opts.now ?? nowRfc3339)(),
    origin: ledger.origin,
    vkey: ledger.vkey,
    checkpoint: head.checkpoint,
    subjects,
    sources,
    entries,
    blobs: [...blobs].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([sha256, data]) => ({ sha256, data })),
  };
}

/** One bundle for the lineages of several files. */
export function bundleLineages(ledger: Ledger, lineages: readonly Lineage[], opts: BundleOptions = {}): Bundle {
  const subjects: BundleSubject[] = [];
  const indices = new Set<number>();
  const sources = new Set<string>();
  for (const l of lineages) {
    if (!subjects.some((s) => s.sha256 === l.file.sha256)) subjects.push({ path: l.file.path, sha256: l.file.sha256 });
    for (const i of lineageEntries(l)) indices.add(i);
    for (const s of l.sources) if (s.sha256) sources.add(s.sha256);
    // A file no run produced: the bundle shows the runs that read it, and their inputs are its sources, except
    // those whose producer their signed entry names (not part of this file's story).
    if (l.runs.length === 0) for (const r of l.readBy) for (const f of r.inputs) if (f.sha256 && typeof f.produced_by !== 'object') sources.add(f.sha256);
  }
  return bundleEntries(ledger, indices, subjects, [...sources].sort(), opts);
}
