/**
 * Verifiers for what the ledger hands out, needing no ledger and no network: `verify-proof` (a receipt from
 * `ffaudit proof N` against the entry's bytes from `ffaudit entry N --raw`) and `verify-consistency` (two saved
 * checkpoints and the proof from `ffaudit consistency OLD NEW`). Exit 0 valid, 1 invalid, 2 could not run.
 */
import type { Command } from 'commander';
import { checkConsistency, checkReceipt } from '../../core/receipt-check.js';
import { EXIT_INTEGRITY } from '../exit.js';
import type { CommandContext } from '../context.js';
import { readKey, readSmall } from '../inputs.js';
import { pathFrom } from '../io.js';
import { printable } from '../lineage-format.js';

export function registerVerifierCommands(program: Command, { io, setStatus }: CommandContext): void {
  const key = (file: string) => readKey(pathFrom(io, file), file);
  const read = (file: string, what: string) => readSmall(pathFrom(io, file), what, file);

  program
    .command('verify-proof')
    .description('check a receipt (ffaudit proof N) against the entry\'s exact bytes (ffaudit entry N --raw) with the log\'s key; exit 0 valid, 1 invalid, 2 could not run')
    .argument('<receipt>', 'the c2sp.org/tlog-proof@v1 receipt')
    .requiredOption('--entry <file>', 'the entry\'s exact bytes')
    .requiredOption('--pubkey <file>', 'the log\'s verifier key (ffaudit pubkey), obtained independently')
    .option('--json', 'print {"ok","failure","index","size","origin"}')
    .action((receiptPath: string, o: { entry: string; pubkey: string; json?: boolean }) => {
      const pubkey = key(o.pubkey);
      const receipt = read(receiptPath, 'the receipt').toString('utf8');
      const entry = read(o.entry, 'the entry');
      const v = checkReceipt(receipt, entry, pubkey);
      if (o.json) io.out(`${JSON.stringify(v)}\n`);
      else if (v.ok) io.out(`VALID: the entry is entry ${v.index} of the log ${printable(v.origin ?? '')}, included in its checkpoint at tree size ${v.size} signed by ${printable(pubkey.name)}+${pubkey.keyId.toString('hex')}\n`);
      else io.out(`INVALID: ${printable(v.failure ?? '')}\n`);
      setStatus(v.ok ? 0 : EXIT_INTEGRITY);
    });

  program
    .command('verify-consistency')
    .description('check that the log at NEW is an append-only extension of the log at OLD (two saved checkpoints) with the log\'s key; exit 0 consistent, 1 not, 2 could not run')
    .argument('<old>', 'the older checkpoint (ffaudit checkpoint, saved earlier)')
    .argument('<new>', 'the newer checkpoint')
    .requiredOption('--proof <file>', 'the proof between their sizes: ffaudit consistency OLD_SIZE NEW_SIZE [--json]')
    .requiredOption('--pubkey <file>', 'the log\'s verifier key (ffaudit pubkey), obtained independently')
    .option('--json', 'print {"ok","failure","old_size","size","origin"}')
    .action((oldPath: string, newPath: string, o: { proof: string; pubkey: string; json?: boolean }) => {
      const pubkey = key(o.pubkey);
      const older = read(oldPath, 'the checkpoint').toString('utf8');
      const newer = read(newPath, 'the checkpoint').toString('utf8');
      const proof = read(o.proof, 'the proof').toString('utf8');
      const v = checkConsistency(older, newer, proof, pubkey);
      if (o.json) io.out(`${JSON.stringify({ ok: v.ok, failure: v.failure, old_size: v.oldSize, size: v.size, origin: v.origin })}\n`);
      else if (v.ok) io.out(`CONSISTENT: the log ${printable(v.origin ?? '')} at tree size ${v.size} extends its checkpoint at tree size ${v.oldSize}, both signed by ${printable(pubkey.name)}+${pubkey.keyId.toString('hex')}\n`);
      else io.out(`INCONSISTENT: ${printable(v.failure ?? '')}\n`);
      setStatus(v.ok ? 0 : EXIT_INTEGRITY);
    });
}
