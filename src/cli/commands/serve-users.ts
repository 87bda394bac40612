/**
 * `ffaudit serve users …`: the people who sign in to the web interface (server/web/accounts.ts). A password is read
 * from standard input, never from the command line or the environment, where `ps`, a shell history or a process's
 * environment would show it: one line from a pipe, or typed twice without echo at a terminal.
 */
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import type { Db } from '../../server/db/pool.js';
import type { Io } from '../io.js';
import { printable } from '../lineage-format.js';

type WithDb = <T>(o: { db?: string }, io: Io, fn: (db: Db) => Promise<T>) => Promise<T>;

/** More than any password accounts.ts accepts (1024 characters of up to 4 bytes), so the check there says why. */
const MAX_INPUT = 8192;

/** A terminal's standard input: the real process's only (io.ts processIo); a test's is a plain stream. */
interface TtyIn extends NodeJS.ReadableStream {
  isTTY: true;
  setRawMode(raw: boolean): void;
}
const isTty = (s: unknown): s is TtyIn => (s as { isTTY?: unknown }).isTTY === true && typeof (s as { setRawMode?: unknown }).setRawMode === 'function';

/** One line typed at the terminal with echo off: Enter ends it, Backspace erases, Ctrl-C or Ctrl-D before Enter cancels. */
function typeHidden(tty: TtyIn, io: Io, prompt: string): Promise<string> {
  io.err(prompt);
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (e?: Error) => {
      tty.removeListener('data', onData);
      tty.setRawMode(false);
      tty.pause();
      io.err('\n');
      if (e) reject(e);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new FfauditError('USAGE', 'cancelled: no password was set'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else text += ch;
        if (text.length > MAX_INPUT) return finish(new FfauditError('USAGE', 'the password is too long'));
      }
      return undefined;
    };
    tty.setRawMode(true);
    tty.setEncoding('utf8');
    tty.on('data', onData);
    tty.resume();
  });
}

/** The new password for `name`: typed twice at a terminal, or the one line of standard input. */
export async function readNewPassword(io: Io, name: string): Promise<string> {
  const stdin: unknown = io.stdin;
  if (isTty(stdin)) {
    const first = await typeHidden(stdin, io, `New password for ${name}: `);
    const again = await typeHidden(stdin, io, 'Again: ');
    if (first !== again) throw new FfauditError('USAGE', 'the two passwords differ: nothing was changed');
    return first;
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of io.stdin) {
    n += c.length;
    if (n > MAX_INPUT) throw new FfauditError('USAGE', 'standard input holds more than a password');
    chunks.push(Buffer.from(c));
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (text === '') throw new FfauditError('USAGE', `no password on standard input (one line, e.g. from a password manager's command)`);
  if (/[\r\n]/.test(text)) throw new FfauditError('USAGE', 'standard input holds more than one line: give the password alone');
  return text;
}

export function registerUsersCommands(serve: Command, io: Io, withDb: WithDb): void {
  const users = serve.command('users').description('people who sign in to the web interface, with roles: viewer, auditor, admin');
  const opts = (cmd: Command) => cmd.optsWithGlobals<{ db?: string; role?: string; json?: boolean }>();

  async function role(text: string | undefined) {
    const { isRole, ROLES } = await import('../../server/api/auth.js');
    if (!isRole(text)) throw new FfauditError('USAGE', `role: one of ${ROLES.join(', ')}`);
    return text;
  }

  users
    .command('add <name>')
    .description('add a person; the password is read from standard input (asked twice, without echo, at a terminal)')
    .requiredOption('--role <role>', 'viewer, auditor or admin')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const r = await role(o.role);
      const { addUser, checkNewPassword, checkUserName } = await import('../../server/web/accounts.js');
      checkUserName(name);
      const password = await readNewPassword(io, name);
      checkNewPassword(password);
      await withDb(o, io, (db) => addUser(db, name, r, password));
      io.out(`user ${name} added (${r})\n`);
    });

  users
    .command('list')
    .description('every person: name, role, how they sign in, created, disabled')
    .option('--json', 'one JSON object per person')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { listUsers } = await import('../../server/web/accounts.js');
      const rows = await withDb(o, io, (db) => listUsers(db));
      if (o.json) {
        for (const u of rows) {
          const { id, name, role: r, has_password, oidc_subject } = u;
          io.out(`${JSON.stringify({ id, name, role: r, created_at: u.created_at.toISOString(), disabled_at: u.disabled_at?.toISOString() ?? null, has_password, oidc_subject })}\n`);
        }
        return;
      }
      if (rows.length === 0) io.out('no users (add one with `ffaudit serve users add NAME --role admin`)\n');
      for (const u of rows) {
        const via = [u.has_password ? 'password' : '', u.oidc_subject !== null ? `openid ${printable(u.oidc_subject)}` : ''].filter(Boolean).join(', ') || 'no sign-in';
        io.out(`${u.name}  ${u.role}  ${via}  created ${u.created_at.toISOString()}${u.disabled_at ? `  DISABLED ${u.disabled_at.toISOString()}` : ''}\n`);
      }
    });

  users
    .command('role <name> <role>')
    .description("change a person's role (their open sessions have it from their next request)")
    .action(async (name: string, roleText: string, _o: unknown, cmd: Command) => {
      const r = await role(roleText);
      const { setUserRole } = await import('../../server/web/accounts.js');
      await withDb(opts(cmd), io, (db) => setUserRole(db, name, r));
      io.out(`user ${name} is now ${r}\n`);
    });

  users
    .command('disable <name>')
    .description('stop a person signing in and end their sessions at once (the account and its history stay)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { disableUser } = await import('../../server/web/accounts.js');
      await withDb(opts(cmd), io, (db) => disableUser(db, name));
      io.out(`user ${name} disabled; their sessions are ended\n`);
    });

  users
    .command('enable <name>')
    .description('let a disabled person sign in again')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { enableUser } = await import('../../server/web/accounts.js');
      await withDb(opts(cmd), io, (db) => enableUser(db, name));
      io.out(`user ${name} enabled\n`);
    });

  users
    .command('password <name>')
    .description("set a person's password from standard input and end their sessions")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { checkNewPassword, findUser, setPassword } = await import('../../server/web/accounts.js');
      await withDb(opts(cmd), io, async (db) => {
        // Asked for only once the account is known to exist: nobody types a passphrase twice for a typo.
        if (!(await findUser(db, name))) throw new FfauditError('NOT_FOUND', `no user named ${name}`);
        const password = await readNewPassword(io, name);
        checkNewPassword(password);
        await setPassword(db, name, password);
      });
      io.out(`user ${name}: password set; their sessions are ended\n`);
    });
}
