/** Durations in settings and options: `<n>s`, `<n>m`, `<n>h` or `<n>d`. */
import { FfauditError } from '../core/errors.js';
import { durationMs, parseDurationText } from '../time/duration.js';

export function parseDuration(text: string, what: string): number {
  const d = parseDurationText(text, { units: ['s', 'm', 'h', 'd'], positive: true, maxDigits: 7 });
  if (!d) throw new FfauditError('USAGE', `${what} must be a duration such as 90s, 10m, 24h or 7d, not ${JSON.stringify(text)}`);
  return durationMs(d);
}
