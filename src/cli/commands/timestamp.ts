/**
 * `ffaudit timestamp`: an RFC 3161 token from a TSA for the ledger's latest checkpoint, verified completely before
 * it is believed, stored in the ledger or written. The TSA is the config's (`tsa` in config.json, set with
 * --set-tsa) or, for a one-off, --tsa/--tsa-ca. `--renew` renews the tokens whose certificates expire soon.
 * Exit 0 done, 1 the TSA's answer did not verify, 2 could not run (no TSA configured, the TSA unreachable).
 */
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import { writeFileAtomically } from '../../ledger/safe-files.js';
import { withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { pathFrom } from '../io.js';

interface TimestampCliOptions {
  tsa?: string;
  tsaCa?: string;
  output?: string;
  force?: boolean;
  renew?: boolean;
  setTsa?: string;
  every?: string;
  renewBefore?: string;
}

export function registerTimestampCommands(program: Command, { io }: CommandContext): void {
  program
    .command('timestamp')
    .description("ask a time-stamping authority (RFC 3161) to sign the time of the ledger's latest checkpoint and keep the token in the ledger; the token is verified completely (signature, TSA certificate and its chain, imprint, nonce) before it is believed, stored or written")
    .option('--tsa <url>', "a TSA for this once (https://…; plain http to loopback only), instead of the config's")
    .option('--tsa-ca <file>', 'PEM file of the CA certificates the TSA certificate must chain to (with --tsa or --set-tsa)')
    .option('-o, --output <file>', 'also write the token (DER TimeStampToken) to FILE')
    .option('--force', 'ask for a token even when the latest checkpoint has one already')
    .option('--renew', "renew the tokens whose TSA certificate expires within the config's tsa.renewBefore (a token over each, RFC 4998 style)")
    .option('--set-tsa <url>', "configure the ledger's TSA (with --tsa-ca; the ledger's pushes and archives then timestamp by themselves) and exit")
    .option('--every <duration>', 'with --set-tsa: how old the newest token may grow before a push asks for another (default 1h)')
    .option('--renew-before <duration>', 'with --set-tsa: renew tokens whose certificate expires within this (default 30d)')
    .action(async (o: TimestampCliOptions) => {
      const [{ DEFAULT_RENEW_BEFORE_MS, readCaFile, readTsaConfig, writeTsaConfig }, { renewDue, stampHead }] = await Promise.all([import('../../timestamp/config.js'), import('../../timestamp/ledger-stamps.js')]);
      if (o.setTsa !== undefined) {
        if (o.tsa !== undefined || o.renew || o.force || o.output !== undefined) throw new FfauditError('USAGE', '--set-tsa only configures: give it with --tsa-ca (and --every, --renew-before) alone');
        if (o.tsaCa === undefined) throw new FfauditError('USAGE', "--set-tsa needs --tsa-ca FILE: the CA the TSA's certificate must chain to");
        const ca = pathFrom(io, o.tsaCa);
        return withLedger(program.opts<GlobalOptions>(), io, (l) => {
          const cfg = writeTsaConfig(l.dir, { url: o.setTsa!, ca, every: o.every, renewBefore: o.renewBefore });
          io.out(`tsa      ${cfg.url}\nca       ${cfg.ca}\nevery    ${cfg.every} (with each push, and before each archive)\nrenew    ${cfg.renewBefore} before a token's certificate expires\n`);
        });
      }
      if (o.every !== undefined || o.renewBefore !== undefined) throw new FfauditError('USAGE', '--every and --renew-before go with --set-tsa');
      if ((o.tsa === undefined) !== (o.tsaCa === undefined)) throw new FfauditError('USAGE', '--tsa and --tsa-ca go together');
      return withLedger(program.opts<GlobalOptions>(), io, async (l) => {
        const cfg = o.tsa === undefined ? readTsaConfig(l.dir) : undefined;
        if (o.tsa === undefined && !cfg) throw new FfauditError('USAGE', 'no TSA is configured for this ledger: give --tsa URL --tsa-ca FILE, or configure one with --set-tsa URL --tsa-ca FILE');
        const tsa = o.tsa !== undefined ? { url: o.tsa, caCerts: readCaFile(pathFrom(io, o.tsaCa!), o.tsaCa) } : { url: cfg!.url, caCerts: readCaFile(cfg!.ca) };
        if (o.renew) {
          const r = await renewDue(l, tsa, cfg?.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS);
          for (const x of r.renewed) io.out(`renewed size ${x.size}: ${x.sentence}\n`);
          for (const x of r.skipped) io.out(`not renewed: ${x}\n`);
          if (r.renewed.length === 0 && r.skipped.length === 0) io.out('nothing to renew: no token\'s certificate expires soon\n');
          return;
        }
        const t = await stampHead(l, tsa, { force: o.force === true });
        if (o.output !== undefined) {
          try {
            writeFileAtomically(pathFrom(io, o.output), t.token.tokenDer, 0o644);
          } catch (e) {
            throw new FfauditError('IO', `cannot write ${o.output}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
          }
        }
        io.out(`${t.sentence}\n`);
        if (!t.stamped) io.out(`the checkpoint of size ${t.size} was timestamped already: no new token asked for (--force asks again)\n`);
        io.out(o.output !== undefined ? `token written to ${o.output} (serial ${t.token.serial})\n` : `token stored in the ledger (serial ${t.token.serial})\n`);
      });
    });
}
