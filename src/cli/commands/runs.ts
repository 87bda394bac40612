/** Reading runs back: `ffaudit log`, `ffaudit show`, and `ffaudit redaction-check` to prove a redacted value. */
import type { Command } from 'commander';
import { hashFile } from '../../capture/hash.js';
import { FfauditError } from '../../core/errors.js';
import type { FileRecord, NoteRecord } from '../../core/entry.js';
import type { RunRecord, RunStatus } from '../../core/run.js';
import { displayText } from '../../render/display-text.js';
import { parseWhen } from '../../time/time.js';
import { listLog } from '../../ledger/log.js';
import { findRedactions } from '../../ledger/redaction-check.js';
import type { Ledger } from '../../ledger/ledger.js';
import { readEntry, runDetails, type RunDetails, type RunFilter } from '../../ledger/runs.js';
import { withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY } from '../exit.js';
import { pathFrom } from '../io.js';
import { collect, parseIndex } from '../arguments.js';
import { addServerOptions, filterParams, serverFrom, type ServerOptions } from '../remote.js';
import type { RemoteServer } from '../../remote/client.js';

const STATUSES: readonly RunStatus[] = ['ok', 'failed', 'incomplete', 'terminated'];

interface LogOptions {
  user?: string;
  actor?: string;
  since?: string;
  until?: string;
  file?: string;
  sha256?: string;
  failed?: boolean;
  status?: string;
  grep?: string;
  limit?: string;
  tool?: string;
  json?: boolean;
  scan?: boolean;
  type?: string;
}

/** FFmpeg's report log for reading: displayText line by line, tabs kept. */
export function displayReport(text: string): string {
  return text
    .split('\n')
    .map((line) => line.split('\t').map(displayText).join('\t'))
    .join('\n');
}

