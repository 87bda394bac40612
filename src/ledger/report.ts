/**
 * Chain-of-custody and activity reports: the data behind the HTML (src/render/report-html.ts). The verification
 * shown in a report is real: the report's entries are bundled and the bundle is verified offline with the
 * ledger's key, exactly as `ffaudit verify-bundle` would; and the whole ledger is verified as `ffaudit verify`
 * does, because entries a report does not show may be the ones that were altered (a deleted run, a rewritten note)
 * and the report must not vouch for a ledger that fails.
 */
import { formatBundle, verifyBundle, verifyEvidence, type BundleVerdict } from '../core/bundle.js';
import type { TimestampCheck } from '../core/bundle-time.js';
import { formatTimeNs } from '../time/time.js';
import type { ActivityReport, FileReport, ReportVerification } from '../render/report-html.js';
import { bundleEntries, bundleLineages } from './bundle.js';
import { nowRfc3339 } from './clock.js';
import type { Ledger } from './ledger.js';
import { runsInPeriod, type Period } from './activity.js';
import type { Lineage } from './trace.js';

export interface ReportOptions {
  /** Progress of the whole ledger's verification. */
  onProgress?: (done: number, total: number) => void;
  /** The report's generation time (default: now); passed in for reproducible output. */
  now?: () => string;
  /**
   * How the ledger's RFC 3161 tokens are checked: against the TSA CA its keeper configured. Without it the report
   * says they were not verified and states no time.
   */
  timestamps?: TimestampCheck;
}

async function verification(ledger: Ledger, checkpoint: string, v: BundleVerdict, opts: ReportOptions): Promise<ReportVerification> {
  const whole = await ledger.verify({ onProgress: opts.onProgress });
  return {
    ok: v.ok,
    failures: v.failures,
    ledger: { ok: whole.ok, size: whole.size, problems: whole.problems },
    origin: ledger.origin,
    checkpoint,
    checkpointSize: v.checkpointSize,
    keyName: v.keyName,
    keyId: v.keyId,
    keyFingerprint: v.keyFingerprint,
    vkey: ledger.vkey,
    entries: v.entries,
    time: { verified: opts.timestamps?.anchored ?? false, logs: v.time, untimed: v.untimed },
  };
}

export async function fileReport(ledger: Ledger, lineage: Lineage, size: number, opts: ReportOptions = {}): Promise<FileReport> {
  const bundle = await bundleLineages(ledger, [lineage], { ...(opts.now ? { now: opts.now } : {}) });
  const v = verifyBundle(Buffer.from(formatBundle(bundle)), { pubkey: ledger.verifier, fileSha256: lineage.file.sha256, ...(opts.timestamps ? { timestamps: opts.timestamps } : {}) });
  return {
    kind: 'file',
    generatedAt: (opts.now ?? nowRfc3339)(),
    file: { path: lineage.file.path, sha256: lineage.file.sha256, size },
    runs: lineage.runs,
    sources: lineage.sources,
    notes: lineage.notes,
    readBy: lineage.readBy,
    verification: await verification(ledger, bundle.checkpoint, v, opts),
  };
}

export async function activityReport(ledger: Ledger, period: Period, opts: ReportOptions = {}): Promise<ActivityReport> {
  const runs = [...runsInPeriod(ledger, period)];
  const bundle = await bundleEntries(ledger, runs.flatMap((r) => r.entries), [], [], { ...(opts.now ? { now: opts.now } : {}) });
  const v = verifyEvidence(bundle, ledger.verifier, opts.timestamps);
  return {
    kind: 'activity',
    generatedAt: (opts.now ?? nowRfc3339)(),
    period: { since: period.since === undefined ? null : formatTimeNs(period.since), until: period.until === undefined ? null : formatTimeNs(period.until) },
    runs,
    notes: [],
    verification: await verification(ledger, bundle.checkpoint, v, opts),
  };
}
