/**
 * Reading FFmpeg's own report (FFREPORT, level 48 = AV_LOG_DEBUG) for the files it touched and the streams it saw.
 * The report is written by a process fed attacker-chosen media and names: every line is untrusted text, parsed
 * with anchored patterns and never evaluated.
 *
 * Lines used (libavformat/options.c io_open_default, fftools/ffmpeg_opt.c, libavformat/dump.c):
 *   [image2 @ 0x…] Opening 'img001.png' for reading
 *   Opening an input file: a.mp4.            Opening an output file: out.mkv.
 *   Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':
 *     Duration: 00:00:00.30, start: 0.000000, bitrate: 56 kb/s
 *     Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, 32x32 [SAR 1:1 DAR 1:1], 32 kb/s, 10 fps
 *   Output #0, matroska, to 'b.mkv':
 */
import type { StreamSummary } from '../core/run.js';

export interface ReportFacts {
  version: string | null;
  opened: { path: string; mode: 'read' | 'write' }[];
  inputNames: string[];
  outputNames: string[];
  streams: StreamSummary[];
}

const OPENING = /^(?:\[[^\]]*\] )*Opening '(.*)' for (reading|writing)\r?$/;
const OPEN_FILE = /^Opening an (input|output) file: (.*)\.\r?$/;
const HEADER = /^(Input|Output) #(\d+), [^\n]*? (?:from|to) '(.*)':\r?$/;
const DURATION = /^ {2}Duration: ([0-9:.]+|N\/A)(?:, start: [-0-9.]+)?(?:, bitrate: (\d+) kb\/s)?/;
const STREAM = /^ +Stream #(\d+):(\d+)[^:]*: (\w+): ([^,\s]+)?(.*)$/;

export function parseReportLog(text: string): ReportFacts {
  const facts: ReportFacts = { version: null, opened: [], inputNames: [], outputNames: [], streams: [] };
  let section: { direction: 'input' | 'output'; file: number; duration?: string; bitrate?: number } | undefined;
  // Progress lines end in a bare \r, and the next log line follows them on the same "line".
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (facts.version === null) {
      const v = /^\S+ version (\S+)/.exec(line);
      if (v) facts.version = v[1]!;
    }
    let m = OPENING.exec(line);
    if (m) {
      facts.opened.push({ path: m[1]!, mode: m[2] === 'reading' ? 'read' : 'write' });
      continue;
    }
    m = OPEN_FILE.exec(line);
    if (m) {
      (m[1] === 'input' ? facts.inputNames : facts.outputNames).push(m[2]!);
      continue;
    }
    m = HEADER.exec(line);
    if (m) {
      section = { direction: m[1] === 'Input' ? 'input' : 'output', file: Number(m[2]) };
      continue;
    }
    if (!section) continue;
    m = DURATION.exec(line);
    if (m) {
      if (m[1] !== 'N/A') section.duration = m[1]!;
      if (m[2]) section.bitrate = Number(m[2]);
      continue;
    }
    m = STREAM.exec(line);
    if (m && Number(m[1]) === section.file && !line.includes(' -> ')) {
      const rest = m[5] ?? '';
      const s: StreamSummary = { direction: section.direction, file: section.file, stream: Number(m[2]), type: m[3]!, codec: m[4] ?? null };
      const wh = /, (\d{1,6})x(\d{1,6})[ ,]/.exec(`${rest},`);
      if (wh) {
        s.width = Number(wh[1]);
        s.height = Number(wh[2]);
      }
      const br = /, (\d+) kb\/s/.exec(rest);
      if (br) s.bitrate_kbps = Number(br[1]);
      if (section.duration) s.duration = section.duration;
      s.detail = `${m[4] ?? ''}${rest}`.slice(0, 300);
      // The same stream is dumped more than once in some versions; keep the first.
      if (!facts.streams.some((x) => x.direction === s.direction && x.file === s.file && x.stream === s.stream)) facts.streams.push(s);
      continue;
    }
    if (!/^ {2}/.test(line)) section = undefined;
  }
  return facts;
}
