/** Reading runs back: log, show, and the shim installer. */
import type { Command } from 'commander';

export function registerRunCommands(_program: Command, _setStatus: (s: number) => void): void {
  // log, show, shim: see the README.
}
