/**
 * The first phase of an audited run: what the command line says it will read and write, worked out from the
 * arguments alone, before the ledger is opened or FFmpeg started. Non-UTF-8 operands reach FFmpeg through links
 * with ASCII names whose targets are the exact bytes.
 */
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import type { Tool } from '../core/run.js';
import { analyzeFfmpegArgs, analyzeFfprobeArgs } from '../ffmpeg/ffargs.js';
import type { LocalFile, Operands } from './file-state.js';
import { rawArgBytes } from './raw-argv.js';
import { classifyTarget, isSequencePattern } from './target.js';
import { wantsOwnReport } from './user-report.js';

/** What the command line names: inputs (with filter sources and files named by options) and outputs. */
export function operandsOf(tool: Tool, args: readonly string[]): Operands & { userReport: boolean } {
  if (tool === 'ffprobe') {
    return { inputs: analyzeFfprobeArgs(args).inputs.map((name) => ({ name, format: null })), outputs: [], userReport: args.includes('-report') };
  }
  const a = analyzeFfmpegArgs(args);
  return {
    inputs: [
      ...a.inputs.map((name, i) => ({ name, format: a.inputFormats[i] ?? null })),
      ...a.filterSources.map((name) => ({ name, format: null })),
      ...a.otherInputFiles.map((name) => ({ name, format: null })),
    ],
    outputs: [...a.outputs.map((name, i) => ({ name, format: a.outputFormats[i] ?? null })), ...a.otherOutputFiles.map((name) => ({ name, format: null }))],
    userReport: a.userReport,
  };
}

/**
 * The extension of a name's last component (`.mp4`), when it is plain ASCII, else ''. FFmpeg chooses an output's
 * muxer, and weighs an input's demuxer, by the text after the name's last '.' (libavformat av_guess_format and
 * av_match_ext), so the link that stands for a non-UTF-8 name must end as the name does. No format's extension is
 * anything but ASCII letters and digits, so an extension that is not has nothing to match and is left off.
 */
function plainExtension(name: Buffer): string {
  const base = name.subarray(name.lastIndexOf(0x2f) + 1);
  const dot = base.lastIndexOf(0x2e);
  if (dot < 0) return '';
  const ext = base.subarray(dot).toString('latin1');
  return /^\.[A-Za-z0-9_]{1,32}$/.test(ext) ? ext : '';
}

/** Muxers that write files named after their output, or write it under a temporary name and rename it over the name. */
const MULTI_FILE_MUXERS = new Set(['hls', 'dash', 'segment', 'ssegment', 'stream_segment', 'webm_chunk', 'smoothstreaming', 'hds']);

/**
 * Whether a name stands for more than the one file a link can stand for: a sequence pattern (FFmpeg expands the
 * name it is given, which the link's name is not), or the output of a muxer that writes further files beside it,
 * named after it, or renames a temporary file over it (the link itself would be replaced, and the real file never
 * written). `format` is the output's -f; without one FFmpeg picks HLS for `.m3u8` and DASH for `.mpd`.
 */
function namesSeveralFiles(name: string, format: string | null | undefined): boolean {
  if (isSequencePattern(name)) return true;
  if (format === undefined) return false; // not an output
  return format === null ? /\.(m3u8|mpd)$/i.test(name) : MULTI_FILE_MUXERS.has(format);
}

export interface IntentRequest {
  tool: Tool;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The arguments' exact bytes where they are not valid UTF-8 (default: read from /proc/self/cmdline). */
  rawArgs?: (Buffer | undefined)[] | undefined;
}

/** What one run will do, as far as its command line tells. */
export interface RunIntent {
  tool: Tool;
  /** The arguments as the user gave them: what is recorded (redacted). */
  args: readonly string[];
  /** The arguments FFmpeg is given: non-UTF-8 names replaced by their links. */
  ffArgs: string[];
  cwd: string;
  /** What `ffArgs` names. */
  operands: Operands;
  /** The user asked for their own report (-report, FFREPORT): their stderr is left alone. */
  ownReport: boolean;
  /** Link given to FFmpeg → the file it stands for. */
  aliases: Map<string, LocalFile>;
  /** The exact bytes of the non-UTF-8 arguments, base64, by argument position. */
  argvB64: Record<string, string>;
  /** The local input files the command line names, hashed while FFmpeg reads them. */
  knownInputs: LocalFile[];
  /** Whether stdin (pipe:0) is read, or stdout (pipe:1) written, as an operand: those are hashed as they pass. */
  pipeIn: boolean;
  pipeOut: boolean;
}

/**
 * Reads the command line; the links for non-UTF-8 names are made in `linkDir` (the run's private directory).
 * Throws USAGE, before anything is recorded or run, for a non-UTF-8 argument no link can stand for.
 */
export function prepareIntent(req: IntentRequest, linkDir: string): RunIntent {
  const { tool, args, cwd } = req;
  const named = operandsOf(tool, args);
  const raw = req.rawArgs ?? rawArgBytes(args);
  const ffArgs = [...args];
  const aliases = new Map<string, LocalFile>();
  const argvB64: Record<string, string> = {};
  const operandNames = new Set([...named.inputs, ...named.outputs].map((o) => o.name));
  raw.forEach((b, i) => {
    if (!b) return;
    argvB64[String(i)] = b.toString('base64');
    if (!operandNames.has(args[i]!)) {
      throw new FfauditError('USAGE', `argument ${i + 1} is not valid UTF-8 and is not a file name; FFmpeg was not run (rename the file or use a UTF-8 name)`);
    }
    if (namesSeveralFiles(args[i]!, named.outputs.find((o) => o.name === args[i])?.format)) {
      throw new FfauditError('USAGE', `argument ${i + 1} is not valid UTF-8 and names a set of files (a numbered sequence, or an HLS, DASH or segment output), which FFmpeg cannot be given through a link; FFmpeg was not run (use a UTF-8 name)`);
    }
    const abs = b[0] === 0x2f ? b : Buffer.concat([Buffer.from(cwd.endsWith('/') ? cwd : `${cwd}/`), b]);
    const link = join(linkDir, `arg-${i}${plainExtension(abs)}`);
    symlinkSync(abs, link);
    ffArgs[i] = link;
    aliases.set(link, { path: abs.toString('utf8'), fsPath: abs, pathB64: abs.toString('base64') });
  });
  // What FFmpeg is given (non-UTF-8 names replaced by their links); the same analysis when there are none.
  const operands = aliases.size ? operandsOf(tool, ffArgs) : named;
  const knownInputs: LocalFile[] = [];
  for (const spec of operands.inputs) {
    const t = classifyTarget(spec.name, 'input', spec.format, cwd);
    if (t.kind === 'file') knownInputs.push(aliases.get(spec.name) ?? { path: t.path, fsPath: t.path });
  }
  const pipeIn = operands.inputs.some((s) => {
    const t = classifyTarget(s.name, 'input', s.format, cwd);
    return t.kind === 'pipe' && t.fd === 0;
  });
  const pipeOut = operands.outputs.some((s) => {
    const t = classifyTarget(s.name, 'output', s.format, cwd);
    return t.kind === 'pipe' && t.fd === 1;
  });
  return {
    tool,
    args,
    ffArgs,
    cwd,
    operands: { inputs: operands.inputs, outputs: operands.outputs },
    ownReport: wantsOwnReport(named.userReport, req.env),
    aliases,
    argvB64,
    knownInputs,
    pipeIn,
    pipeOut,
  };
}
