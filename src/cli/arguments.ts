/** Parsers for command-line arguments that several commands share. */
import { FfauditError } from '../core/errors.js';

/** Parses a non-negative integer argument, or fails with a usage error. */
export function parseIndex(text: string, what: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new FfauditError('USAGE', `${what} must be a non-negative integer, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A repeatable option's values, in order (commander's custom option processing). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
