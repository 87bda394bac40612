/**
 * Evidence bundles of the local ledger: the assembly (src/lineage/bundle.ts) over the ledger as an EvidenceSource,
 * whose entries come through the checked reads (Ledger.entry) with their inclusion proofs from the stored tree.
 */
import type { Bundle, BundleSubject } from '../core/bundle.js';
import { addSignatureLines } from '../core/cosignature.js';
import { checkpointWitnesses, parseTlogPolicy, quorumMet } from '../core/tlog-policy.js';
import * as assemble from '../lineage/bundle.js';
import type { EvidenceSource, ProvenEntry } from '../lineage/lookup.js';
import { nowRfc3339 } from './clock.js';
import type { Ledger } from './ledger.js';
import type { Lineage } from './trace.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';

export { lineageEntries } from '../lineage/bundle.js';

export interface BundleOptions {
  withReports?: boolean;
  /** The bundle's `created` time (default: now); passed in for reproducible output. */
  now?: () => string;
}

/** The local ledger as one log's evidence. */
export function ledgerEvidence(ledger: Ledger): EvidenceSource {
  return {
    origin: ledger.origin,
    vkey: ledger.vkey,
    verifier: ledger.verifier,
    signedHead: () => Promise.resolve(ledger.size() === 0 ? undefined : ledger.checkpoint()),
    cosignedCheckpoints: () => Promise.resolve(cosignedCheckpoints(ledger)),
    entryWithProof: (index: number, treeSize: number): Promise<ProvenEntry> => Promise.resolve({ data: ledger.entry(index), proof: ledger.inclusionProof(index, treeSize) }),
    blob: (sha256: string) => Promise.resolve(ledger.blob(sha256)),
    timestamps: () => Promise.resolve(ledger.timestamps()),
    consistencyProof: (size1: number, size2: number) => Promise.resolve(ledger.consistency(size1, size2)),
  };
}

/**
 * The checkpoints the ledger keeps cosignatures for (checked reads: Ledger.cosignatures: the team server's and every
 * listed witness's), each with every cosignature line of its size and root added to the log-signed note, largest
 * size first; when the config sets a quorum, those its witnesses' cosignatures meet come before the others, so that
 * a bundle passes `verify-bundle --policy` with the ledger's policy whenever a checkpoint covering it can.
 */
function cosignedCheckpoints(ledger: Ledger): string[] {
  const bySize = new Map<string, { size: number; note: string; lines: string[] }>();
  for (const c of ledger.cosignatures()) {
    const k = `${c.size} ${c.root.toString('hex')}`;
    const e = bySize.get(k) ?? { size: c.size, note: c.checkpoint, lines: [] };
    e.lines.push(c.line);
    bySize.set(k, e);
  }
  const notes = [...bySize.values()].sort((a, b) => b.size - a.size).map((e) => addSignatureLines(e.note, e.lines));
  const policy = parseTlogPolicy(Buffer.from(ledger.policyText(), 'utf8'), { mlDsa44 });
  if (policy.quorum === 'none') return notes;
  const met = (note: string) => quorumMet(policy, checkpointWitnesses(policy, note).witnessed);
  return [...notes.filter(met), ...notes.filter((n) => !met(n))];
}

const options = (opts: BundleOptions): assemble.BundleOptions => ({ withReports: opts.withReports ?? false, now: opts.now ?? nowRfc3339 });

/** A bundle of exactly these entries, proven against the ledger's latest (cosigned, where it can) checkpoint. */
export function bundleEntries(ledger: Ledger, indices: Iterable<number>, subjects: BundleSubject[], sources: string[], opts: BundleOptions = {}): Promise<Bundle> {
  return assemble.bundleEntries(ledgerEvidence(ledger), indices, subjects, sources, options(opts));
}

/** One bundle for the lineages of several files, all traced in this ledger. */
export function bundleLineages(ledger: Ledger, lineages: readonly Lineage[], opts: BundleOptions = {}): Promise<Bundle> {
  return assemble.bundleLineages(ledgerEvidence(ledger), lineages, options(opts));
}
