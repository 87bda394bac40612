/**
 * FFmpeg's report log (FFREPORT=file=…:level=48), read for what a run touched and what it produced.
 *
 * What FFmpeg logs, found by running FFmpeg 4.x (static build) and 5.1 (Debian) with FFREPORT:
 * - `[<ctx> @ 0x…] Opening '<path>' for reading` (AV_LOG_DEBUG) and `… for writing` (AV_LOG_VERBOSE), from
 *   libavformat's io_open_default: demuxer inputs, concat list entries, image2 frames, HLS/DASH/segment
 *   segments and playlists, tee targets, subtitles= files. Outputs ffmpeg opens itself (avio_open2) are not
 *   logged: the argv names those.
 * - HLS (`-hls_flags temp_file` and its playlists), DASH, segment lists and image2 `-atomic_writing` write to
 *   `<name>.tmp` and rename it to `<name>` (ff_rename), which is silent unless it fails; the rename is inferred.
 * - `Input #N, <fmt>, from '<path>':` / `Output #N, <fmt>, to '<path>':`, then `  Duration: …` and
 *   `  Stream #N:M…: <Type>: <codec> …` lines (av_dump_format).
 * - `ffmpeg version X` / `ffprobe version X` near the top.
 *
 * The log is attacker-influenced: file names are printed raw and may contain quotes, newlines or text that
 * imitates log lines, and FFmpeg's report writer truncates each message at 1023 bytes without ending the line.
 * So: an Opening message is recognised only where a log message starts, its path ends at the first
 * `' for reading|writing` closing a line, a message without one is counted as truncated, stream lines count
 * only inside their own file's dump, and a repeated dump of the same file replaces the earlier one (the real
 * dump follows any imitation embedded in the file name that precedes it).
 */
import type { StreamSummary } from '../core/run.js';

export interface ReportAnalysis {
  /** Every Opening message, in order, path exactly as logged. */
  opened: { path: string; mode: 'read' | 'write' }[];
  /**
   * Temporary files renamed to their final names, inferred from FFmpeg's `<name>.tmp` convention (the rename
   * itself is not logged): confirm on the file system that `to` exists and `from` does not.
   */
  renamed: { from: string; to: string }[];
  /** From the `Input #N` / `Output #N` dumps. */
  streams: StreamSummary[];
  /** `ffmpeg version X` / `ffprobe version X`. */
  version: string | null;
  /** Opening messages whose path could not be read whole (FFmpeg truncates log lines at 1023 bytes). */
  truncated: number;
}

/** The `[ctx @ 0x…] ` prefix of a log message, ending where the message text starts. */
const CONTEXT_PREFIX = /\[[^\]\n]{1,200} @ (?:0x)?[0-9a-fA-F]+\] $/;
const OPENING = "Opening '";
const OPENING_END = /' for (reading|writing)(?=\n|\r\n|$)/g;

/**
 * Where Opening messages start: at a line start, or after a `[ctx @ 0x…] ` prefix (possibly glued to a truncated
 * line). Found with indexOf rather than a regular expression tried at every line: debug reports run to megabytes.
 */
function openingStarts(text: string): { start: number; pathStart: number }[] {
  const starts: { start: number; pathStart: number }[] = [];
  for (let i = text.indexOf(OPENING); i >= 0; i = text.indexOf(OPENING, i + OPENING.length)) {
    const pathStart = i + OPENING.length;
    if (i === 0 || text[i - 1] === '\n') {
      starts.push({ start: i, pathStart });
      continue;
    }
    const before = text.slice(Math.max(0, i - 260), i);
    const m = CONTEXT_PREFIX.exec(before);
    if (m) starts.push({ start: i - m[0].length, pathStart });
  }
  return starts;
}

function parseOpened(text: string): { opened: ReportAnalysis['opened']; truncated: number } {
  const starts = openingStarts(text);
  const opened: ReportAnalysis['opened'] = [];
  let truncated = 0;
  for (let i = 0; i < starts.length; i++) {
    const { pathStart } = starts[i]!;
    const limit = i + 1 < starts.length ? starts[i + 1]!.start : text.length;
    // Searched only up to the next message (plus the two characters that show whether a line ends there), so
    // that many unterminated messages cannot make the search quadratic.
    const region = text.slice(pathStart, Math.min(limit + 2, text.length));
    OPENING_END.lastIndex = 0;
    const end = OPENING_END.exec(region);
    if (!end || pathStart + end.index + end[0].length > limit) {
      truncated++;
      continue;
    }
    opened.push({ path: region.slice(0, end.index), mode: end[1] === 'reading' ? 'read' : 'write' });
  }
  return { opened, truncated };
}

