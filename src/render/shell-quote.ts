/** Displaying an argument list as one command line a POSIX shell would read back the same (for people, never run). */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(arg: string): string {
  if (arg.length > 0 && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** A recorded run's command as typed: the tool's name, then its arguments (a run's argv holds FFmpeg's arguments only). */
export function runCommandLine(run: { tool: string; argv: readonly string[] }): string {
  return commandLine([run.tool, ...run.argv]);
}
