/**
 * FFmpeg's stderr, minus the lines that only our FFREPORT made it print. When FFREPORT is set, fftools'
 * init_report() logs at AV_LOG_INFO, before anything else (before the banner):
 *
 *   ffmpeg started on 2026-11-28 at 06:41:08
 *   Report written to "/tmp/ffaudit-XXXX/report.log"
 *   Log level: 48                      (FFmpeg 5.x and later; the 2018 static build omits it)
 *
 * optionally prefixed with "[info] " when the user asked for `-loglevel +level`. Those lines (and only those, and
 * only at the very start) are removed; every other byte passes through unchanged and unbuffered, so progress
 * lines ending in \r and prompts without a newline reach the terminal as FFmpeg writes them.
 */

type Step = { prefix: string; re: RegExp; optional: boolean };

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class ReportBannerFilter {
  private buf: Buffer = Buffer.alloc(0);
  private step = 0;
  private done = false;
  private readonly steps: Step[];

  constructor(
    program: string,
    reportPath: string,
    private readonly write: (b: Buffer) => void,
  ) {
    const info = '(?:\\[info\\] )?';
    this.steps = [
      { prefix: `${program} started on `, re: new RegExp(`^${info}${escapeRe(program)} started on \\d{4}-\\d\\d-\\d\\d at \\d\\d:\\d\\d:\\d\\d\\r?$`), optional: false },
      { prefix: 'Report written to "', re: new RegExp(`^${info}Report written to "${escapeRe(reportPath)}"\\r?$`), optional: false },
      { prefix: 'Log level: ', re: new RegExp(`^${info}Log level: \\d+\\r?$`), optional: true },
    ];
  }

  /** Could `text` (no newline yet) still become the line this step removes? */
  private couldMatch(text: string, s: Step): boolean {
    const t = text.startsWith('[info] ') ? text.slice(7) : '[info] '.startsWith(text) ? '' : text;
    return s.prefix.startsWith(t) || t.startsWith(s.prefix);
  }

  push(chunk: Buffer): void {
    if (this.done) {
      this.write(chunk);
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const s = this.steps[this.step];
      if (!s) return this.passThrough();
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        // Wait for the rest of the line only while it can still be ours (a prompt must never be held back).
        if (this.buf.length > 4096 || !this.couldMatch(this.buf.toString('latin1'), s)) return this.passThrough();
        return;
      }
      const line = this.buf.subarray(0, nl).toString('utf8');
      if (s.re.test(line)) {
        this.buf = this.buf.subarray(nl + 1);
        this.step++;
        if (this.step >= this.steps.length) return this.passThrough();
        continue;
      }
      if (s.optional) return this.passThrough();
      return this.passThrough();
    }
  }

  /** Flushes whatever is held (the stream ended). */
  end(): void {
    this.passThrough();
  }

  private passThrough(): void {
    this.done = true;
    if (this.buf.length) this.write(this.buf);
    this.buf = Buffer.alloc(0);
  }
}