function inferRenames(opened: ReportAnalysis['opened']): ReportAnalysis['renamed'] {
  const renamed: ReportAnalysis['renamed'] = [];
  const seen = new Set<string>();
  for (const o of opened) {
    if (o.mode !== 'write' || !o.path.endsWith('.tmp') || o.path.length <= 4 || seen.has(o.path)) continue;
    seen.add(o.path);
    renamed.push({ from: o.path, to: o.path.slice(0, -4) });
  }
  return renamed;
}

const HEADER = /^(Input|Output) #(\d+), (.*), (?:from|to) '(.*)':$/;
const DURATION = /^\s+Duration: ([0-9:.]+|N\/A)/;
// `Stream #0:1[0x2](und), 1, 1/44100: Audio: aac (LC) …` (the ", N, tb" part at debug level only).
const STREAM = /^\s+Stream #(\d+):(\d+)(?:\[0x[0-9a-fA-F]+\])?(?:\([^)\n]*\))?(?:, \d+, \d+\/\d+)?: ([A-Za-z]+): (.*)$/;

function summarizeStream(direction: 'input' | 'output', file: number, stream: number, type: string, rest: string, duration: string | null): StreamSummary {
  const codec = /^([A-Za-z0-9_.-]+)/.exec(rest);
  const s: StreamSummary = { direction, file, stream, type, codec: codec ? codec[1]! : null };
  const size = /, (\d{1,5})x(\d{1,5})(?=[ ,]|$)/.exec(rest);
  if (size && (type === 'Video' || type === 'Subtitle')) {
    s.width = Number(size[1]);
    s.height = Number(size[2]);
  }
  if (duration !== null) s.duration = duration;
  const rate = /, (\d{1,9}) kb\/s/.exec(rest);
  if (rate) s.bitrate_kbps = Number(rate[1]);
  s.detail = rest.length > 300 ? `${rest.slice(0, 300)}…` : rest;
  return s;
}

function parseStreams(lines: string[]): StreamSummary[] {
  const byFile = new Map<string, StreamSummary[]>();
  let current: { direction: 'input' | 'output'; file: number; key: string; duration: string | null } | null = null;
  for (const line of lines) {
    const h = HEADER.exec(line);
    if (h) {
      const direction = h[1] === 'Input' ? 'input' : 'output';
      const file = Number(h[2]);
      const key = `${direction}#${file}`;
      current = { direction, file, key, duration: null };
      byFile.set(key, []); // a repeated dump of the same file replaces the earlier one
      continue;
    }
    if (!current) continue;
    if (!/^\s/.test(line)) {
      current = null;
      continue;
    }
    const d = DURATION.exec(line);
    if (d) {
      current.duration = d[1] === 'N/A' ? null : d[1]!;
      continue;
    }
    const s = STREAM.exec(line);
    if (!s || Number(s[1]) !== current.file) continue;
    const list = byFile.get(current.key)!;
    const stream = Number(s[2]);
    if (list.some((x) => x.stream === stream)) continue;
    list.push(summarizeStream(current.direction, current.file, stream, s[3]!, s[4]!, current.duration));
  }
  const all = [...byFile.values()].flat();
  all.sort((a, b) => (a.direction === b.direction ? a.file - b.file || a.stream - b.stream : a.direction === 'input' ? -1 : 1));
  return all;
}

export function parseReport(text: string): ReportAnalysis {
  const { opened, truncated } = parseOpened(text);
  const lines = text.split(/\r?\n/);
  let version: string | null = null;
  for (const line of lines.slice(0, 50)) {
    const v = /^(?:ffmpeg|ffprobe) version (\S{1,200})/.exec(line);
    if (v) {
      version = v[1]!;
      break;
    }
  }
  return { opened, renamed: inferRenames(opened), streams: parseStreams(lines), version, truncated };
}
