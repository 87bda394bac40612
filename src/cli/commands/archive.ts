/** WORM copies: archive to S3 Object Lock or a directory as C2SP tlog-tiles, and verification against them. */
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';

export function registerArchiveCommands(_program: Command, _setStatus: (s: number) => void): void {
  // archive: see the README.
}

/** True when a --trusted/--from value names an archive (s3://… or a directory) rather than a checkpoint file. */
export function isArchiveLocation(_location: string): boolean {
  return false;
}

/** The latest checkpoint of an archive, to use as the trusted one. */
// eslint-disable-next-line @typescript-eslint/require-await
export async function readArchiveCheckpoint(location: string): Promise<string> {
  throw new FfauditError('USAGE', `archives are not supported yet: ${location}`);
}

/** `verify --from LOCATION [--pubkey FILE] [--json]`: returns the exit status. */
// eslint-disable-next-line @typescript-eslint/require-await
export async function verifyArchiveCommand(location: string, _opts: { pubkey?: string; json?: boolean }): Promise<number> {
  throw new FfauditError('USAGE', `archives are not supported yet: ${location}`);
}
