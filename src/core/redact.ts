/** Secrets removed before anything is hashed or stored. Being written; see below. */
import { createHmac } from 'node:crypto';
import type { Redaction } from './run.js';

export interface RedactionRule {
  name: string;
  pattern: string;
}
export interface RedactedArgv {
  argv: string[];
  redactions: Redaction[];
  secrets: string[];
}

export const REDACTED_PREFIX = '<redacted:';

export function redactionHmac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

export function redactArgv(argv: readonly string[], _key: Buffer, _extra: readonly RedactionRule[] = []): RedactedArgv {
  return { argv: [...argv], redactions: [], secrets: [] };
}

export function redactText(text: string, _key: Buffer, _secrets: readonly string[], _extra: readonly RedactionRule[] = []): { text: string; redactions: Redaction[] } {
  return { text, redactions: [] };
}

export function parseRedactionRules(_config: unknown): RedactionRule[] {
  return [];
}
