/**
 * `ffaudit shim install DIR [--ledger D]`: writes `ffmpeg` and `ffprobe` scripts into DIR that run the audited
 * command. With DIR first on PATH, scripts and libraries that call ffmpeg are audited unchanged. The scripts carry
 * SHIM_MARKER, so ffaudit never takes them for the real FFmpeg; arguments pass through `exec … "$@"`, which the
 * shell does not interpret. Without --ledger the ledger is found at run time (FFAUDIT_LEDGER, else the default).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SHIM_MARKER } from '../../capture/locate.js';
import { FfauditError } from '../../core/errors.js';
import { writeFileAtomically } from '../../ledger/safe-files.js';
import type { CommandContext, GlobalOptions } from '../context.js';
import { pathFrom } from '../io.js';

/** A POSIX shell single-quoted word: nothing inside is interpreted. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

export function shimScript(tool: 'ffmpeg' | 'ffprobe', node: string, bin: string, ledger: string | undefined): string {
  const words = [node, bin, ...(ledger ? ['--ledger', ledger] : []), tool].map(shellQuote).join(' ');
  return `#!/bin/sh\n# ${SHIM_MARKER}\n# Installed by: ffaudit shim install. Remove this file to stop auditing ${tool} calls.\nexec ${words} "$@"\n`;
}

export function installShims(dir: string, ledger: string | undefined): string[] {
  const bin = fileURLToPath(new URL('../../../bin/ffaudit.js', import.meta.url));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new FfauditError('IO', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const written: string[] = [];
  for (const tool of ['ffmpeg', 'ffprobe'] as const) {
    const p = join(dir, tool);
    try {
      // atomic: a script running ffmpeg meanwhile sees the old file or the new one, and a link planted in DIR is
      // replaced, never written through
      writeFileAtomically(p, shimScript(tool, process.execPath, bin, ledger), 0o755);
    } catch (e) {
      throw new FfauditError('IO', `cannot write ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    written.push(p);
  }
  return written;
}

export function registerShimCommands(program: Command, { io }: CommandContext): void {
  const shim = program.command('shim').description('audit programs that call ffmpeg/ffprobe by name');
  shim
    .command('install')
    .description('write ffmpeg and ffprobe scripts into DIR that run them through ffaudit; put DIR first on PATH')
    .argument('<dir>', 'where to write the scripts')
    .option('--ledger <dir>', 'the ledger the scripts record to (default: found when they run: $FFAUDIT_LEDGER, else the per-user one)')
    .action((dir: string, o: { ledger?: string }) => {
      const ledger = o.ledger ?? program.opts<GlobalOptions>().ledger;
      const written = installShims(pathFrom(io, dir), ledger ? pathFrom(io, ledger) : undefined);
      io.out(`${written.join('\n')}\nput ${pathFrom(io, dir)} first on PATH to audit every ffmpeg and ffprobe call\n`);
    });
}
