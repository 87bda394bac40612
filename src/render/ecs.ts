/**
 * Runs and custody notes as Elastic Common Schema documents (ECS 8.x field reference), nested objects, one per
 * run and one per note, ready for
 * Elasticsearch/OpenSearch bulk ingestion or a log shipper. The mapping is documented in docs/provenance.md.
 *
 * Field types follow the ECS reference: keyword fields are strings (arrays where ECS says "array of values"),
 * long fields are integers, date fields are RFC 3339 strings; `ffaudit.*` holds what ECS has no field for.
 */
import { createHash } from 'node:crypto';
import type { FileRecord, NoteRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import { shellQuote } from './shell-quote.js';

export const ECS_VERSION = '8.11.0';

/**
 * The data stream namespace of a log (ECS `data_stream.namespace`): every log's documents go to data streams of their
 * own, `logs-ffaudit.runs-<namespace>` and `logs-ffaudit.notes-<namespace>`, so that an export from a server holding
 * many hosts' logs never mixes two logs in one stream (and a retention or access rule can name one log). Elasticsearch
 * allows a namespace of at most 100 bytes, lower case, without `-`, `\`, `/`, `*`, `?`, `"`, `<`, `>`, `|`, space, `,`,
 * `#` or `:`: the origin is lower-cased with every character but a-z, 0-9 and `_` turned into `_`, cut to 60
 * characters, and followed by `_` and the first 16 hex digits of SHA-256(origin), so two origins that read alike
 * after that still land apart.
 */
export function dataStreamNamespace(origin: string): string {
  const readable = origin.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 60);
  return `${readable}_${createHash('sha256').update(origin, 'utf8').digest('hex').slice(0, 16)}`;
}

export type EcsOutcome = 'success' | 'failure' | 'unknown';

export function outcomeOf(run: RunRecord): EcsOutcome {
  if (run.status === 'ok') return 'success';
  if (run.status === 'failed' || run.status === 'terminated') return 'failure';
  return 'unknown';
}

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 ? path.slice(i + 1) : path;
}

function hashes(files: readonly FileRecord[]): string[] {
  return files.map((f) => f.sha256).filter((h): h is string => h !== null);
}

function fileDoc(f: FileRecord): Record<string, unknown> {
  const d: Record<string, unknown> = { path: f.path, name: baseName(f.path) };
  if (f.size !== null) d.size = f.size;
  if (f.sha256 !== null) d.hash = { sha256: f.sha256 };
  return d;
}

/** The process arguments ECS expects: the executable first, then FFmpeg's arguments as recorded (redacted). */
function processArgs(run: RunRecord): string[] {
  return [run.ffmpeg.path, ...run.argv];
}

export function runToEcs(run: RunRecord, origin: string): Record<string, unknown> {
  const args = processArgs(run);
  const commandLine = args.map(shellQuote).join(' ');
  const outcome = outcomeOf(run);
  const event: Record<string, unknown> = {
    kind: 'event',
    category: ['process'],
    type: run.status === 'incomplete' ? ['start'] : ['end'],
    action: `${run.tool}-run`,
    outcome,
    id: run.id,
    dataset: 'ffaudit.runs',
    provider: 'ffaudit',
    module: 'ffaudit',
    sequence: run.entries[0]!,
    start: run.started_at,
  };
  if (run.ended_at !== null) event.end = run.ended_at;
  if (run.duration_ms !== null) event.duration = run.duration_ms * 1_000_000; // ECS: nanoseconds
  if (run.reason !== null) event.reason = run.reason;

  const proc: Record<string, unknown> = {
    name: run.tool,
    executable: run.ffmpeg.path,
    args,
    args_count: args.length,
    command_line: commandLine,
    working_directory: run.cwd,
    start: run.started_at,
  };
  if (run.ended_at !== null) proc.end = run.ended_at;
  if (run.exit_code !== null) proc.exit_code = run.exit_code; // ECS: absent when there is no exit code
  if (run.ffmpeg.sha256 !== null) proc.hash = { sha256: run.ffmpeg.sha256 };

  const user: Record<string, unknown> = { name: run.user };
  if (run.uid !== null) user.id = String(run.uid);
  const relatedUsers = [run.user, ...(run.asserted_actor !== null ? [run.asserted_actor] : [])];

  const doc: Record<string, unknown> = {
    '@timestamp': run.started_at,
    ecs: { version: ECS_VERSION },
    message: `${run.tool} run ${run.id} ${run.status}: ${commandLine}`,
    event,
    process: proc,
    user,
    host: { name: run.host, hostname: run.host },
    related: { hash: [...new Set([...hashes(run.inputs), ...hashes(run.outputs)])], user: [...new Set(relatedUsers)] },
    data_stream: { type: 'logs', dataset: 'ffaudit.runs', namespace: dataStreamNamespace(origin) },
    labels: { ffaudit_origin: origin, ffaudit_run: run.id, ffaudit_status: run.status },
    ffaudit: {
      run: run.id,
      status: run.status,
      entries: run.entries,
      signal: run.signal,
      asserted_actor: run.asserted_actor,
      inputs: run.inputs.map(fileDoc),
      outputs: run.outputs.map(fileDoc),
      ffmpeg_version: run.ffmpeg.version,
      report_sha256: run.report_sha256,
    },
  };
  // ECS `file` describes one file: the run's output when there is exactly one.
  if (run.outputs.length === 1) doc.file = fileDoc(run.outputs[0]!);
  return doc;
}

/**
 * A custody note: a person's statement about files (received, viewed, handed over). ECS has no category for a
 * custody step; `file` with type `info` is the nearest allowed pair (event.category "file": "relating to the
 * fields of a file", expected types access, change, creation, deletion, info), and `event.action` names it.
 */
export function noteToEcs(note: NoteRecord, origin: string): Record<string, unknown> {
  const id = `note-${note.index}`;
  const user: Record<string, unknown> = { name: note.user };
  if (note.uid !== null) user.id = String(note.uid);
  const relatedUsers = [note.user, ...(note.asserted_actor !== null ? [note.asserted_actor] : [])];
  const doc: Record<string, unknown> = {
    '@timestamp': note.time,
    ecs: { version: ECS_VERSION },
    message: `custody note (entry ${note.index}): ${note.text}`,
    event: {
      kind: 'event',
      category: ['file'],
      type: ['info'],
      action: 'custody-note',
      id,
      dataset: 'ffaudit.notes',
      provider: 'ffaudit',
      module: 'ffaudit',
      sequence: note.index,
      created: note.time,
    },
    user,
    host: { name: note.host, hostname: note.host },
    related: { hash: [...new Set(hashes(note.files))], user: [...new Set(relatedUsers)] },
    data_stream: { type: 'logs', dataset: 'ffaudit.notes', namespace: dataStreamNamespace(origin) },
    labels: { ffaudit_origin: origin, ffaudit_note: String(note.index) },
    ffaudit: { note: note.index, text: note.text, asserted_actor: note.asserted_actor, files: note.files.map(fileDoc) },
  };
  if (note.files.length === 1) doc.file = fileDoc(note.files[0]!);
  return doc;
}
