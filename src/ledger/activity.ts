/**
 * A period's activity: the runs that started within [since, until] (both inclusive, as `ffaudit log`). The run index narrows the search; each run
 * is rebuilt from its entries and its start time re-read from them (the index is never evidence).
 */
import { formatTimeNs, parseTimeNs } from '../time/time.js';
import type { RunRecord } from '../core/run.js';
import type { Ledger } from './ledger.js';
import { runFromIndexRow } from './runs.js';

export interface Period {
  /** Nanoseconds since the epoch; undefined: unbounded. */
  since?: bigint | undefined;
  until?: bigint | undefined;
}

export function inPeriod(time: string, p: Period): boolean {
  const t = parseTimeNs(time);
  if (t === null) return false;
  return (p.since === undefined || t >= p.since) && (p.until === undefined || t <= p.until);
}

/** The runs that started in the period, oldest first. */
export function* runsInPeriod(ledger: Ledger, p: Period): Generator<RunRecord> {
  // Index times are written as formatTimeNs does (UTC, nine fraction digits), so text order is time order.
  const rows = ledger.searchIndex().runsBetween(p.since === undefined ? null : formatTimeNs(p.since), p.until === undefined ? null : formatTimeNs(p.until));
  for (const row of rows) {
    const run = runFromIndexRow(ledger, row);
    if (inPeriod(run.started_at, p)) yield run;
  }
}
