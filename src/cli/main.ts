/**
 * The ffaudit command line: parses arguments, calls one library function, prints, and maps errors to exit statuses
 * in one place (exit.ts). `ffaudit [options] ffmpeg|ffprobe ARGS…` bypasses the parser entirely so that FFmpeg's
 * arguments reach FFmpeg verbatim and start-up stays fast (bin/ffaudit.js sends it to the bundled capture module;
 * run from here, it takes the same code from the separate modules). Every other command runs against this
 * process's streams, environment and directory (io.ts).
 */
import { parseCaptureInvocation } from './capture-invocation.js';
import { exitOnStdoutError, reportError } from './exit.js';

async function main(argv: string[]): Promise<number> {
  const capture = parseCaptureInvocation(argv);
  // The same code as the bundled dist/bundle/capture.cjs that bin/ffaudit.js uses, from the separate modules.
  if (capture) return (await import('./capture-main.js')).mainCapture(capture);
  const verbose = argv.includes('--verbose') || argv.includes('-v') || process.env.FFAUDIT_VERBOSE === '1';
  try {
    const [{ runProgram }, { processIo }] = await Promise.all([import('./program.js'), import('./io.js')]);
    exitOnStdoutError(process.stdout, process.stderr);
    return await runProgram(argv, processIo());
  } catch (e) {
    return reportError(e, verbose); // the program could not be loaded; runProgram reports its commands' errors itself
  }
}

process.exitCode = await main(process.argv.slice(2));
