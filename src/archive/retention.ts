/**
 * Object Lock retention for archived objects: a mode and a period. Governance retention can be lifted by an
 * account holding s3:BypassGovernanceRetention; compliance retention cannot be shortened or removed by anyone,
 * the account's root user included, until it expires: that is what makes a copy evidence.
 */
import { FfauditError } from '../core/errors.js';
import { parseDurationText } from '../time/duration.js';

export type LockMode = 'governance' | 'compliance';

export interface Retention {
  mode: LockMode;
  /** As given, e.g. "1y" or "90d". */
  period: string;
  until: Date;
}

export const DEFAULT_MODE: LockMode = 'governance';
export const DEFAULT_RETAIN = '1y';

export function parseLockMode(text: string): LockMode {
  if (text === 'governance' || text === 'compliance') return text;
  throw new FfauditError('USAGE', `--mode must be governance or compliance, not ${JSON.stringify(text)}`);
}

/** `<n>d` (days) or `<n>y` (calendar years, UTC), counted from `now`. */
export function parseRetention(mode: LockMode, period: string, now: Date = new Date()): Retention {
  const d = parseDurationText(period, { units: ['d', 'y'], positive: true, maxDigits: 5 });
  if (!d) throw new FfauditError('USAGE', `--retain must be a number of days or years such as 90d or 7y, not ${JSON.stringify(period)}`);
  const until = new Date(now.getTime());
  if (d.unit === 'd') until.setUTCDate(until.getUTCDate() + d.count);
  else until.setUTCFullYear(until.getUTCFullYear() + d.count);
  if (until.getUTCFullYear() > 9999) throw new FfauditError('USAGE', `--retain ${period} reaches beyond the year 9999`);
  return { mode, period, until };
}

export function describeRetention(r: Retention): string {
  const note = r.mode === 'compliance' ? 'nobody can shorten or remove it, not even the account root' : 'an account allowed to bypass governance retention can still remove it';
  return `${r.mode} mode until ${r.until.toISOString()} (${r.period}; ${note})`;
}
