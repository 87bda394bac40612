/**
 * The second phase of an audited run: `run.start`, redacted and committed before FFmpeg starts. Fail closed
 * (docs/design.md invariant 3): when the start cannot be committed FFmpeg does not run, unless
 * FFAUDIT_POLICY=fail-open.
 */
import type { Author } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { FfmpegIdentity, InputRecord, Redaction, RunStartEntry } from '../core/run.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import type { Ledger } from '../ledger/ledger.js';
import { ffauditVersion } from '../ledger/software.js';
import { parseRedactionRules, redactArgv, redactField, redactFileRecords, redactPath, type RedactionRule } from '../redact/redact.js';
import { stderrWriter, warn } from './fd-writer.js';
import { fileState } from './file-state.js';
import { identifyTool } from './identity.js';
import type { RunIntent } from './intent.js';
import { classifyTarget } from './target.js';

/** What the end of the run redacts with: the same key, rules and secrets as the start. */
export interface Redacting {
  key: Buffer;
  extra: RedactionRule[];
  /** Secret values removed from the argv, to be removed from the report too. Never stored. */
  secrets: string[];
  /** The argv's redactions, then those of `by` (the end repeats both). */
  argvRedactions: Redaction[];
}

export interface StartFacts {
  key: Buffer;
  extra: RedactionRule[];
  runId: string;
  time: string;
  identity: FfmpegIdentity;
  author: Author;
  reason?: string | undefined;
}

/**
 * The `run.start` entry for an intent, redacted (docs/design.md invariant 4: before anything is hashed or
 * stored), with what the end needs to redact the same way and the redacted author it repeats.
 */
export function startEntry(intent: RunIntent, f: StartFacts): { entry: RunStartEntry; redacting: Redacting; by: Author } {
  const { key, extra } = f;
  const { argv, redactions: argvRedactions, secrets } = redactArgv([...intent.args], key, extra);
  const inputs: InputRecord[] = [];
  for (const spec of intent.operands.inputs) {
    const t = classifyTarget(spec.name, 'input', spec.format, intent.cwd);
    if (t.kind === 'url') inputs.push({ path: redactArgv([t.url], key, extra).argv[0]!, size: null, sha256: null });
    else if (t.kind === 'pipe') inputs.push({ path: t.path, size: null, sha256: null });
    else if (t.kind === 'file') {
      const file = intent.aliases.get(spec.name) ?? { path: t.path, fsPath: t.path };
      const st = fileState(file.fsPath);
      const rec: InputRecord = { path: file.path, size: 'error' in st ? null : Number(st.size), sha256: null };
      if (file.pathB64) rec.path_b64 = file.pathB64;
      if ('error' in st) rec.error = st.error;
      inputs.push(rec);
    }
  }
  // Recorded paths go through the same redaction as the argv (the argv's own redactions stay first: argv_b64 below
  // and the end entry rely on them).
  const cwd = redactPath(intent.cwd, 'cwd', key, secrets, extra);
  const pathRedactions = [...cwd.redactions, ...redactFileRecords(inputs, 'inputs', key, secrets, extra)];
  // What the user says about the run (--actor, --reason) is redacted as the argv is (docs/design.md invariant 4).
  const by = { ...f.author };
  const actor = by.asserted_actor === undefined ? undefined : redactField(by.asserted_actor, 'by.asserted_actor', key, secrets, extra);
  if (actor) by.asserted_actor = actor.value;
  const reason = f.reason ? redactField(f.reason, 'reason', key, secrets, extra) : undefined;
  const authorRedactions = actor?.redactions ?? [];
  const entry: RunStartEntry = {
    v: 1,
    type: 'run.start',
    time: f.time,
    by,
    ffaudit_version: ffauditVersion(),
    run: f.runId,
    tool: intent.tool,
    cwd: cwd.path,
    argv,
    redactions: [...argvRedactions, ...pathRedactions, ...authorRedactions, ...(reason?.redactions ?? [])],
    ffmpeg: f.identity,
    inputs,
  };
  if (reason) entry.reason = reason.value;
  if (Object.keys(intent.argvB64).length) {
    // Only arguments free of secrets are kept byte-exact (a redacted argument keeps only its keyed hash).
    const redactedAt = new Set(argvRedactions.map((x) => x.where));
    entry.argv_b64 = Object.fromEntries(Object.entries(intent.argvB64).filter(([i]) => !redactedAt.has(`argv[${i}]`)));
  }
  // The end repeats `by`, so it lists what was removed from it too (after the argv's, which stay first).
  return { entry, redacting: { key, extra, secrets, argvRedactions: [...argvRedactions, ...authorRedactions] }, by };
}

/** A committed start: the open ledger the end is recorded in, and what the end repeats. */
export interface Started {
  ledger: Ledger;
  startIndex: number;
  redacting: Redacting;
  by: Author;
}

export interface StartRequest {
  /** Opens the ledger (throws when it cannot). */
  openLedger: () => Ledger;
  binary: string;
  runId: string;
  actor?: string | undefined;
  reason?: string | undefined;
  /** FFAUDIT_POLICY=fail-open: a start that cannot be committed is warned about and the run goes on unrecorded. */
  failOpen: boolean;
}

/**
 * Commits `run.start`. Throws RECORD (exit 125) when it cannot; under fail-open warns instead and returns
 * undefined: the run then goes on without a record.
 */
export async function commitStart(intent: RunIntent, req: StartRequest): Promise<Started | undefined> {
  const time = nowRfc3339();
  let ledger: Ledger | undefined;
  try {
    ledger = req.openLedger();
    const key = ledger.redactionKey();
    const extra = parseRedactionRules(ledger.config);
    const identity = await identifyTool(req.binary, ledger.dir);
    const { entry, redacting, by } = startEntry(intent, { key, extra, runId: req.runId, time, identity, author: currentAuthor(req.actor), reason: req.reason });
    const startIndex = ledger.append([entry]).indices[0]!;
    return { ledger, startIndex, redacting, by };
  } catch (e) {
    ledger?.close();
    const msg = e instanceof Error ? e.message : String(e);
    if (!req.failOpen) throw new FfauditError('RECORD', `the run could not be recorded, so ${intent.tool} was not started: ${msg}`, { cause: e });
    warn(`WARNING: the run could not be recorded (${msg}); running ${intent.tool} UNAUDITED because FFAUDIT_POLICY=fail-open`);
    await stderrWriter().idle(); // on the terminal before anything FFmpeg prints
    return undefined;
  }
}
