/**
 * Pushing by itself after each captured run, the way the automatic archive is started (archive/auto.ts): when the
 * ledger has joined a team server or lists witnesses, `scheduleAutoPush` starts `ffaudit push --background` as a detached process
 * (output appended to DIR/push.log) and returns at once, so the run is never slowed and never fails because of it.
 * A push already running (DIR/push.lock) is left to finish: it pushes again while runs append (client.ts rounds),
 * and the next run's push takes what is left.
 *
 * FFAUDIT_PUSH=sync (or `"server": {"push": "sync"}` in the config) makes a run wait instead, for the server's
 * cosignature of a checkpoint holding its end entry (pushAfterRun, bounded in time); when that fails the run's exit
 * status stays FFmpeg's, one line on stderr says so, and a background push takes over. A run never waits for the
 * witnesses the config lists: their cosignatures are collected by a background push, after the synchronous one.
 * FFAUDIT_PUSH=off starts nothing.
 */
import { startDetached } from '../ledger/background.js';
import { pushLockHolder } from './state.js';
import { push, type PushOptions } from './client.js';

export const PUSH_LOG = 'push.log';
/** How long a run waits, with FFAUDIT_PUSH=sync, for the cosignature of its end (FFAUDIT_PUSH_TIMEOUT, seconds). */
export const DEFAULT_SYNC_TIMEOUT_S = 10;

export type PushMode = 'background' | 'sync' | 'off';

/** How a run pushes: FFAUDIT_PUSH (sync, off) first, then the config's server.push, else in the background. */
export function pushMode(env: Readonly<Record<string, string | undefined>>, configured: string | undefined): PushMode {
  const v = env.FFAUDIT_PUSH;
  if (v === 'sync' || v === 'off' || v === 'background') return v;
  return configured === 'sync' ? 'sync' : 'background';
}

/** Starts a detached background push of the ledger at `ledgerDir` unless one is running; the child's PID. Never throws. */
export function scheduleAutoPush(ledgerDir: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  try {
    if (pushLockHolder(ledgerDir) !== undefined) return undefined;
    return startDetached(ledgerDir, PUSH_LOG, ['push', '--background'], env);
  } catch {
    return undefined;
  }
}

/**
 * FFAUDIT_PUSH=sync: pushes now and waits, at most `timeoutS`, until the witness has cosigned a checkpoint of at
 * least `size` entries (the run's end included). Returns undefined when it has, else the one line to print. Never
 * throws.
 */
export async function pushAfterRun(ledgerDir: string, size: number, opts: { timeoutS?: number; fetch?: typeof fetch; retryBaseMs?: number } = {}): Promise<string | undefined> {
  const timeoutS = opts.timeoutS ?? DEFAULT_SYNC_TIMEOUT_S;
  const signal = AbortSignal.timeout(timeoutS * 1000);
  const o: PushOptions = { signal, retries: 1_000, retryBaseMs: opts.retryBaseMs ?? 200, retryMaxMs: 2_000, witnesses: false, ...(opts.fetch ? { fetch: opts.fetch } : {}) };
  try {
    const r = await push(ledgerDir, o);
    if (r.stopped) return `the team server did not cosign this run: ${r.stopped}`;
    if ((r.cosigned.witness ?? 0) >= size) return undefined;
    return `the team server did not cosign this run's end (it cosigned ${r.cosigned.witness ?? 0} of ${size} entries); a background push will send it`;
  } catch (e) {
    const why = signal.aborted ? `no cosignature within ${timeoutS} s` : (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return `the team server did not cosign this run's end (${why}); a background push will send it`;
  }
}
