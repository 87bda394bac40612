/** Provenance for people who were not there: trace, bundle, verify-bundle, report, export. */
import type { Command } from 'commander';

export function registerProvenanceCommands(_program: Command, _setStatus: (s: number) => void): void {
  // trace, bundle, verify-bundle, report, export: see the README.
}
