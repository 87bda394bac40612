/** What every command shares: the global options and opening the ledger they name. */
import { Ledger } from '../ledger/ledger.js';
import { resolveLedgerDir } from '../ledger/location.js';

export interface GlobalOptions {
  ledger?: string | undefined;
  key?: string | undefined;
  verbose?: boolean | undefined;
}

export function keyPathFrom(g: GlobalOptions): string | undefined {
  return g.key ?? process.env.FFAUDIT_KEY ?? undefined;
}

/** Opens the ledger; the per-user default is created on first use, with a one-line notice on stderr. */
export function openLedger(g: GlobalOptions): Ledger {
  return Ledger.open(resolveLedgerDir(g.ledger), {
    keyPath: keyPathFrom(g),
    autoCreate: true,
    onCreate: (l, finished) =>
      process.stderr.write(
        finished
          ? `ffaudit: finished the ledger at ${l.dir} that an interrupted first use had left without a database (origin ${l.origin})\n`
          : `ffaudit: created a new ledger at ${l.dir} (origin ${l.origin})\n`,
      ),
  });
}
