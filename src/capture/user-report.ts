/**
 * A report the user asked for (`-report` or FFREPORT in their environment). We never disturb it: FFmpeg writes it
 * where and as it would have without us, and we read it afterwards. fftools' init_report() names it from FFREPORT's
 * `file=` template (default "%p-%t.log": %p the program name, %t the local time as YYYYMMDD-HHMMSS, %% a percent
 * sign), relative to the working directory; its `level=` defaults to 48 (AV_LOG_DEBUG).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

export function wantsOwnReport(reportFlag: boolean, env: NodeJS.ProcessEnv): boolean {
  return reportFlag || env.FFREPORT !== undefined;
}

/** FFREPORT's key=value pairs, separated by ':' with '\' escapes and '…' quoting (libavutil av_get_token). */
export function parseFfreport(value: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < value.length) {
    let key = '';
    while (i < value.length && value[i] !== '=' && value[i] !== ':') key += value[i++];
    let val = '';
    if (value[i] === '=') {
      i++;
      let quoted = false;
      while (i < value.length && (quoted || value[i] !== ':')) {
        const c = value[i]!;
        if (c === '\\' && i + 1 < value.length) {
          val += value[i + 1];
          i += 2;
          continue;
        }
        if (c === "'") quoted = !quoted;
        else val += c;
        i++;
      }
    }
    if (key) out.set(key, val);
    i++;
  }
  return out;
}

function stamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getFullYear(), 4)}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function expand(template: string, program: string, t: Date): string {
  return template.replace(/%([pt%])/g, (_m, c: string) => (c === 'p' ? program : c === 't' ? stamp(t) : '%'));
}

/** The user's report file written by this run, if it can be found: the template expanded for each second of the run. */
export function findOwnReport(env: NodeJS.ProcessEnv, program: string, cwd: string, startedMs: number, endedMs: number): string | undefined {
  const template = (env.FFREPORT !== undefined ? parseFfreport(env.FFREPORT).get('file') : undefined) ?? '%p-%t.log';
  for (let t = Math.floor(startedMs / 1000) * 1000 - 1000; t <= endedMs + 1000; t += 1000) {
    const p = resolve(cwd, expand(template, program, new Date(t)));
    try {
      const s = statSync(p);
      if (s.isFile() && s.mtimeMs >= startedMs - 2000) return p;
    } catch {
      // not this second
    }
  }
  return undefined;
}
