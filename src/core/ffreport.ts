/** FFmpeg's report log (FFREPORT), read for the files a run touched. Being written; see below. */
import type { StreamSummary } from './run.js';

export interface ReportAnalysis {
  opened: { path: string; mode: 'read' | 'write' }[];
  renamed: { from: string; to: string }[];
  streams: StreamSummary[];
  version: string | null;
}

export function parseReport(text: string): ReportAnalysis {
  const opened: ReportAnalysis['opened'] = [];
  for (const m of text.matchAll(/Opening '(.*)' for (reading|writing)$/gm)) {
    opened.push({ path: m[1]!, mode: m[2] === 'reading' ? 'read' : 'write' });
  }
  const v = /^(?:ffmpeg|ffprobe) version (\S+)/m.exec(text);
  return { opened, renamed: [], streams: [], version: v ? v[1]! : null };
}
