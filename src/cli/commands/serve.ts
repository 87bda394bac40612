/**
 * `ffaudit serve …`: the team server (witness and mirror of every host's log, on PostgreSQL). Everything it needs
 * (pg, hono) is imported inside the actions, so no other command, and never the capture path, loads it.
 */
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import type { Db } from '../../server/db/pool.js';
import type { CommandContext } from '../context.js';
import { readSmall } from '../inputs.js';
import { pathFrom, type Io } from '../io.js';
import { printable } from '../lineage-format.js';
import { durationMs, parseDurationText } from '../../time/duration.js';
import { registerUsersCommands } from './serve-users.js';

interface DbOption {
  db?: string;
}

/** The TSA's CA certificates (PEM text), read once: `serve --tsa-ca`, also read by `serve verify`. */
function tsaCaText(file: string, io: Io): string {
  return readSmall(pathFrom(io, file), 'the TSA CA file', file).toString('utf8');
}

function dbUrl(o: DbOption, io: Io): string {
  const url = o.db ?? io.env.FFAUDIT_DB;
  if (!url) throw new FfauditError('USAGE', 'no database: give --db postgres://user@host:port/database (or $FFAUDIT_DB)');
  return url;
}

/**
 * The server's vkeys, one per line: `witness` and `mirror` (Ed25519) first, as always, then `witness_ml_dsa44` (the
 * name the ledger's config and POST /join give it) when the server has that key.
 */
function vkeyLines(v: { witness: string; mirror: string; witnessMlDsa44?: string | undefined }): string {
  return `witness ${v.witness}\nmirror  ${v.mirror}\n${v.witnessMlDsa44 ? `witness_ml_dsa44 ${v.witnessMlDsa44}\n` : ''}`;
}

function keysDir(o: { keys?: string }, io: Io): string {
  const dir = o.keys ?? io.env.FFAUDIT_SERVER_KEYS;
  if (!dir) throw new FfauditError('USAGE', "no keys: give --keys DIR (the directory `ffaudit serve init` wrote)");
  return pathFrom(io, dir);
}

