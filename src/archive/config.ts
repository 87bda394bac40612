/**
 * The `archive` section of a ledger's config.json:
 *   { "archive": { "to": "s3://BUCKET/PREFIX" | "/dir", "endpoint": "https://…", "mode": "compliance",
 *                  "retain": "7y", "auto": true, "maxLag": "24h" } }
 * Read cheaply (one small file) because `scheduleAutoArchive` runs after every captured run. No credentials here:
 * they come from the AWS environment variables or profile files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE } from '../ledger/location.js';

export interface ArchiveConfig {
  to?: string;
  endpoint?: string;
  mode?: string;
  retain?: string;
  auto?: boolean;
  /** How long local entries may stay unarchived before `verify --trusted ARCHIVE` reports archive-behind. */
  maxLag?: string;
}

/** Entries older than this and never archived are an `archive-behind` finding, unless the config says otherwise. */
export const DEFAULT_MAX_LAG = '24h';

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The archive settings of the ledger at `dir`; empty when there are none or the file is unreadable. */
export function readArchiveConfig(dir: string): ArchiveConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8'));
  } catch {
    return {};
  }
  const a = (parsed as { archive?: unknown } | null)?.archive;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return {};
  const o = a as Record<string, unknown>;
  return { to: str(o.to), endpoint: str(o.endpoint), mode: str(o.mode), retain: str(o.retain), auto: o.auto === true, maxLag: str(o.maxLag) };
}
