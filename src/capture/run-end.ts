/**
 * The end of an audited run: read FFmpeg's report, work out every file it touched, hash what is not hashed yet,
 * redact the report and commit `run.end` with the report blob in the same durable transaction. Loaded while
 * FFmpeg runs, so none of this weighs on start-up.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { parseEntry, resolveBlobs, sha256Hex, type Author, type EntryBase, type FileRecord } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { parseReport, type ReportAnalysis } from '../ffmpeg/ffreport.js';
import { redactArgv, redactFileRecords, redactText, type RedactionRule } from '../redact/redact.js';
import { hashLeaf } from '../core/merkle.js';
import type { Redaction } from '../core/entry.js';
import type { PreparedBlob } from '../ledger/blob.js';
import type { InputRecord, RunEndEntry, Tool } from '../core/run.js';
import { nowRfc3339 } from '../ledger/clock.js';
import { ffauditVersion } from '../ledger/software.js';
import type { Ledger } from '../ledger/ledger.js';
import type { EarlyHash, LocalFile, Operands } from './file-state.js';
import { loadHashing, type StreamDigest } from './hash.js';
import { collectTouched } from './touched.js';
import { warn } from './fd-writer.js';
import { findOwnReport } from './user-report.js';

export { startHash } from './touched.js';
export { warn } from './fd-writer.js';

export interface RunEndContext {
  ledger: Ledger;
  key: Buffer;
  extra: RedactionRule[];
  /** Secret values removed from the argv, to be removed from the report too. Never stored. */
  secrets: string[];
  argvRedactions: Redaction[];
  runId: string;
  startIndex: number;
  tool: Tool;
  cwd: string;
  env: NodeJS.ProcessEnv;
  operands: Operands;
  aliases: Map<string, LocalFile>;
  early: Map<string, EarlyHash>;
  pipes: Map<string, StreamDigest>;
  reportFile: { own: false; path: string } | { own: true; startedMs: number; endedMs: number };
  outcome: { code: number | null; signal: NodeJS.Signals | null };
  /** A signal we received and passed on to FFmpeg. */
  received: string | undefined;
  durationMs: number;
  /** Who recorded the start: this same process records the end, so the account is not looked up again. */
  by: Author;
  verbose: boolean;
  /** Said in the record's `notes` (e.g. why FFmpeg could not be started). */
  notes: string[];
}

/**
 * Called while FFmpeg runs: does now, off the critical path, the one-time set-up that the end of the run would
 * otherwise pay for after FFmpeg exits: zlib's first compression, and loading
 * node:fs/promises, through which outputs larger than SYNC_MAX are hashed. (Not process.stderr, though Node builds
 * it when a child's pipe closes anyway: on a pipe it sets O_NONBLOCK on the pipe itself, which FFmpeg may share
 * while it runs, and FFmpeg's writes would then fail with EAGAIN.)
 */
export function warmUp(): void {
  gzipSync(Buffer.alloc(1));
  loadHashing();
}

/**
 * Names, in each hashed input, the run that produced those bytes before this run started (docs/provenance.md,
 * "Signed lineage"): like a commit naming its parents, so that a bundle that leaves the step out fails. The
 * derived index only says where to look: the hit is re-read through the ledger's checked reads (Ledger.entry), and
 * kept only if that run.end names the content as an output. No hit is not proof that no run produced them
 * (the index could have lost rows), so it is recorded as `unknown`; `none` only when nothing precedes this run.
 */
function linkProducers(ledger: Ledger, startIndex: number, inputs: InputRecord[]): void {
  const hashed = inputs.filter((f) => f.sha256 !== null);
  if (hashed.length === 0) return;
  if (startIndex === 0) {
    for (const f of hashed) f.produced_by = 'none';
    return;
  }
  const index = ledger.searchIndex(); // caught up to the head, so past this run's start
  for (const f of hashed) {
    f.produced_by = 'unknown';
    const hits = index.indicesByFileHashRole(f.sha256!, 'output').filter((i) => i < startIndex);
    for (let k = hits.length - 1; k >= 0; k--) {
      let data: Buffer;
      let e: EntryBase;
      try {
        data = ledger.entry(hits[k]!);
        e = resolveBlobs(parseEntry(data), (sha) => ledger.blob(sha));
      } catch (err) {
        // A damaged or unreadable entry names no producer (verify reports it); a store that cannot answer stops the lookup.
        if (err instanceof FfauditError && err.code !== 'STORE' && err.code !== 'BUSY') continue;
        throw err;
      }
      if (e.type !== 'run.end' || !Array.isArray(e.outputs) || !(e.outputs as unknown[]).some((o) => (o as FileRecord | null)?.sha256 === f.sha256)) continue;
      f.produced_by = { index: hits[k]!, leaf: hashLeaf(data).toString('hex') };
      break;
    }
  }
}

