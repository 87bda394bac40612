/**
 * TEST HELPER: a team server as a studio runs it, built only through the real CLI: `ffaudit serve init` for its
 * keys, `ffaudit serve` as its own process with an access log, people added with `ffaudit serve users add` (the
 * password on standard input), hosts enrolled with `ffaudit serve hosts add` and `ffaudit join` (the token on
 * standard input), each host a ledger of its own whose audited FFmpeg runs are pushed with `ffaudit push`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Role } from '../server/api/auth.js';
import { cleanEnv, runCliAsync, tempDir, type CliResult } from './fixtures.js';
import { createDatabase } from './pg-server.js';
import { startServe, type ServeProcess } from './serve-process.js';

export interface Host {
  name: string;
  origin: string;
  ledger: string;
}

export interface Person {
  name: string;
  role: Role;
  password: string;
}

export interface ServeWorld {
  url: string;
  db: string;
  /** The directory everything lives in (keys, ledgers, media): removed by close. */
  dir: string;
  server: ServeProcess;
  /** The real binary, asserted to exit 0; its output. */
  ffaudit(args: readonly string[], opts?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  addPerson(name: string, role: Role): Promise<Person>;
  enrol(name: string): Promise<Host>;
  /** An audited FFmpeg run on a host (its ledger), pushed to the server as it ends. */
  ffmpeg(host: Host, args: readonly string[]): Promise<CliResult>;
  close(): Promise<void>;
}

export async function serveWorld(pgAdminUrl: string): Promise<ServeWorld> {
  const tmp = tempDir('serve-world');
  const db = await createDatabase(pgAdminUrl);
  const ffaudit = async (args: readonly string[], opts: { input?: string; env?: Record<string, string> } = {}) => {
    const r = await runCliAsync(args, cleanEnv(opts.env ?? {}), opts.input);
    assert.equal(r.status, 0, `ffaudit ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const keys = join(tmp.dir, 'server-keys');
  let server: ServeProcess;
  try {
    await ffaudit(['serve', 'init', '--name', 'audit.test', '--keys', keys]);
    server = await startServe(db, keys, ['--access-log', join(tmp.dir, 'access-log')]);
  } catch (err) {
    tmp.cleanup();
    throw err;
  }
  return {
    url: server.url,
    db,
    dir: tmp.dir,
    server,
    ffaudit,
    async addPerson(name, role) {
      const password = `${name} has a long passphrase`;
      await ffaudit(['serve', 'users', 'add', name, '--role', role, '--db', db], { input: `${password}\n` });
      return { name, role, password };
    },
    async enrol(name) {
      const host = { name, origin: `${name}.test/ffaudit`, ledger: join(tmp.dir, name) };
      await ffaudit(['--ledger', host.ledger, 'init', '--origin', host.origin]);
      const token = await ffaudit(['serve', 'hosts', 'add', name, '--db', db]);
      await ffaudit(['--ledger', host.ledger, 'join', server.url], { input: token.stdout });
      return host;
    },
    ffmpeg: (host, args) => ffaudit(['--ledger', host.ledger, 'ffmpeg', '-v', 'error', '-nostdin', ...args], { env: { FFAUDIT_PUSH: 'sync' } }),
    async close() {
      await server.stop();
      tmp.cleanup();
    },
  };
}
