/** `archive-behind`: the local log holds entries the archive never received, older than the allowed lag. */
import { parseEntry } from '../core/entry.js';
import { parseTimeNs } from '../time/time.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Problem } from '../ledger/problems.js';

export function archiveBehindProblems(ledger: Ledger, archivedSize: number, maxLagMs: number, nowMs: number = Date.now()): Problem[] {
  const size = ledger.size();
  if (size <= archivedSize) return [];
  let ns: bigint | null = null;
  try {
    ns = parseTimeNs(parseEntry(ledger.entry(archivedSize)).time);
  } catch {
    ns = null;
  }
  if (ns === null) return []; // unreadable entries are verify's own findings
  const ageMs = nowMs - Number(ns / 1_000_000n);
  if (ageMs <= maxLagMs) return [];
  const hours = (ageMs / 3_600_000).toFixed(1);
  return [
    {
      kind: 'archive-behind',
      index: archivedSize,
      detail: `${size - archivedSize} entries (from entry ${archivedSize}, recorded ${hours} h ago) were never archived; the limit is ${maxLagMs / 3_600_000} h`,
    },
  ];
}
