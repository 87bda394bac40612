/**
 * Audited FFmpeg/FFprobe runs: two entries per run. `run.start` is committed before FFmpeg starts (fail closed);
 * `run.end` after it exits and names its start by log index. A run without an end is `incomplete`.
 *
 * `RunRecord` is the shape `ffaudit log --json` prints, one per line: a contract documented in the README.
 */
import type { EntryBase, FileRecord, Redaction } from './entry.js';

export type Tool = 'ffmpeg' | 'ffprobe';
export type RunStatus = 'ok' | 'failed' | 'incomplete' | 'terminated';

export interface FfmpegIdentity {
  path: string;
  version: string | null;
  sha256: string | null;
}

export interface InputRecord extends FileRecord {
  /** True when the content changed while FFmpeg was reading it. */
  changed_during_run?: boolean;
  /** The path's exact bytes (base64) when they are not valid UTF-8; `path` then holds a lossy rendering. */
  path_b64?: string;
  /** Why there is no hash: ENOENT, EACCES, not a regular file… */
  error?: string;
  /**
   * In run.end only, for a hashed input: the run that produced these bytes, as recorded when this run ended (like
   * a commit naming its parents): its run.end's log index and leaf hash; `none` when the log provably held no
   * producer; `unknown` when that could not be proven. docs/provenance.md gives the exact semantics.
   */
  produced_by?: ProducedBy;
}

export type ProducedBy = { index: number; leaf: string } | 'none' | 'unknown';

export interface StreamSummary {
  /** 'input' or 'output', the file index in FFmpeg's numbering, and the stream index. */
  direction: 'input' | 'output';
  file: number;
  stream: number;
  type: string; // Video, Audio, Subtitle, Data…
  codec: string | null;
  width?: number;
  height?: number;
  duration?: string;
  bitrate_kbps?: number;
  detail?: string;
}

export interface RunStartEntry extends EntryBase {
  type: 'run.start';
  run: string;
  tool: Tool;
  cwd: string;
  argv: string[];
  redactions: Redaction[];
  reason?: string;
  ffmpeg: FfmpegIdentity;
  inputs: InputRecord[];
  policy?: 'fail-open';
  /** Arguments whose exact bytes are not valid UTF-8: index in argv → base64 of the bytes. */
  argv_b64?: Record<string, string>;
}

export interface RunEndEntry extends EntryBase {
  type: 'run.end';
  run: string;
  start: number;
  status: Exclude<RunStatus, 'incomplete'>;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  inputs: InputRecord[];
  outputs: FileRecord[];
  streams: StreamSummary[];
  report_sha256: string | null;
  redactions: Redaction[];
  notes?: string[];
}

export interface RunRecord {
  id: string;
  tool: Tool;
  entries: number[];
  status: RunStatus;
  user: string;
  uid: number | null;
  host: string;
  asserted_actor: string | null;
  reason: string | null;
  cwd: string;
  argv: string[];
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  signal: string | null;
  inputs: InputRecord[];
  outputs: FileRecord[];
  streams: StreamSummary[];
  ffmpeg: FfmpegIdentity;
  report_sha256: string | null;
}

/** Joins a run's two entries (already blob-resolved) into the `log --json` record. */
export function runFromEntries(startIndex: number, start: RunStartEntry, endIndex?: number, end?: RunEndEntry): RunRecord {
  return {
    id: start.run,
    tool: start.tool,
    entries: end && endIndex !== undefined ? [startIndex, endIndex] : [startIndex],
    status: end ? end.status : 'incomplete',
    user: start.by.user,
    uid: start.by.uid,
    host: start.by.host,
    asserted_actor: start.by.asserted_actor ?? null,
    reason: start.reason ?? null,
    cwd: start.cwd,
    argv: start.argv,
    started_at: start.time,
    ended_at: end?.time ?? null,
    duration_ms: end?.duration_ms ?? null,
    exit_code: end?.exit_code ?? null,
    signal: end?.signal ?? null,
    inputs: end?.inputs ?? start.inputs,
    outputs: end?.outputs ?? [],
    streams: end?.streams ?? [],
    ffmpeg: start.ffmpeg,
    report_sha256: end?.report_sha256 ?? null,
  };
}

/** A run as `ffaudit log --json` prints it, plus the origin of the log that holds it (the team server's answers). */
export type LoggedRun = RunRecord & { log: string };

/**
 * A hit of a search across logs whose entries could not be read back as recorded: reported, never hidden, never
 * returned as a run or note.
 */
export interface Unreadable {
  /** The origin of its log. */
  log: string;
  /** The entry index the index pointed at. */
  index: number;
  /** The run id, when known. */
  id: string | null;
  error: string;
}