/** One argument as a POSIX shell would need it, for reading (never executed). */
function shellWord(a: string): string {
  if (a !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  return `'${a.replace(/'/g, "'\\''")}'`;
}

export function commandLine(r: Pick<RunRecord, 'tool' | 'argv'>): string {
  return displayText([r.tool, ...r.argv].map(shellWord).join(' '));
}

function durationText(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 600_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

function outcomeText(r: RunRecord): string {
  if (r.signal) return r.signal;
  return r.exit_code === null ? '-' : String(r.exit_code);
}

/** "2026-11-28 06:52:01" (UTC) from an entry time. */
function shortTime(t: string): string {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(t) ? `${t.slice(0, 10)} ${t.slice(11, 19)}` : displayText(t);
}

/** A custody note's line in the table: what it says, then the files it names. */
function noteText(n: NoteRecord): string {
  const files = n.files.map((f) => f.path);
  return displayText(`note: ${n.text}${files.length > 0 ? `  (${files.join(', ')})` : ''}`);
}

/**
 * The `log` table. Items from the team server carry the origin of their log: a LOG column then says which log
 * (entry indices are per log).
 */
export function formatRunTable(items: readonly ((RunRecord | NoteRecord) & { log?: string })[], width: number | undefined): string {
  const withLog = items.some((x) => x.log !== undefined);
  const header = ['RUN', ...(withLog ? ['LOG'] : []), 'ENTRY', 'STARTED (UTC)', 'USER', 'TOOL', 'STATUS', 'EXIT', 'TIME', 'COMMAND'];
  const logCell = (x: { log?: string }) => (withLog ? [displayText(x.log ?? '-')] : []);
  const noteRow = (n: NoteRecord & { log?: string }) => ['-', ...logCell(n), String(n.index), shortTime(n.time), displayText(n.asserted_actor ? `${n.user} (${n.asserted_actor})` : n.user), 'note', '-', '-', '-', noteText(n)];
  const rows = items.map((r) => 'index' in r ? noteRow(r) : [
    r.id.slice(0, 12),
    ...logCell(r),
    String(r.entries[0]),
    shortTime(r.started_at),
    displayText(r.asserted_actor ? `${r.user} (${r.asserted_actor})` : r.user),
    r.tool,
    r.status,
    outcomeText(r),
    durationText(r.duration_ms),
    commandLine(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => {
    const entryColumn = withLog ? 2 : 1;
    const text = cells.map((c, i) => (i === cells.length - 1 ? c : i === entryColumn ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
    return width !== undefined && text.length > width ? `${text.slice(0, Math.max(width - 1, 0))}…` : text;
  };
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function fileLines(files: readonly (FileRecord & { changed_during_run?: boolean })[]): string[] {
  if (files.length === 0) return ['  (none)'];
  return files.map((f) => {
    const flag = f.changed_during_run ? '  [changed while FFmpeg read it]' : '';
    return `  ${f.sha256 ?? '(not hashed)'.padEnd(64)}  ${f.size === null ? '-' : String(f.size)}  ${displayText(f.path)}${flag}`;
  });
}

export function formatRunDetails(d: RunDetails): string {
  const r = d.record;
  const status = r.status === 'incomplete' ? 'incomplete (no end was recorded: ffaudit was killed or the machine stopped)' : `${r.status} (${r.signal ? `signal ${r.signal}` : `exit ${r.exit_code ?? '-'}`})`;
  const lines = [
    `run        ${r.id}`,
    `tool       ${r.tool}`,
    `status     ${status}`,
    `entries    ${r.entries[0]} (start)${r.entries[1] !== undefined ? `, ${r.entries[1]} (end)` : ''}`,
    `user       ${displayText(r.user)}${r.uid !== null ? ` (uid ${r.uid})` : ''} on ${displayText(r.host)}`,
  ];
  if (r.asserted_actor !== null) lines.push(`actor      ${displayText(r.asserted_actor)} (asserted by the caller, not checked)`);
  if (r.reason !== null) lines.push(`reason     ${displayText(r.reason)}`);
  lines.push(
    `cwd        ${displayText(r.cwd)}`,
    `command    ${commandLine(r)}`,
    `started    ${displayText(r.started_at)}`,
    `ended      ${r.ended_at === null ? '-' : displayText(r.ended_at)}${r.duration_ms !== null ? ` (${durationText(r.duration_ms)})` : ''}`,
    `${r.tool === 'ffprobe' ? 'ffprobe   ' : 'ffmpeg    '} ${displayText(r.ffmpeg.path)}  version ${displayText(r.ffmpeg.version ?? 'unknown')}  sha256 ${r.ffmpeg.sha256 ?? 'unknown'}`,
  );
  if (d.policy === 'fail-open') lines.push('policy     fail-open (FFmpeg was allowed to run even if its start could not be recorded)');
  lines.push('inputs', ...fileLines(r.inputs), 'outputs', ...fileLines(r.outputs));
  if (r.streams.length) {
    lines.push('streams');
    for (const s of r.streams) {
      const parts = [s.type, s.codec ?? '?'];
      if (s.width !== undefined && s.height !== undefined) parts.push(`${s.width}x${s.height}`);
      if (s.duration !== undefined) parts.push(s.duration);
      if (s.bitrate_kbps !== undefined) parts.push(`${s.bitrate_kbps} kb/s`);
      lines.push(`  ${s.direction.padEnd(6)} #${s.file}:${s.stream}  ${displayText(parts.join('  '))}`);
    }
  }
  lines.push(`report     ${r.report_sha256 ? `sha256 ${r.report_sha256} (ffaudit show ${r.id.slice(0, 12)} --report)` : '-'}`);
  if (d.redactions.length) {
    // One secret is one keyed hash, wherever it was removed (the command line, the report, a file name).
    const secrets = new Set(d.redactions.map((x) => x.hmac)).size;
    const kinds = [...new Set(d.redactions.map((x) => x.kind))];
    const places = d.redactions.length === secrets ? '' : ` in ${d.redactions.length} places`;
    lines.push(`redacted   ${secrets} secret${secrets === 1 ? '' : 's'}${places} (${displayText(kinds.join(', '))}); prove one with: ffaudit redaction-check`);
    for (const x of d.redactions) lines.push(`  ${displayText(x.where).padEnd(10)} ${displayText(x.kind).padEnd(28)} hmac ${displayText(x.hmac)}`);
  }
  for (const n of d.notes) lines.push(`note       ${displayText(n)}`);
  return `${lines.join('\n')}\n`;
}

function filterFrom(o: LogOptions): RunFilter {
  const f: RunFilter = {};
  if (o.user !== undefined) f.user = o.user;
  if (o.actor !== undefined) f.actor = o.actor;
  if (o.tool !== undefined) {
    if (o.tool !== 'ffmpeg' && o.tool !== 'ffprobe') throw new FfauditError('USAGE', `--tool must be ffmpeg or ffprobe, not ${JSON.stringify(o.tool)}`);
    f.tool = o.tool;
  }
  const now = Date.now();
  if (o.since !== undefined) f.sinceNs = parseWhen(o.since, now);
  if (o.until !== undefined) f.untilNs = parseWhen(o.until, now, 'until');
  let statuses: RunStatus[] | undefined;
  if (o.status !== undefined) {
    statuses = o.status.split(',').map((s) => {
      if (!STATUSES.includes(s as RunStatus)) throw new FfauditError('USAGE', `--status takes ${STATUSES.join(', ')} (comma-separated), not ${JSON.stringify(s)}`);
      return s as RunStatus;
    });
  }
  // Anything but a clean end: an incomplete run never recorded its end (ffaudit was killed, or the machine stopped).
  if (o.failed) statuses = (statuses ?? ['failed', 'terminated', 'incomplete']).filter((s) => s !== 'ok');
  if (statuses !== undefined) f.statuses = statuses;
  if (o.sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(o.sha256)) throw new FfauditError('USAGE', `--sha256 takes 64 hexadecimal digits, not ${JSON.stringify(o.sha256)}`);
    f.sha256 = o.sha256.toLowerCase();
  }
  if (o.grep !== undefined) f.grep = o.grep;
  if (o.limit !== undefined) {
    f.limit = parseIndex(o.limit, '--limit');
    if (f.limit === 0) throw new FfauditError('USAGE', '--limit must be at least 1');
  }
  return f;
}

/** A run, or, when REF is the index of a custody note, an error that says where to read it. */
function runDetailsOrNoteHint(l: Ledger, ref: string): RunDetails {
  try {
    return runDetails(l, ref);
  } catch (e) {
    if (!(e instanceof FfauditError) || e.code !== 'NOT_FOUND' || !/^(0|[1-9][0-9]{0,15})$/.test(ref)) throw e;
    let type: string | undefined;
    try {
      type = readEntry(l, Number(ref)).type;
    } catch {
      throw e;
    }
    if (type === 'custody.note') throw new FfauditError('NOT_FOUND', `entry ${ref} is a custody note, not a run: see it with ffaudit entry ${ref}`);
    throw e;
  }
}

/**
 * What `log` lists: runs, custody notes, or both (the default). Status and tool are conditions on runs: with
 * them, only runs are listed.
 */
function typesFrom(o: LogOptions): { runs: boolean; notes: boolean } {
  const runOnly = o.failed ? '--failed' : o.status !== undefined ? '--status' : o.tool !== undefined ? '--tool' : undefined;
  if (o.type === undefined) return { runs: true, notes: runOnly === undefined };
  if (o.type === 'run') return { runs: true, notes: false };
  if (o.type === 'note') {
    if (runOnly !== undefined) throw new FfauditError('USAGE', `${runOnly} selects runs, not custody notes: leave it out with --type note`);
    return { runs: false, notes: true };
  }
  throw new FfauditError('USAGE', `--type must be run or note, not ${JSON.stringify(o.type)}`);
}

export function registerRunCommands(program: Command, { io, setStatus }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();

  const logCommand = program
    .command('log')
    .description('list recorded FFmpeg and FFprobe runs and custody notes, oldest first')
    .option('--type <type>', 'run or note: only runs, or only custody notes (default: both)')
    .option('--user <name>', 'runs by this operating-system user')
    .option('--actor <name>', 'runs whose caller asserted this name (--actor / FFAUDIT_ACTOR)')
    .option('--since <when>', 'runs started (notes recorded) at or after WHEN: RFC 3339 time, YYYY-MM-DD or "YYYY-MM-DD HH:MM" (UTC), or an age: 90s, 15m, 2h, 3d, 1w')
    .option('--until <when>', 'runs started (notes recorded) at or before WHEN; a date or a minute is included whole')
    .option('--file <path>', 'runs that read or wrote this file: by its current content, else by its path')
    .option('--sha256 <hex>', 'runs that read or wrote a file with this SHA-256')
    .option('--failed', 'runs that failed, were ended by a signal, or never recorded an end (incomplete)')
    .option('--status <list>', 'runs with these statuses (comma-separated: ok, failed, incomplete, terminated)')
    .option('--grep <text>', 'runs whose command line, cwd, reason, actor or file paths, and notes whose text, actor or file paths contain TEXT (case-insensitive)')
    .option('--tool <name>', 'ffmpeg or ffprobe runs only')
    .option('--limit <n>', 'the N most recent matching runs')
    .option('--json', 'one JSON object per run or note, one per line (the format documented as a contract)')
    .option('--scan', 'read every entry instead of using the search indexes (an edited index cannot hide a run)');
  addServerOptions(logCommand)
    .option('--host <name>', "with --server: only this host's log (the server's name for it; repeatable)", collect)
    .action(async (o: LogOptions & ServerOptions & { host?: string[] }) => {
      const f = filterFrom(o);
      const want = typesFrom(o);
      const server = await serverFrom(io, o);
      if (server) return remoteLogCommand(server, o, f, want);
      if (o.host !== undefined) throw new FfauditError('USAGE', '--host goes with --server');
      let fileContent: { path: string; sha256: string } | undefined;
      if (o.file !== undefined) {
        const path = pathFrom(io, o.file);
        try {
          fileContent = { path, sha256: (await hashFile(path)).sha256 };
        } catch (e) {
          if (!(e instanceof FfauditError)) throw e;
          f.path = path; // gone or unreadable: look it up by the path recorded
        }
      }
      return withLedger(g(), io, (l) => {
        const result = listLog(l, { filter: f, runs: want.runs, notes: want.notes, scan: o.scan, file: fileContent });
        for (const u of result.unreadable) {
          const what = u.id === null ? `entry ${u.startIndex}` : `run ${u.id} (entry ${u.startIndex})`;
          io.err(`ffaudit: ${what} cannot be read back: ${u.error.message}\n`);
        }
        if (result.unreadable.length) setStatus(EXIT_INTEGRITY);
        printLog(result.items, want, o.json);
      });
    });

  /** The runs and notes of `log`, as a table or as `--json` lines (a custody note's line starts with its type). */
  function printLog(items: readonly ((RunRecord | NoteRecord) & { log?: string })[], want: { runs: boolean; notes: boolean }, json: boolean | undefined): void {
    if (json) {
      io.out(items.map((x) => `${JSON.stringify('index' in x ? { type: 'custody.note', ...x } : x)}\n`).join(''));
    } else if (items.length === 0) {
      io.err(`ffaudit: no ${want.runs && want.notes ? 'runs or custody notes' : want.runs ? 'runs' : 'custody notes'} match\n`);
    } else {
      io.out(formatRunTable(items, io.outTTY ? io.columns : undefined));
    }
  }

  /** `log --server`: the same filters, asked of the team server across the logs the token may see. */
  async function remoteLogCommand(server: RemoteServer, o: LogOptions & { host?: string[] }, f: RunFilter, want: { runs: boolean; notes: boolean }): Promise<void> {
    if (o.scan) throw new FfauditError('USAGE', '--scan reads a local ledger: the server checks every hit against its mirrored entries anyway');
    const { remoteLog } = await import('../../remote/queries.js');
    const ask = async (filter: RunFilter) => {
      const params = filterParams(filter);
      for (const h of o.host ?? []) params.append('host', h);
      // The API matches a path prefix and `--file` means this very path: with a path, the limit applies after the
      // exact filter here (longer paths under the same prefix could otherwise fill it).
      const exact = filter.path;
      const r = await remoteLog(server, { params, runs: want.runs, notes: want.notes, limit: exact === undefined ? f.limit : undefined });
      if (exact !== undefined) {
        r.items = r.items.filter((x) => ('index' in x ? x.files : [...x.inputs, ...x.outputs]).some((file) => file.path === exact));
        if (f.limit !== undefined) r.items = r.items.slice(-f.limit);
      }
      return r;
    };
    let result: Awaited<ReturnType<typeof ask>>;
    if (o.file !== undefined) {
      // By the file's content, else (gone, or no match) by its path, as the local log does.
      const path = pathFrom(io, o.file);
      let sha256: string | undefined;
      try {
        sha256 = (await hashFile(path)).sha256;
      } catch (e) {
        if (!(e instanceof FfauditError)) throw e;
      }
      result = sha256 !== undefined ? await ask({ ...f, sha256 }) : { items: [], unreadable: [] };
      if (result.items.length === 0) result = await ask({ ...f, path });
    } else {
      result = await ask(f);
    }
    for (const u of result.unreadable) io.err(`ffaudit: ${u.id === null ? `entry ${u.index}` : `run ${displayText(u.id)} (entry ${u.index})`} of the log ${displayText(u.log)} cannot be read back on the server: ${displayText(u.error)}\n`);
    if (result.unreadable.length) setStatus(EXIT_INTEGRITY);
    printLog(result.items, want, o.json);
  }

  program
    .command('show')
    .description('everything recorded about one run')
    .argument('<run>', 'a run id (or a unique prefix of at least 6 characters), or the index of either of its entries')
    .option('--json', 'the run as JSON: the log --json record plus its redactions, notes and policy')
    .option('--report', "print FFmpeg's report log stored with the run (secrets already removed), control characters escaped")
    .option('--raw', 'with --report: the stored bytes exactly, unescaped (for checking against report_sha256)')
    .action((ref: string, o: { json?: boolean; report?: boolean; raw?: boolean }) => {
      if (o.json && o.report) throw new FfauditError('USAGE', 'use --json or --report, not both');
      if (o.raw && !o.report) throw new FfauditError('USAGE', '--raw goes with --report');
      return withLedger(g(), io, (l) => {
        const d = runDetailsOrNoteHint(l, ref);
        if (o.report) {
          const sha = d.record.report_sha256;
          if (sha === null) throw new FfauditError('NOT_FOUND', `run ${d.record.id} has no stored report${d.record.status === 'incomplete' ? ' (it never ended)' : ''}`);
          const report = l.blob(sha);
          if (!report) throw new FfauditError('INTEGRITY', `the report ${sha} of run ${d.record.id} is missing from the ledger`);
          // The report quotes file names, metadata and arguments someone else chose: like everything else shown from
          // the ledger, it must not drive the terminal. Only line breaks and tabs are kept as they are.
          io.out(o.raw ? report : displayReport(report.toString('utf8')));
        } else if (o.json) {
          io.out(`${JSON.stringify({ ...d.record, redactions: d.redactions, notes: d.notes, policy: d.policy })}\n`);
        } else {
          io.out(formatRunDetails(d));
        }
      });
    });

  program
    .command('redaction-check')
    .description('show that a value read from stdin is a secret redacted from a run (its keyed hash matches); URL credentials are checked as user:password')
    .argument('[run]', 'the run to check (default: every run)')
    .option('--exact', 'use stdin byte for byte (by default one trailing newline is dropped)')
    .action(async (ref: string | undefined, o: { exact?: boolean }) => {
      // The value comes on stdin so that it never appears in a command line, a shell history or a process list.
      const chunks: Buffer[] = [];
      for await (const c of io.stdin) chunks.push(Buffer.from(c));
      let value = Buffer.concat(chunks).toString('utf8');
      if (!o.exact) value = value.replace(/\r?\n$/, '');
      if (value === '') throw new FfauditError('USAGE', 'give the value to check on stdin');
      return withLedger(g(), io, (l) => {
        const found = findRedactions(l, value, ref);
        for (const r of found) io.out(`run ${r.run}  ${displayText(r.where)}  ${displayText(r.kind)}\n`);
        if (found.length === 0) {
          io.err('ffaudit: the value matches no redaction\n');
          setStatus(EXIT_INTEGRITY);
        }
      });
    });
}
