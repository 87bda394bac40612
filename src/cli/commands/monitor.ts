/**
 * `ffaudit monitor SOURCE…`: the independent party's tool. Follows logs through tlog-tiles (an archive directory,
 * s3://, a server's /mirror/<hash>), checks every new checkpoint against the log's key, the policy's cosignatures
 * and what it saw before, and prints one JSON line per finding (monitor/finding.ts). `--once`: exit 0 nothing found,
 * 1 findings, 2 could not run; otherwise a round every --every until SIGINT or SIGTERM.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import { parseTlogPolicy } from '../../core/tlog-policy.js';
import { mlDsa44 } from '../../pq/ml-dsa44.js';
import type { Verifier } from '../../core/note.js';
import { parseDuration } from '../../archive/duration.js';
import { isHttpLocation, openSource } from '../../archive/open-target.js';
import { findingKey, findingLine } from '../../monitor/finding.js';
import { monitorRound, type RoundOptions } from '../../monitor/round.js';
import { cosignatureRule, type CheckpointRule, type SourceRule } from '../../monitor/rules.js';
import { withWitnessCosignatures } from '../../monitor/server-mirror.js';
import { loadState, saveState } from '../../monitor/state.js';
import { checkedUrl, Webhook } from '../../monitor/webhook.js';
import type { CommandContext } from '../context.js';
import { EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE } from '../exit.js';
import { readKey, readSmall } from '../inputs.js';
import { locationFrom, pathFrom, type Io } from '../io.js';
import { repeatUntilSignalled } from '../repeat.js';

interface MonitorCliOptions {
  pubkey?: string[];
  policy?: string;
  state?: string;
  once?: boolean;
  every?: string;
  webhook?: string;
  endpoint?: string;
  tsaCa?: string;
  timestampWithin?: string;
}

const DEFAULT_EVERY = '60s';
/** A host's schedule stamps at most hourly, with its pushes, and its archive stamps first: a day leaves room for both. */
const DEFAULT_TIMESTAMP_WITHIN = '24h';

/** $XDG_STATE_HOME/ffaudit/monitor.json, else ~/.local/state/ffaudit/monitor.json (XDG Base Directory). */
function defaultStatePath(io: Io): string {
  const xdg = io.env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'ffaudit', 'monitor.json');
  const home = io.env.HOME;
  if (home === undefined || home === '') throw new FfauditError('USAGE', 'no HOME to keep the monitor state in: give --state FILE');
  return join(home, '.local', 'state', 'ffaudit', 'monitor.json');
}

/** A tlog-tiles log's URL is a prefix the object names are appended to: no query, no fragment. */
function logUrl(text: string): string {
  const u = new URL(checkedUrl(text, 'the source'));
  if (u.search !== '' || u.hash !== '') throw new FfauditError('USAGE', 'the URL of a log is a prefix: no query, no fragment');
  return u.toString().replace(/\/+$/, '');
}

