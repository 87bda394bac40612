/**
 * `ffaudit redaction-check`: whoever holds a value can show it is a secret removed from a run, because the run keeps
 * its keyed hash (redact.ts) where the value stood.
 */
import { redactionHmac } from '../redact/redact.js';
import type { Ledger } from './ledger.js';
import { listRuns, runDetails } from './runs.js';

/** Every place, in run `ref` or in every run, where `value` was removed (runDetails lists each place once). */
export function findRedactions(ledger: Ledger, value: string, ref?: string): { run: string; where: string; kind: string }[] {
  const hmac = redactionHmac(ledger.redactionKey(), value);
  const details = ref !== undefined ? [runDetails(ledger, ref)] : [...listRuns(ledger)].map((r) => runDetails(ledger, r.id));
  return details.flatMap((d) => d.redactions.filter((r) => r.hmac === hmac).map((r) => ({ run: d.record.id, where: r.where, kind: r.kind })));
}
