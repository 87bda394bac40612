/**
 * `ffaudit serve` as its own process, as in production, for end-to-end tests: started on a free loopback port, its
 * request log collected, stopped with SIGTERM (requests in flight finish first).
 */
import { spawn } from 'node:child_process';
import { BIN } from './cli.js';
import { cleanEnv } from './fixtures.js';

export interface ServeProcess {
  url: string;
  /** Everything the server printed on standard output so far (its request log). */
  log(): string;
  stop(): Promise<void>;
}

export async function startServe(db: string, keys: string, extra: readonly string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--db', db, '--keys', keys, '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+?);/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return {
    url,
    log: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
