/**
 * `--server URL` on log, trace, bundle and report: the same question asked of the team server, across every log
 * the API token may see. The token comes from FFAUDIT_TOKEN or --token-file, never from the command line (where
 * `ps` and shell histories would show it).
 */
import type { Command } from 'commander';
import { FfauditError } from '../core/errors.js';
import { formatTimeNs } from '../time/time.js';
import type { RunFilter } from '../ledger/runs.js';
import type { RemoteServer } from '../remote/client.js';
import { readSmall } from './inputs.js';
import { pathFrom, type Io } from './io.js';

export interface ServerOptions {
  server?: string;
  tokenFile?: string;
}

export function addServerOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'ask the team server instead of the local ledger, across every log the API token may see (token: FFAUDIT_TOKEN or --token-file)')
    .option('--token-file <file>', 'with --server: read the API token from this file (default: the FFAUDIT_TOKEN environment variable)');
}

/** The server to ask, or undefined for the local ledger. */
export async function serverFrom(io: Io, o: ServerOptions): Promise<RemoteServer | undefined> {
  if (o.server === undefined) {
    if (o.tokenFile !== undefined) throw new FfauditError('USAGE', '--token-file goes with --server');
    return undefined;
  }
  let token: string | undefined;
  if (o.tokenFile !== undefined) token = readSmall(pathFrom(io, o.tokenFile), 'the token file', o.tokenFile).toString('utf8').trim();
  else token = io.env.FFAUDIT_TOKEN?.trim();
  if (!token) throw new FfauditError('USAGE', `no API token${o.tokenFile !== undefined ? ` in ${o.tokenFile}` : ''}: set FFAUDIT_TOKEN or give --token-file (ffaudit serve tokens add prints one)`);
  const { remoteServer } = await import('../remote/client.js');
  return remoteServer(o.server, token);
}

/** A local run filter as the API's query parameters. An exact path becomes a prefix; the caller keeps exact matches. */
export function filterParams(f: RunFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (f.user !== undefined) p.set('user', f.user);
  if (f.actor !== undefined) p.set('actor', f.actor);
  if (f.tool !== undefined) p.set('tool', f.tool);
  if (f.statuses !== undefined) p.set('status', f.statuses.join(','));
  if (f.sinceNs !== undefined) p.set('since', formatTimeNs(f.sinceNs));
  if (f.untilNs !== undefined) p.set('until', formatTimeNs(f.untilNs));
  if (f.sha256 !== undefined) p.set('sha256', f.sha256);
  if (f.path !== undefined) p.set('path', f.path);
  if (f.grep !== undefined) p.set('q', f.grep);
  return p;
}
