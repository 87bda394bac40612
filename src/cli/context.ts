/** What every command shares: the global options, the process it runs in (io.ts), and opening the ledger they name. */
import { Ledger } from '../ledger/ledger.js';
import { resolveLedgerDir, type LedgerLocation } from '../ledger/location.js';
import { pathFrom, type Io } from './io.js';

export interface GlobalOptions {
  ledger?: string | undefined;
  key?: string | undefined;
  verbose?: boolean | undefined;
}

/** Given to every `register…Commands`: where a command writes and reads, and how it sets its exit status. */
export interface CommandContext {
  io: Io;
  /** The exit status when the action returns normally (an error thrown maps to its own in exit.ts). */
  setStatus: (status: number) => void;
}

/** The process a ledger is opened from: the capture path gives its own (it never touches process.stdout). */
export type LedgerIo = Pick<Io, 'env' | 'cwd' | 'err'>;

export function keyPathFrom(g: GlobalOptions, io: Pick<Io, 'env' | 'cwd'>): string | undefined {
  const key = g.key ?? io.env.FFAUDIT_KEY;
  return key ? pathFrom(io, key) : undefined;
}

/** --ledger, else FFAUDIT_LEDGER, else the per-user default (location.ts). */
export function ledgerLocation(g: GlobalOptions, io: Pick<Io, 'env' | 'cwd'>): LedgerLocation {
  return resolveLedgerDir(g.ledger, io.env, (p) => pathFrom(io, p));
}

/** Opens the ledger; the per-user default is created on first use, with a one-line notice on stderr. */
export function openLedger(g: GlobalOptions, io: LedgerIo): Ledger {
  return Ledger.open(ledgerLocation(g, io), {
    keyPath: keyPathFrom(g, io),
    autoCreate: true,
    onCreate: (l, finished) =>
      io.err(
        finished
          ? `ffaudit: finished the ledger at ${l.dir} that an interrupted first use had left without a database (origin ${l.origin})\n`
          : `ffaudit: created a new ledger at ${l.dir} (origin ${l.origin})\n`,
      ),
  });
}

/** Runs `fn` on the opened ledger and closes it whatever happens: what almost every command does. */
export async function withLedger<T>(g: GlobalOptions, io: LedgerIo, fn: (l: Ledger) => T | Promise<T>): Promise<T> {
  const l = openLedger(g, io);
  try {
    return await fn(l);
  } finally {
    l.close();
  }
}
