/** Every command but the capture ones, parsed with commander. Each action maps arguments to one library call. */
import { Command, CommanderError, Option } from 'commander';
import { FfauditError } from '../core/errors.js';
import { ffauditVersion } from '../ledger/software.js';
import { EXIT_USAGE } from './exit.js';

export async function runProgram(argv: string[]): Promise<number> {
  let status = 0;
  const setStatus = (s: number) => {
    status = s;
  };
  const program = new Command('ffaudit')
    .description('Immutable, independently verifiable audit records for every FFmpeg run')
    .addOption(new Option('--ledger <dir>', 'the ledger directory (default: $FFAUDIT_LEDGER, else the per-user data directory)'))
    .addOption(new Option('--key <file>', 'the signing key, when kept outside the ledger (default: $FFAUDIT_KEY)'))
    .option('-v, --verbose', 'show details, and stack traces on errors')
    .version(`ffaudit ${ffauditVersion() ?? '(version unknown)'}`, '-V, --version', "print ffaudit's version")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `ffaudit: ${s.slice(7)}` : s) })
    .showSuggestionAfterError(true)
    .usage('[options] <command> | [options] ffmpeg|ffprobe ARGS…');

  const [{ registerLedgerCommands }, { registerRunCommands }, { registerProvenanceCommands }, { registerArchiveCommands }, { registerShimCommands }] = await Promise.all([
    import('./commands/ledger.js'),
    import('./commands/runs.js'),
    import('./commands/provenance.js'),
    import('./commands/archive.js'),
    import('./commands/shim.js'),
  ]);
  registerLedgerCommands(program, setStatus);
  registerRunCommands(program, setStatus);
  registerProvenanceCommands(program, setStatus);
  registerArchiveCommands(program, setStatus);
  registerShimCommands(program, setStatus);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are successes; every other parse failure is a usage error (one line, exit 2).
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT_USAGE;
    }
    throw e;
  }
  return status;
}

/** Parses a non-negative integer argument, or fails with a usage error. */
export function parseIndex(text: string, what: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new FfauditError('USAGE', `${what} must be a non-negative integer, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}
