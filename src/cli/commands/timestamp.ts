/** `ffaudit timestamp`: an RFC 3161 token from a TSA for the ledger's latest checkpoint, verified before it is kept. */
import type { Command } from 'commander';
import { parseSignedCheckpoint } from '../../core/checkpoint.js';
import { FfauditError } from '../../core/errors.js';
import { writeFileAtomically } from '../../ledger/safe-files.js';
import { withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { readSmall } from '../inputs.js';
import { pathFrom } from '../io.js';

interface TimestampCliOptions {
  tsa: string;
  tsaCa: string;
  output?: string;
}

export function registerTimestampCommands(program: Command, { io }: CommandContext): void {
  program
    .command('timestamp')
    .description("ask a time-stamping authority (RFC 3161) to sign the time of the ledger's latest checkpoint; the token is verified completely (signature, TSA certificate and its chain, imprint, nonce) before it is believed or written")
    .requiredOption('--tsa <url>', 'the TSA (https://…; plain http to loopback only)')
    .requiredOption('--tsa-ca <file>', 'PEM file of the CA certificates the TSA certificate must chain to')
    .option('-o, --output <file>', 'write the token (DER TimeStampToken) to FILE')
    .action(async (o: TimestampCliOptions) => {
      const caCerts = readSmall(pathFrom(io, o.tsaCa), 'the TSA CA file', o.tsaCa).toString('utf8');
      const note = await withLedger(program.opts<GlobalOptions>(), io, (l) => l.checkpoint());
      const cp = parseSignedCheckpoint(note);
      const { requestTimestamp } = await import('../../timestamp/client.js');
      const t = await requestTimestamp(o.tsa, cp.parsed.text, caCerts);
      if (o.output !== undefined) {
        try {
          writeFileAtomically(pathFrom(io, o.output), t.tokenDer, 0o644);
        } catch (e) {
          throw new FfauditError('IO', `cannot write ${o.output}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
      }
      io.out(`entry ${cp.size - 1} existed no later than ${t.genTime.toISOString()}, according to TSA ${t.tsaName}\n`);
      io.out(o.output !== undefined ? `token written to ${o.output} (serial ${t.serial})\n` : `token not written (serial ${t.serial}): -o FILE keeps it\n`);
    });
}
