/** Durations in settings and options: `<n>s`, `<n>m`, `<n>h` or `<n>d`. */
import { FfauditError } from '../core/errors.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string, what: string): number {
  const m = /^([1-9][0-9]{0,6})([smhd])$/.exec(text);
  if (!m) throw new FfauditError('USAGE', `${what} must be a duration such as 90s, 10m, 24h or 7d, not ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}
