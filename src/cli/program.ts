/** Every command but the capture ones, parsed with commander. Each action maps arguments to one library call. */
import { Command, CommanderError, Option } from 'commander';
import { ffauditVersion } from '../ledger/software.js';
import type { CommandContext } from './context.js';
import { EXIT_USAGE, reportError } from './exit.js';
import type { Io } from './io.js';

/**
 * Runs one command line against `io` and returns its exit status; an error the action throws is reported here, on
 * io.err, by exit.ts, so it reads the same whether the command runs in its own process (main.ts) or in a test's.
 */
export async function runProgram(argv: readonly string[], io: Io): Promise<number> {
  let status = 0;
  const cli: CommandContext = {
    io,
    setStatus: (s: number) => {
      status = s;
    },
  };
  const program = new Command('ffaudit')
    .description('Immutable, independently verifiable audit records for every FFmpeg run')
    .addOption(new Option('--ledger <dir>', 'the ledger directory (default: $FFAUDIT_LEDGER, else the per-user data directory)'))
    .addOption(new Option('--key <file>', 'the signing key, when kept outside the ledger (default: $FFAUDIT_KEY)'))
    .option('-v, --verbose', 'show details, and stack traces on errors')
    .version(`ffaudit ${ffauditVersion() ?? '(version unknown)'}`, '-V, --version', "print ffaudit's version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s.startsWith('error:') ? `ffaudit: ${s.slice(7)}` : s),
      getOutHelpWidth: () => io.columns ?? 80,
      getErrHelpWidth: () => 80,
    })
    .showSuggestionAfterError(true)
    .usage('[options] <command> | [options] ffmpeg|ffprobe ARGS…')
    // The options of an audited run are read before any parser (capture-invocation.ts); they are listed here.
    .addHelpText(
      'after',
      `
Audited runs: ffaudit [--ledger DIR] [--key FILE] [--actor NAME] [--reason TEXT] [--ffmpeg PATH] [--ffprobe PATH] ffmpeg|ffprobe ARGS…
  (everything after ffmpeg/ffprobe goes to FFmpeg verbatim)
  --actor <name>                            who runs it, as asserted by the caller: recorded, not checked (default: $FFAUDIT_ACTOR)
  --reason <text>                           why: a ticket or case number, recorded with the run (default: $FFAUDIT_REASON)
  --ffmpeg <path>                           the FFmpeg binary to run (default: $FFAUDIT_FFMPEG, else the first on PATH)
  --ffprobe <path>                          the FFprobe binary to run (default: $FFAUDIT_FFPROBE, else the first on PATH)

Run bare, ffaudit prints this on standard error and exits with status 2 (no command was given).
`,
    );

  const [{ registerLedgerCommands }, { registerRunCommands }, { registerProvenanceCommands }, { registerArchiveCommands }, { registerShimCommands }, { registerVerifierCommands }, { registerServeCommands }, { registerPushCommands }, { registerMonitorCommands }, { registerTimestampCommands }, { registerWitnessCommands }] = await Promise.all([
    import('./commands/ledger.js'),
    import('./commands/runs.js'),
    import('./commands/provenance.js'),
    import('./commands/archive.js'),
    import('./commands/shim.js'),
    import('./commands/verifiers.js'),
    import('./commands/serve.js'),
    import('./commands/push.js'),
    import('./commands/monitor.js'),
    import('./commands/timestamp.js'),
    import('./commands/witness.js'),
  ]);
  registerLedgerCommands(program, cli);
  registerRunCommands(program, cli);
  registerProvenanceCommands(program, cli);
  registerArchiveCommands(program, cli);
  registerShimCommands(program, cli);
  registerVerifierCommands(program, cli);
  registerServeCommands(program, cli);
  registerPushCommands(program, cli);
  registerMonitorCommands(program, cli);
  registerTimestampCommands(program, cli);
  registerWitnessCommands(program, cli);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help, `help` and --version are successes; every other parse failure is a usage error (one line, exit 2),
      // and so is no command at all (commander then prints the help on stderr and asks for a non-zero status).
      if (e.code === 'commander.help') return e.exitCode === 0 ? 0 : EXIT_USAGE;
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    return reportError(e, argv.includes('--verbose') || argv.includes('-v') || io.env.FFAUDIT_VERBOSE === '1', io.err);
  }
  return status;
}