async function monitorCommand(io: Io, sources: string[], o: MonitorCliOptions): Promise<number> {
  if (o.once && o.every !== undefined) throw new FfauditError('USAGE', '--once and --every exclude each other');
  if (o.timestampWithin !== undefined && o.tsaCa === undefined) throw new FfauditError('USAGE', '--timestamp-within needs --tsa-ca FILE: the CA the tokens must chain to');
  const every = parseDuration(o.every ?? DEFAULT_EVERY, '--every');
  const locations = sources.map((s) => (isHttpLocation(s) ? logUrl(s) : locationFrom(io, s)));
  const verifiers: Verifier[] = (o.pubkey ?? []).map((f) => readKey(pathFrom(io, f), f));
  const rules: CheckpointRule[] = [];
  if (o.policy !== undefined) {
    const policy = parseTlogPolicy(readSmall(pathFrom(io, o.policy), 'the policy', o.policy), { mlDsa44 });
    verifiers.push(...policy.logs);
    rules.push(cosignatureRule(policy));
  }
  if (verifiers.length === 0) throw new FfauditError('USAGE', "give each log's verifier key with --pubkey FILE (or a --policy naming the logs)");
  const sourceRules: SourceRule[] = [];
  if (o.tsaCa !== undefined) {
    const within = parseDuration(o.timestampWithin ?? DEFAULT_TIMESTAMP_WITHIN, '--timestamp-within');
    const [{ timestampRule }, { parseCaCertificates }] = await Promise.all([import('../../monitor/timestamp-rule.js'), import('../../timestamp/verify.js')]);
    const caCerts = readSmall(pathFrom(io, o.tsaCa), 'the TSA CA file', o.tsaCa).toString('utf8');
    parseCaCertificates(caCerts);
    sourceRules.push(timestampRule(caCerts, within));
  }
  const statePath = o.state !== undefined ? pathFrom(io, o.state) : defaultStatePath(io);
  const state = loadState(statePath);
  const webhook = o.webhook !== undefined ? new Webhook(o.webhook) : undefined;
  const roundOptions: RoundOptions = { verifiers, rules, sourceRules, open: async (l) => {
      const source = await openSource(l, { endpoint: o.endpoint });
      return isHttpLocation(l) ? withWitnessCosignatures(source) : source;
    },
  };

  const round = async (printed?: Set<string>) => {
    const r = await monitorRound(locations, state, roundOptions);
    saveState(statePath, state);
    for (const u of r.unreadable) io.err(`ffaudit: monitor: cannot read ${u.source}: ${u.message.split('\n')[0]}\n`);
    // The loop reports a lasting condition once; --once reports what it finds every time it runs.
    const fresh = printed ? r.findings.filter((f) => !printed.has(findingKey(f))) : r.findings;
    for (const f of fresh) {
      printed?.add(findingKey(f));
      io.out(findingLine(f));
    }
    await webhook?.send(fresh, io.err);
    return { found: r.findings.length > 0, unreadable: r.unreadable.length > 0 };
  };

  if (o.once) {
    const r = await round();
    return r.found ? EXIT_INTEGRITY : r.unreadable ? EXIT_USAGE : EXIT_OK;
  }
  return loop(round, every);
}

/** Rounds until SIGINT or SIGTERM; exit 1 when anything was found meanwhile, else 0. */
async function loop(round: (printed: Set<string>) => Promise<{ found: boolean }>, every: number): Promise<number> {
  const printed = new Set<string>();
  let found = false;
  await repeatUntilSignalled(every, async () => {
    found = (await round(printed)).found || found;
    return undefined;
  });
  return found ? EXIT_INTEGRITY : EXIT_OK;
}

export function registerMonitorCommands(program: Command, { io, setStatus }: CommandContext): void {
  program
    .command('monitor')
    .description("follow logs through tlog-tiles and report any fork, rollback, equivocation, bad signature, missing cosignature or (with --tsa-ca) missing or bad timestamp, one JSON line each; with --once exit 0 nothing found, 1 findings, 2 could not run")
    .argument('<source...>', 'an archive directory, s3://BUCKET/PREFIX, or the https URL of a tlog-tiles log (a server\'s /mirror/<hash>)')
    .option('--pubkey <file...>', "a log's verifier key (ffaudit pubkey), obtained independently; the checkpoint's origin picks the key")
    .option('--policy <file>', 'a c2sp.org/tlog-policy file: its logs\' keys, and the witness cosignatures a checkpoint must carry')
    .option('--state <file>', 'what was seen so far (default: $XDG_STATE_HOME/ffaudit/monitor.json, else ~/.local/state/ffaudit/monitor.json)')
    .option('--once', 'one round, then exit 0 (nothing found), 1 (findings) or 2 (could not run)')
    .option('--every <duration>', `time between rounds until interrupted (s, m, h, d; default ${DEFAULT_EVERY})`)
    .option('--webhook <url>', 'also POST each finding as JSON here (https, or http to this machine)')
    .option('--endpoint <url>', 'S3 endpoint URL for s3:// sources (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)')
    .option('--tsa-ca <file>', 'check the RFC 3161 timestamps published beside the tiles (timestamp/<size>) against this PEM CA file')
    .option('--timestamp-within <duration>', `with --tsa-ca: how long a checkpoint may go without a valid timestamp once seen (default ${DEFAULT_TIMESTAMP_WITHIN})`)
    .action(async (sources: string[], o: MonitorCliOptions) => {
      setStatus(await monitorCommand(io, sources, o));
    });
}
