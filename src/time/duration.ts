/**
 * Durations as people type them: a count and a unit, `90s`, `10m`, `24h`, `7d`, `1w`, `1y`. One grammar for every
 * option and setting that takes one; each caller says which units and counts it accepts, and words its own error.
 */

/** The units of a fixed length, in milliseconds. A year is not one: it is counted on the calendar (retention). */
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export type FixedUnit = keyof typeof UNIT_MS;
export type DurationUnit = FixedUnit | 'y';

export interface DurationGrammar<U extends DurationUnit> {
  /** The units accepted (lower case, as typed). */
  units: readonly U[];
  /** A count of at least 1 written without leading zeros; otherwise any decimal digits, 0 and 007 included. */
  positive?: boolean;
  /** At most this many digits. */
  maxDigits?: number;
}

export interface Duration<U extends DurationUnit> {
  count: number;
  unit: U;
}

/** `<count><unit>` as `grammar` accepts it; null for anything else. */
export function parseDurationText<U extends DurationUnit>(text: string, grammar: DurationGrammar<U>): Duration<U> | null {
  const m = /^([0-9]+)([a-z])$/.exec(text);
  if (!m || !(grammar.units as readonly string[]).includes(m[2]!)) return null;
  const digits = m[1]!;
  if (grammar.positive && digits.startsWith('0')) return null;
  if (grammar.maxDigits !== undefined && digits.length > grammar.maxDigits) return null;
  return { count: Number(digits), unit: m[2] as U };
}

/** A duration of fixed-length units in milliseconds (Infinity when a count of many digits overflows). */
export function durationMs(d: Duration<FixedUnit>): number {
  return d.count * UNIT_MS[d.unit];
}
