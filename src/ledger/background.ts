/**
 * Starts `ffaudit ARGS…` on a ledger as a detached background process whose output is appended to DIR/`logName`:
 * what a run does after it ends (the automatic archive, the push), so that the run itself never waits.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The child's PID. Throws when the log cannot be opened; the callers, which must never fail a run, catch. */
export function startDetached(ledgerDir: string, logName: string, args: readonly string[], env: NodeJS.ProcessEnv): number | undefined {
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  // Never through a link left in the folder: the background process may run with more rights than whoever left it.
  const log = openSync(join(ledgerDir, logName), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const child = spawn(process.execPath, [main, '--ledger', ledgerDir, ...args], { detached: true, stdio: ['ignore', log, log], env });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}
