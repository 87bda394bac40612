/**
 * The chain-of-custody report of a lineage that crosses logs (traced by the team server over its mirrors), as a
 * pure function of the logs' EvidenceSources (lookup.ts), as ledger/report.ts fileReport is of one ledger. Its
 * verification is real in the same way: the lineage's entries are bundled (bundleLineagesAcross) and the bundle is
 * verified offline with each log's key, exactly as `ffaudit verify-bundle` would. Where the local report verifies
 * the whole ledger, this one shows, for each log, the server's last re-verification of its mirror of the whole log
 * (`logChecks`, passed in: the server keeps them), because the entries that were altered may be ones the report
 * does not show; the report is VERIFIED only when the bundle verifies and every log's check passed.
 */
import { formatBundle, MULTI_BUNDLE_FORMAT, verifyBundle, type BundleLogVerdict, type VerifierKey } from '../core/bundle.js';
import { parseVerifierKey } from '../core/note.js';
import type { FileReport, LedgerVerdict, ReportLogVerification } from '../render/report-html.js';
import { bundleLineagesAcross } from './bundle.js';
import type { EvidenceSource } from './lookup.js';
import type { Lineage } from './walk.js';

export interface LogCheck {
  ok: boolean;
  /** The size of the log the check covered. */
  size: number;
  problems: string[];
}

export interface CrossLogReportOptions {
  /** The report's and the bundle's time, RFC 3339 (the caller's clock). */
  now: () => string;
  /** The last re-verification of the whole log with this origin (for a server: of its mirror). */
  logChecks: (origin: string) => Promise<LogCheck>;
  /** The file's size in bytes, when known (a server holds hashes, not files). */
  size: number | null;
}

/** The chain-of-custody report of `lineage`, whose runs and notes may be in several logs. */
export async function crossLogFileReport(sourceFor: (origin: string) => Promise<EvidenceSource>, lineage: Lineage, opts: CrossLogReportOptions): Promise<FileReport> {
  const bundle = await bundleLineagesAcross(sourceFor, [lineage], { now: opts.now });
  const logs = bundle.format === MULTI_BUNDLE_FORMAT ? bundle.logs : [{ origin: bundle.origin, vkey: bundle.vkey, checkpoint: bundle.checkpoint }];
  // Each log's key as its source holds it (for a server: the key the host joined with), not the bundle's copy.
  const keys: VerifierKey[] = [];
  const vkeys = new Map<string, string>();
  for (const l of logs) {
    const src = await sourceFor(l.origin);
    keys.push(parseVerifierKey(src.vkey));
    vkeys.set(l.origin, src.vkey);
  }
  const v = verifyBundle(Buffer.from(formatBundle(bundle)), { pubkeys: keys, fileSha256: lineage.file.sha256 });
  const perLog: BundleLogVerdict[] = v.logs ?? [
    { origin: v.origin ?? logs[0]!.origin, keyName: v.keyName, keyId: v.keyId, keyFingerprint: v.keyFingerprint, checkpointSize: v.checkpointSize, entries: v.entries },
  ];
  const checked: ReportLogVerification[] = [];
  for (const [i, l] of logs.entries()) {
    const lv = perLog[i]!;
    const check = await opts.logChecks(l.origin);
    checked.push({
      origin: l.origin,
      checkpoint: l.checkpoint,
      checkpointSize: lv.checkpointSize,
      keyName: lv.keyName,
      keyId: lv.keyId,
      keyFingerprint: lv.keyFingerprint,
      vkey: vkeys.get(l.origin)!,
      entries: lv.entries,
      check: { ok: check.ok, size: check.size, problems: [...check.problems] },
    });
  }
  // The logs' checks summed up as one verdict, so that whatever reads `ledger` (a report is green only when it is
  // ok) reads every log's.
  const ledger: LedgerVerdict = {
    ok: checked.every((l) => l.check.ok),
    size: checked.reduce((n, l) => n + l.check.size, 0),
    problems: checked.flatMap((l) =>
      l.check.ok ? [] : (l.check.problems.length > 0 ? l.check.problems : ['the last check failed']).map((detail) => ({ kind: 'mirror-check', detail: `${l.origin}: ${detail}` })),
    ),
  };
  const home = checked.find((l) => l.origin === lineage.log) ?? checked[0]!;
  return {
    kind: 'file',
    generatedAt: opts.now(),
    file: { path: lineage.file.path, sha256: lineage.file.sha256, size: opts.size },
    runs: lineage.runs,
    sources: lineage.sources,
    notes: lineage.notes,
    readBy: lineage.readBy,
    verification: {
      ok: v.ok,
      failures: v.failures,
      ledger,
      origin: home.origin,
      checkpoint: home.checkpoint,
      checkpointSize: home.checkpointSize,
      keyName: home.keyName,
      keyId: home.keyId,
      keyFingerprint: home.keyFingerprint,
      vkey: home.vkey,
      entries: v.entries,
      logs: checked,
      // A source's tokens are checked only where the CA its keeper trusts is known; none is here.
      time: { verified: false, logs: v.time, untimed: v.untimed },
    },
  };
}