/** Records the run's end; returns the log's size after it (undefined when it could not be recorded). */
export async function recordRunEnd(c: RunEndContext): Promise<number | undefined> {
  const { ledger, key, extra } = c;
  const notes: string[] = [...c.notes];
  let reportText: string | undefined;
  const reportFile = c.reportFile.own ? findOwnReport(c.env, c.tool, c.cwd, c.reportFile.startedMs, c.reportFile.endedMs) : c.reportFile.path;
  if (reportFile) {
    try {
      reportText = readFileSync(reportFile, 'utf8');
    } catch (e) {
      notes.push(`report not readable: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  } else notes.push("the user's own report file was not found; files are taken from the command line only");
  // Redaction happens before anything is parsed, hashed or stored (docs/design.md invariant 4): even the paths
  // and stream lines taken from the log come from its redacted text.
  const redactions: Redaction[] = [...c.argvRedactions];
  let report: PreparedBlob | undefined;
  let facts: ReportAnalysis | undefined;
  if (reportText !== undefined) {
    const r = redactText(reportText, key, c.secrets, extra);
    redactions.push(...r.redactions);
    facts = parseReport(r.text);
    const bytes = Buffer.from(r.text, 'utf8');
    report = { sha256: sha256Hex(bytes), codec: 'gzip', data: gzipSync(bytes), size: bytes.length };
  }
  const pipeDigests = new Map([...c.pipes].map(([k, d]) => [k, d.digest()]));
  const redactUrl = (u: string) => redactArgv([u], key, extra).argv[0]!;
  const touched = await collectTouched({ cwd: c.cwd, operands: c.operands, report: facts, aliases: c.aliases, early: c.early, pipes: pipeDigests, redactUrl });
  // Paths taken from the command line are as the user typed them: they go through the same redaction.
  redactions.push(...redactFileRecords(touched.inputs, 'inputs', key, c.secrets, extra), ...redactFileRecords(touched.outputs, 'outputs', key, c.secrets, extra));

  try {
    linkProducers(ledger, c.startIndex, touched.inputs);
  } catch (e) {
    // The links are additive: a store that cannot answer leaves them unknown, and the end is still recorded.
    for (const f of touched.inputs) if (f.sha256 !== null) f.produced_by = 'unknown';
    notes.push(`producers not looked up: ${e instanceof Error ? e.message : String(e)}`);
  }

  const status = c.outcome.signal || c.received ? 'terminated' : c.outcome.code === 0 ? 'ok' : 'failed';
  const end: RunEndEntry = {
    v: 1,
    type: 'run.end',
    time: nowRfc3339(),
    by: c.by,
    ffaudit_version: ffauditVersion(),
    run: c.runId,
    start: c.startIndex,
    status,
    exit_code: c.outcome.code,
    signal: c.outcome.signal ?? c.received ?? null,
    duration_ms: c.durationMs,
    inputs: touched.inputs,
    outputs: touched.outputs,
    streams: facts?.streams ?? [],
    report_sha256: report?.sha256 ?? null,
    redactions,
  };
  if (notes.length) end.notes = notes;
  const append = (e: RunEndEntry, blob: typeof report) => ledger.append([e], blob ? [blob] : []);
  try {
    let r;
    try {
      r = append(end, report);
    } catch (e) {
      if (!report) throw e;
      // The report could not be stored (a full disk, typically): the end is still recorded, without it.
      end.report_sha256 = null;
      end.notes = [...notes, `report not stored: ${e instanceof Error ? e.message : String(e)}`];
      r = append(end, undefined);
    }
    if (c.verbose) warn(`recorded ${c.tool} run ${c.runId}: entries ${c.startIndex} and ${r.indices[0]}, status ${status}`);
    return r.size;
  } catch (e) {
    warn(`the end of run ${c.runId} (entry ${c.startIndex}) could not be recorded: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    ledger.close();
  }
}
