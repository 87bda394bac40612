/**
 * The evidence of a file across the mirrored logs, as GET /api/v1/bundle and /api/v1/report and the File page's
 * downloads give it (one implementation, so that both faces hand out the same bytes): the `ffaudit-bundle` JSON that
 * `ffaudit verify-bundle` checks offline, and the HTML chain-of-custody report.
 */
import { formatBundle } from '../../core/bundle.js';
import { FfauditError } from '../../core/errors.js';
import { bundleLineagesAcross } from '../../lineage/bundle.js';
import { crossLogFileReport, type LogCheck } from '../../lineage/report.js';
import type { Lineage } from '../../lineage/walk.js';
import { renderFileReport } from '../../render/report-html.js';
import { formatTimeNs } from '../../time/time.js';
import type { Db } from '../db/pool.js';
import { mirrorEvidence } from './evidence.js';
import { traceAcross } from './lookup.js';
import { reverifyMirror } from './reverify.js';
import type { Scope } from './types.js';

const nowText = () => formatTimeNs(BigInt(Date.now()) * 1_000_000n);

/**
 * The report document's own policy (report-html.ts) as a header too: inline styles and data: images only, no script,
 * no request anywhere, and not to be framed by another site.
 */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

export function unknownFile(sha256: string): FfauditError {
  return new FfauditError('NOT_FOUND', `unknown to every log: no audited run produced or read these bytes and no custody note names them (sha256 ${sha256})`);
}

/** The lineage of a file some log knows; NOT_FOUND for bytes no run produced or read and no note names. */
export async function knownLineage(db: Db, scope: Scope, file: { path: string; sha256: string }): Promise<Lineage> {
  const l = await traceAcross(db, scope, file);
  if (!l.known) throw unknownFile(l.file.sha256);
  return l;
}

export async function hostIdOf(db: Db, where: { name: string } | { origin: string }): Promise<number> {
  const { rows } =
    'name' in where
      ? await db.pool.query<{ id: number }>('SELECT id FROM hosts WHERE name = $1', [where.name])
      : await db.pool.query<{ id: number }>('SELECT id FROM hosts WHERE origin = $1', [where.origin]);
  if (!rows[0]) throw new FfauditError('NOT_FOUND', 'name' in where ? `no host named ${JSON.stringify(where.name)}` : `no log with origin ${JSON.stringify(where.origin)}`);
  return rows[0].id;
}

/**
 * Whether the whole mirrored log `origin` verifies, for a report: the latest re-verification (reverify.ts) when it
 * covered everything the mirror holds now, else one run now (and recorded), as local `report` verifies the whole
 * ledger. A report is marked VERIFIED only when every log it rests on passes.
 */
async function wholeLogCheck(db: Db, origin: string): Promise<LogCheck> {
  const hostId = await hostIdOf(db, { origin });
  const { rows } = await db.pool.query<{ size: number; ok: boolean; problems: string[]; mirrored: number | null }>(
    `SELECT c.size, c.ok, c.problems, m.size AS mirrored
       FROM mirror_checks c JOIN hosts h ON h.id = c.host_id AND h.epoch = c.epoch LEFT JOIN mirror_state m ON m.host_id = c.host_id
      WHERE c.host_id = $1 ORDER BY c.checked_at DESC, c.id DESC LIMIT 1`,
    [hostId],
  );
  const last = rows[0];
  if (last && last.size === last.mirrored) return { ok: last.ok, size: last.size, problems: last.problems };
  return reverifyMirror(db, hostId);
}

/** A file's size as recorded by the runs of its lineage (the server holds no file, only what the entries say). */
export function recordedSize(l: Lineage): number | null {
  for (const r of [...l.runs, ...l.readBy]) {
    for (const f of [...r.outputs, ...r.inputs]) if (f.sha256 === l.file.sha256 && f.size !== null) return f.size;
  }
  return null;
}

/** The bundle of these files' lineages, in the exact text `ffaudit bundle` writes: what verify-bundle reads. */
export async function fileBundle(db: Db, scope: Scope, files: readonly { path: string; sha256: string }[], opts: { withReports: boolean }): Promise<string> {
  const lineages: Lineage[] = [];
  for (const f of files) lineages.push(await knownLineage(db, scope, f));
  return formatBundle(await bundleLineagesAcross((origin) => mirrorEvidence(db, origin), lineages, { withReports: opts.withReports, now: nowText }));
}

/** The chain-of-custody report of a file, and whether it is VERIFIED (the bundle and every log it rests on). */
export async function fileReport(db: Db, scope: Scope, file: { path: string; sha256: string }): Promise<{ html: string; verified: boolean }> {
  const lineage = await knownLineage(db, scope, file);
  const report = await crossLogFileReport((origin) => mirrorEvidence(db, origin), lineage, {
    now: nowText,
    logChecks: (origin) => wholeLogCheck(db, origin),
    size: recordedSize(lineage),
  });
  return { html: renderFileReport(report), verified: report.verification.ok && report.verification.ledger.ok };
}

/** The headers a report is served with, on every face. */
export function reportHeaders(verified: boolean): Record<string, string> {
  return { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': REPORT_CSP, 'X-Ffaudit-Verified': verified ? 'true' : 'false' };
}