async function withDb<T>(o: DbOption, io: Io, fn: (db: Db) => Promise<T>): Promise<T> {
  const { openDb, migrate } = await import('../../server/db/pool.js');
  const db = await openDb(dbUrl(o, io), { max: 2 });
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

type ServeFlags = DbOption & {
  keys?: string;
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  published?: string;
  silentAfter?: string;
  reverifyEvery?: string;
  accessLog?: string;
  accessOrigin?: string;
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecretFile?: string;
  oidcRoleClaim?: string;
  oidcRoles?: string;
  tsa?: string;
  tsaCa?: string;
  tsaEvery?: string;
  tsaRenewBefore?: string;
};

/** A duration option of `serve` (time/duration.ts): 90s, 30m, 24h, 7d, 1w; `0` only where it means "never". */
function serveDuration(option: string, text: string, zeroIsOff: boolean): number {
  if (zeroIsOff && text === '0') return 0;
  const d = parseDurationText(text, { units: ['s', 'm', 'h', 'd', 'w'], positive: true, maxDigits: 6 });
  if (!d) throw new FfauditError('USAGE', `${option} ${JSON.stringify(text)}: expected a duration such as 90s, 30m, 24h, 7d${zeroIsOff ? ' (or 0: never)' : ''}`);
  return durationMs(d);
}

export function registerServeCommands(program: Command, cli: CommandContext): void {
  const { io } = cli;
  const serve = program
    .command('serve')
    .description("run the team server: the witness and mirror of every enrolled host's log, on PostgreSQL")
    .option('--db <url>', 'the PostgreSQL connection string, without a password (default: $FFAUDIT_DB)')
    .option('--keys <dir>', 'the directory of the server keys made by `serve init` (default: $FFAUDIT_SERVER_KEYS)')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:8080')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this private key (PEM)')
    .option(
      '--published <dir>',
      "also write the latest cosigned checkpoint of each log to DIR/<hex sha256(origin)>/checkpoint, and at start hold any log the database is behind on (keep DIR outside the database's backups)",
    )
    .option('--silent-after <duration>', 'flag a host that has not pushed for this long, e.g. 6h, 2d (default 24h)')
    .option('--reverify-every <duration>', 're-verify every mirrored entry against its cosigned checkpoint this often, e.g. 12h (default 24h; 0: never)')
    .option(
      '--access-log <dir>',
      "this process's access log: a ledger of every sign-in, search, view and download, mirrored here like a host's; one per process (default: access-log in the keys directory)",
    )
    .option('--access-origin <origin>', "the access log's origin when it is created (default: <hostname>/ffaudit-serve/access/<random>)")
    .option('--oidc-issuer <url>', 'also sign people in through this OpenID Connect provider (with the four options below)')
    .option('--oidc-client-id <id>', "this server's client id at the provider")
    .option('--oidc-client-secret-file <file>', 'a file holding the client secret alone (never on the command line)')
    .option('--oidc-role-claim <claim>', 'the claim that decides the role, e.g. groups')
    .option('--oidc-roles <mapping>', "claim values to roles, e.g. 'ffaudit-admins=admin,auditors=auditor,editors=viewer'")
    .option('--tsa <url>', 'timestamp each mirrored log\'s mirror checkpoint with this RFC 3161 time-stamping authority (https://…; plain http to loopback only), with --tsa-ca')
    .option('--tsa-ca <file>', "PEM file of the CA certificate(s) the TSA's certificate must chain to; `serve verify` checks the stored tokens with it too")
    .option('--tsa-every <duration>', 'ask the TSA at most once per log this often, and only when its mirror checkpoint moved or its newest token needs renewing (default 1h)')
    .option('--tsa-renew-before <duration>', "renew a log's newest token this long before its TSA certificate expires (default 30d)")
    .action(async (o: ServeFlags) => {
      const { startServer } = await import('../../server/serve.js');
      const { parseOidcOptions } = await import('../../server/web/oidc-config.js');
      const oidc = parseOidcOptions({ ...o, oidcClientSecretFile: o.oidcClientSecretFile && pathFrom(io, o.oidcClientSecretFile) });
      const silentAfterMs = o.silentAfter === undefined ? undefined : serveDuration('--silent-after', o.silentAfter, false);
      const reverifyEveryMs = o.reverifyEvery === undefined ? undefined : serveDuration('--reverify-every', o.reverifyEvery, true);
      const log = (line: string) => io.out(`${new Date().toISOString()} ${line}\n`);
      if ((o.tsa === undefined) !== (o.tsaCa === undefined)) throw new FfauditError('USAGE', '--tsa and --tsa-ca go together');
      if (o.tsa === undefined && (o.tsaEvery !== undefined || o.tsaRenewBefore !== undefined)) throw new FfauditError('USAGE', '--tsa-every and --tsa-renew-before need --tsa');
      const stamps = o.tsa === undefined ? undefined : await import('../../server/mirror-stamps.js');
      const tsa =
        o.tsa !== undefined && o.tsaCa !== undefined && stamps
          ? {
              url: o.tsa,
              caPem: tsaCaText(o.tsaCa, io),
              everyMs: o.tsaEvery === undefined ? stamps.DEFAULT_TSA_EVERY_MS : serveDuration('--tsa-every', o.tsaEvery, false),
              renewBeforeMs: o.tsaRenewBefore === undefined ? stamps.DEFAULT_RENEW_BEFORE_MS : serveDuration('--tsa-renew-before', o.tsaRenewBefore, false),
            }
          : undefined;
      const server = await startServer({
        db: dbUrl(o, io),
        keys: keysDir(o, io),
        listen: o.listen,
        tlsCert: o.tlsCert && pathFrom(io, o.tlsCert),
        tlsKey: o.tlsKey && pathFrom(io, o.tlsKey),
        published: o.published && pathFrom(io, o.published),
        silentAfterMs,
        reverifyEveryMs,
        accessLog: o.accessLog && pathFrom(io, o.accessLog),
        accessOrigin: o.accessOrigin,
        oidc,
        tsa,
        log,
      });
      // Runs until SIGTERM or SIGINT: stop accepting, let in-flight requests finish, close the pool.
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          log(`${sig}: stopping (requests in flight finish first)`);
          void server.close().then(() => {
            log('stopped');
            resolve();
          });
        };
        const onTerm = () => stop('SIGTERM');
        const onInt = () => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
      });
    });

  serve
    .command('init')
    .description('create the server keys once: NAME/witness and NAME/mirror (two distinct Ed25519 cosigners), and an ML-DSA-44 key of NAME/witness')
    .requiredOption('--name <name>', 'the server name, e.g. audit.example.com (the key names are NAME/witness and NAME/mirror)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ name: string; keys?: string }>();
      const { initServerKeys } = await import('../../server/keys.js');
      const dir = keysDir(o, io);
      const v = initServerKeys(dir, o.name);
      io.out(`created the server keys in ${dir}\n${vkeyLines(v)}`);
    });

  serve
    .command('key')
    .description("print the server's verifier keys (vkeys): give them to whoever checks its cosignatures")
    .option('--add-ml-dsa', 'first give a server made before ML-DSA-44 its ML-DSA-44 witness key (serve processes take it at their next start)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ keys?: string; addMlDsa?: boolean }>();
      const { addMlDsaWitnessKey, loadServerKeys, serverVkeys } = await import('../../server/keys.js');
      const dir = keysDir(o, io);
      io.out(vkeyLines(o.addMlDsa ? addMlDsaWitnessKey(dir) : serverVkeys(loadServerKeys(dir))));
    });

  // --db and --keys belong to `serve` and are read by every subcommand through optsWithGlobals: commander gives an
  // option to the parent that declares it, wherever it appears on the line.
  serve
    .command('import <file>')
    .description('take in a push file (`ffaudit push --to FILE` on an air-gapped host) with the checks of the endpoints; exit 1 if any record was refused')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { keys?: string }>();
      const { loadServerKeys } = await import('../../server/keys.js');
      const { createApp } = await import('../../server/app.js');
      const { importPushFile } = await import('../../server/import.js');
      const keys = loadServerKeys(keysDir(o, io));
      const r = await withDb(o, io, (db) =>
        // The server's own routes, in this process: each record meets the checks a request over the network meets.
        importPushFile(createApp({ db, keys, log: () => undefined }), pathFrom(io, file), (x) => {
          io.out(`${x.index} ${x.type}${x.what ? ` ${x.what}` : ''}: ${x.status} ${x.line}\n`);
        }),
      );
      io.err(`${r.records} record${r.records === 1 ? '' : 's'}, ${r.refused} refused\n`);
      if (r.refused > 0) cli.setStatus(1);
    });

  serve
    .command('verify [host]')
    .description(
      're-verify the mirror of HOST (default: every host) now: every entry against its leaf, the leaves against the cosigned mirror checkpoint, its timestamps (their tokens too with --tsa-ca); exit 1 on a problem',
    )
    .action(async (host: string | undefined, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { tsaCa?: string }>();
      const tsaCa = o.tsaCa === undefined ? undefined : tsaCaText(o.tsaCa, io);
      const { reverifyMirror } = await import('../../server/search/reverify.js');
      const { EXIT_INTEGRITY } = await import('../exit.js');
      const bad = await withDb(o, io, async (db) => {
        const { rows } = await db.pool.query<{ id: number; name: string }>(
          "SELECT id, name FROM hosts WHERE origin IS NOT NULL AND status IN ('active', 'disabled') AND NOT witness_only AND ($1::text IS NULL OR name = $1) ORDER BY id",
          [host ?? null],
        );
        if (host !== undefined && rows.length === 0) throw new FfauditError('NOT_FOUND', `no enrolled host ${JSON.stringify(host)}`);
        let problems = 0;
        for (const r of rows) {
          const v = await reverifyMirror(db, Number(r.id), { tsaCa });
          const t = v.timestamps;
          const n = `${t.stored} timestamp${t.stored === 1 ? '' : 's'}`;
          const stamped = t.stored === 0 ? '' : t.verified === t.stored ? `, ${n} verified` : t.unchecked > 0 ? `, ${n} not verified (no --tsa-ca)` : `, ${t.verified} of ${n} verified`;
          io.out(`${r.name}: ${v.ok ? 'ok' : 'PROBLEMS'} (${v.size} entries${stamped})\n`);
          for (const p of v.problems) io.out(`  ${p}\n`);
          if (!v.ok) problems++;
        }
        return problems;
      });
      if (bad > 0) cli.setStatus(EXIT_INTEGRITY);
    });

  const hosts = serve.command('hosts').description('enrol, list, disable and reset hosts (one host = one ledger)');
  hosts
    .command('add <name>')
    .description('create a host and print its one-time enrolment token (for `ffaudit join`); or, with --log-vkey, register a log to be witnessed only (no token, no mirror)')
    .option('--expires <hours>', 'how long the token stays valid', '24')
    .option('--log-vkey <vkey>', "witness this log (its verifier key, as `ffaudit pubkey` prints it; the origin is its name) without a join: its checkpoints are cosigned, its entries are not mirrored")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { expires: string; logVkey?: string }>();
      if (o.logVkey !== undefined) {
        const { registerLog } = await import('../../server/hosts.js');
        const { origin } = await withDb(o, io, (db) => registerLog(db, name, o.logVkey!));
        io.out(`host ${name}: the log ${origin} is witnessed (not mirrored); its ledger lists this server with: ffaudit witness add NAME URL <this server's witness key (ffaudit serve key)>\n`);
        return;
      }
      const hours = Number(o.expires);
      if (!(hours > 0 && hours <= 24 * 30)) throw new FfauditError('USAGE', '--expires: hours between 0 and 720');
      const { addHost } = await import('../../server/hosts.js');
      const { token, expires } = await withDb(o, io, (db) => addHost(db, name, Math.round(hours * 3600)));
      // The token on stdout alone, so `… | ffaudit join URL` works; what it is, on stderr.
      io.err(`host ${name}: one-time token, valid until ${expires.toISOString()}; on the host: ffaudit join URL (token on standard input)\n`);
      io.out(`${token}\n`);
    });
  hosts
    .command('list')
    .description('every host with its status and what the witness and mirror hold')
    .option('--json', 'one JSON object per host')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { json?: boolean }>();
      const { listHosts } = await import('../../server/hosts.js');
      const rows = await withDb(o, io, (db) => listHosts(db));
      if (o.json) {
        for (const r of rows) io.out(`${JSON.stringify(r)}\n`);
        return;
      }
      if (rows.length === 0) io.out('no hosts (add one with `ffaudit serve hosts add NAME`)\n');
      for (const r of rows) {
        io.out(`${r.name}  ${r.status}  epoch ${r.epoch}  witness ${r.witness_size ?? '-'}  mirror ${r.witness_only ? '(witnessed only)' : (r.mirror_size ?? '-')}  conflicts ${r.conflicts}${r.hold ? `  HELD: ${r.hold}` : ''}  ${r.origin ?? ''}\n`);
      }
    });
  hosts
    .command('disable <name>')
    .description('make a host unknown again (its pushes get 404); what was mirrored is kept')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption>();
      const { disableHost } = await import('../../server/hosts.js');
      await withDb(o, io, (db) => disableHost(db, name));
      io.out(`host ${name} disabled\n`);
    });
  hosts
    .command('enable <name>')
    .description('make a disabled host known again, with its history')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption>();
      const { enableHost } = await import('../../server/hosts.js');
      await withDb(o, io, (db) => enableHost(db, name));
      io.out(`host ${name} enabled\n`);
    });
  hosts
    .command('reset <name>')
    .description("accept a host's new history after an innocent restore from backup (the old history and the conflict are kept)")
    .requiredOption('--reason <text>', 'why: recorded with the set-aside history')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { reason: string }>();
      const { resetHost } = await import('../../server/hosts.js');
      const { epoch } = await withDb(o, io, (db) => resetHost(db, name, o.reason));
      io.out(`host ${name}: new history accepted from size 0 (epoch ${epoch}); the old one is kept as evidence\n`);
    });
  hosts
    .command('resolve <name>')
    .description(
      "lift the hold on a host (serve --published): the checkpoint this server published for it becomes its witness state, after checking the log's signature and the witness cosignature (needs --published and --keys)",
    )
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { keys?: string; published?: string }>();
      if (!o.published) throw new FfauditError('USAGE', 'give --published DIR: the directory `serve --published` writes');
      const { loadServerKeys } = await import('../../server/keys.js');
      const { resolveHold } = await import('../../server/published.js');
      const keys = loadServerKeys(keysDir(o, io));
      const published = pathFrom(io, o.published);
      const r = await withDb(o, io, (db) => resolveHold(db, name, published, keys.witness));
      io.out(
        r.imported
          ? `host ${name}: hold lifted; the witness state is now the published checkpoint (size ${r.size}): the next checkpoint must extend it\n`
          : `host ${name}: hold lifted; the database already holds the published checkpoint (size ${r.size}) or one beyond it\n`,
      );
    });

  // API bearer tokens (server/api/auth.ts): made here or by an admin token through POST /api/v1/tokens.
  const tokens = serve.command('tokens').description('API bearer tokens with roles: viewer (search, lineage), auditor (also bundles, reports, exports), admin (also hosts, tokens)');
  tokens
    .command('add')
    .description('make an API token and print it, once, on standard output (only its SHA-256 is stored)')
    .requiredOption('--role <role>', 'viewer, auditor or admin')
    .requiredOption('--name <name>', 'who or what it is for (shown by tokens list)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { role: string; name: string }>();
      const { addToken, isRole, ROLES } = await import('../../server/api/auth.js');
      if (!isRole(o.role)) throw new FfauditError('USAGE', `--role: one of ${ROLES.join(', ')}`);
      const role = o.role;
      const { id, token } = await withDb(o, io, (db) => addToken(db, o.name, role));
      // The token alone on stdout, so `… > token.txt` captures it; what it is, on stderr.
      io.err(`API token ${id} (${role}) for ${JSON.stringify(o.name)}: shown this once; send it as Authorization: Bearer …\n`);
      io.out(`${token}\n`);
    });
  tokens
    .command('list')
    .description('every API token: id, name, role, created, last used, revoked (never the token)')
    .option('--json', 'one JSON object per token')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { json?: boolean }>();
      const { listTokens } = await import('../../server/api/auth.js');
      const rows = await withDb(o, io, (db) => listTokens(db));
      if (o.json) {
        for (const r of rows) io.out(`${JSON.stringify(r)}\n`);
        return;
      }
      if (rows.length === 0) io.out('no API tokens (make one with `ffaudit serve tokens add --role R --name N`)\n');
      for (const r of rows) {
        io.out(`${r.id}  ${printable(r.name)}  ${r.role}  created ${r.created_at}  last used ${r.last_used_at ?? 'never'}${r.revoked_at ? `  REVOKED ${r.revoked_at}` : ''}\n`);
      }
    });
  tokens
    .command('revoke <id>')
    .description('revoke an API token at once: its next request gets 401')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption>();
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new FfauditError('USAGE', 'a token id is a positive integer (see tokens list)');
      const { revokeToken } = await import('../../server/api/auth.js');
      const t = await withDb(o, io, (db) => revokeToken(db, Number(id)));
      io.out(`API token ${t.id} (${printable(t.name)}) revoked at ${t.revoked_at}\n`);
    });

  registerUsersCommands(serve, io, withDb);

  serve
    .command('conflicts')
    .description('the checkpoints refused and kept as evidence (equivocation, unproven, contradicted) and the histories set aside (reset)')
    .option('--host <name>', 'of this host only')
    .option('--json', 'one JSON object per conflict, with both checkpoints')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DbOption & { host?: string; json?: boolean }>();
      const { listConflicts } = await import('../../server/conflicts.js');
      const rows = await withDb(o, io, (db) => listConflicts(db, o.host === undefined ? {} : { hostName: o.host }));
      if (o.json) {
        for (const r of rows) io.out(`${JSON.stringify(r)}\n`);
        return;
      }
      if (rows.length === 0) io.out(`no conflicts${o.host === undefined ? '' : ` for host ${o.host}`}\n`);
      for (const r of rows) io.out(`${r.host}  epoch ${r.epoch}  ${r.kind}  size ${r.size ?? '-'}  ${r.seen_at}  ${r.detail}\n`);
    });
}
