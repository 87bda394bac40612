/**
 * Where a ledger lives: `--ledger DIR`, else FFAUDIT_LEDGER, else the per-user data directory
 * ($XDG_DATA_HOME/ffaudit or ~/.local/share/ffaudit). Only the per-user default is ever created implicitly: a
 * ledger named explicitly that does not exist is an error, because a vanished ledger must not look like a fresh one.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const DB_FILE = 'ledger.db';
export const KEY_FILE = 'signing.key';
export const CONFIG_FILE = 'config.json';
export const REDACTION_KEY_FILE = 'redaction.key';
export const VKEY_FILE = 'vkey';

export interface LedgerLocation {
  dir: string;
  /** True when named by flag or environment variable. */
  explicit: boolean;
}

/**
 * `absolute` makes a relative flag or FFAUDIT_LEDGER absolute (default: against the process's directory, which is
 * read only then: a command naming an absolute ledger still works from a directory that was deleted). The per-user
 * default follows `env` (HOME, XDG_DATA_HOME), so that a caller passing its own environment gets its own default.
 */
export function resolveLedgerDir(flag: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env, absolute: (path: string) => string = (p) => resolve(p)): LedgerLocation {
  if (flag) return { dir: absolute(flag), explicit: true };
  if (env.FFAUDIT_LEDGER) return { dir: absolute(env.FFAUDIT_LEDGER), explicit: true };
  const home = env.HOME && env.HOME.startsWith('/') ? env.HOME : homedir();
  const base = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(home, '.local', 'share');
  return { dir: join(base, 'ffaudit'), explicit: false };
}
