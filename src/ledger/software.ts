/**
 * The version of ffaudit that is running, from its package.json. Every entry records it (`ffaudit_version`), so a
 * reader can tell which code wrote what it reads. Read once, when first asked for: the capture bundle
 * (dist/bundle/capture.cjs) sits at the same depth as this module, so the same relative URL finds the same file.
 */
import { readFileSync } from 'node:fs';

let cached: string | null | undefined;

/** The `version` of ffaudit's package.json; null when it cannot be read (an entry is never refused for that). */
export function ffauditVersion(): string | null {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
    cached = pkg.name === 'ffaudit' && typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    cached = null;
  }
  return cached;
}
