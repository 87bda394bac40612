/**
 * GET /api/v1/export: every run (or custody note) a filter matches, oldest first, streamed as ECS NDJSON (as
 * `ffaudit export --format ecs`, each document in its own log's data stream: render/ecs.ts) or as RFC 4180 CSV.
 *
 * The body is pulled from the search stream only as fast as the client reads it (a ReadableStream's pull, which
 * @hono/node-server calls again only after the socket drained), so memory stays flat however large the export.
 *
 * An export is evidence: a match whose entries cannot be read back as recorded is never dropped silently. Once the
 * status line has gone out the only way left to say so is in the body and in how it ends: a last line says why
 * (NDJSON `{"ffaudit_export_error": …}`, CSV a row whose first cell is `#ERROR`), then the response is aborted without
 * the final chunk of its chunked encoding, which every HTTP/1.1 client reports as an incomplete transfer (RFC 9112
 * §7.1). A complete export is one whose body ended properly; docs/api.md says the same to clients.
 */
import { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { FfauditError } from '../../core/errors.js';
import type { NoteRecord } from '../../core/entry.js';
import type { RunRecord } from '../../core/run.js';
import { noteToEcs, runToEcs } from '../../render/ecs.js';
import { runCommandLine } from '../../render/shell-quote.js';
import type { Db } from '../db/pool.js';
import type { AppEnv } from '../deps.js';
import { streamNotes, streamRuns } from '../search/query.js';
import type { LoggedNote, LoggedRun, Scope, Unreadable } from '../search/types.js';
import type { ExportQuery } from './filters.js';

/** How much body one pull gathers before handing it on (fewer, larger writes; still flat memory). */
const CHUNK_BYTES = 64 * 1024;

export const CSV_COLUMNS = ['log', 'type', 'index', 'id', 'started_at', 'ended_at', 'user', 'actor', 'host', 'tool', 'status', 'exit_code', 'command', 'inputs', 'outputs', 'text'] as const;

/**
 * One CSV cell (RFC 4180 §2): quoted when it holds a quote, comma, CR or LF, quotes doubled. A cell that a spreadsheet
 * would read as a formula (beginning with =, +, -, @, TAB or CR: OWASP "CSV Injection") gets a leading single quote,
 * so a recorded command line or file name can never run as one.
 */
export function csvCell(value: string | number | null): string {
  let v = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvRow(cells: readonly (string | number | null)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

const files = (fs: readonly { path: string; sha256: string | null }[]) => fs.map((f) => `${f.sha256 ?? ''}:${f.path}`).join(';');

export function runCsv(r: RunRecord & { log: string }): string {
  return csvRow([r.log, 'run', r.entries[0]!, r.id, r.started_at, r.ended_at, r.user, r.asserted_actor, r.host, r.tool, r.status, r.exit_code, runCommandLine(r), files(r.inputs), files(r.outputs), null]);
}

/** A custody note's row: its time as started_at, the files it names in `inputs`, its words in `text`. */
export function noteCsv(n: NoteRecord & { log: string }): string {
  return csvRow([n.log, 'note', n.index, null, n.time, null, n.user, n.asserted_actor, n.host, null, null, null, null, files(n.files), null, n.text]);
}

export type ExportItem = LoggedRun | LoggedNote | { unreadable: Unreadable };

function abortLine(format: 'ecs' | 'csv', message: string, unreadable?: Unreadable): string {
  return format === 'ecs' ? `${JSON.stringify({ ffaudit_export_error: message, ...(unreadable ? { unreadable } : {}) })}\n` : csvRow(['#ERROR', message]);
}

export async function exportResponse(c: Context<AppEnv>, db: Db, scope: Scope, q: ExportQuery): Promise<Response> {
  const it: AsyncGenerator<ExportItem> = q.type === 'run' ? streamRuns(db, scope, q.filter) : streamNotes(db, scope, q.filter);
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  const body = await exportStream(it, q, c.get('deps').log, outgoing instanceof ServerResponse ? () => drained(outgoing as ServerResponse) : undefined);
  return c.body(body, 200, {
    'Content-Type': q.format === 'ecs' ? 'application/x-ndjson; charset=utf-8' : 'text/csv; charset=utf-8; header=present',
    'Content-Disposition': `attachment; filename="ffaudit-${q.type}s.${q.format === 'ecs' ? 'ndjson' : 'csv'}"`,
    // Said outright, so that @hono/node-server sends the status line at once instead of reading ahead to size a
    // small body: the answer starts while the rest is still being read from the database.
    'Transfer-Encoding': 'chunked',
  });
}

/**
 * The export's body over a search stream: pulled only as the reader asks, ended by an abort line and an error when a
 * match is unreadable or the stream fails. The first item is read before this returns, so that a failure then is
 * still the request's own error status.
 */
export async function exportStream(
  it: AsyncGenerator<ExportItem>,
  q: Pick<ExportQuery, 'format' | 'type'>,
  log: (line: string) => void,
  flushed: () => Promise<void> = () => Promise.resolve(),
): Promise<ReadableStream<Uint8Array>> {
  const render = (x: LoggedRun | LoggedNote): string => {
    if (q.type === 'run') {
      const r = x as LoggedRun;
      return q.format === 'ecs' ? `${JSON.stringify(runToEcs(r, r.log))}\n` : runCsv(r);
    }
    const n = x as LoggedNote;
    return q.format === 'ecs' ? `${JSON.stringify(noteToEcs(n, n.log))}\n` : noteCsv(n);
  };
  // The first match is read before the status is sent, so a bad filter or an unreachable database still gets its
  // own status rather than a 200 cut short.
  let first: IteratorResult<ExportItem>;
  try {
    first = await it.next();
  } catch (e) {
    await it.return(undefined).catch(() => undefined);
    throw e;
  }
  if (!first.done && 'unreadable' in first.value) {
    const u = first.value.unreadable;
    await it.return(undefined).catch(() => undefined);
    throw new FfauditError('INTEGRITY', `export refused: entry ${u.index} of ${u.log} could not be read back as recorded: ${u.error}`);
  }
  const enc = new TextEncoder();
  let pending: IteratorResult<ExportItem> | undefined = first;
  let count = 0;
  let head = q.format === 'csv' ? csvRow(CSV_COLUMNS) : '';
  // Set when the export was cut short: the pull after the one that sent the abort line fails the stream. Not that
  // same pull: @hono/node-server reads the first chunk before it sends the status line, and a stream failing then
  // would become its own 500.
  let failed: string | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        if (failed !== undefined) {
          // The abort line must reach the client before the connection goes: destroying a socket drops what it had
          // not yet handed to the kernel. Then a plain one-line reason: @hono/node-server destroys the response with
          // it (no final chunk) and logs it.
          await flushed();
          ctl.error(failed);
          return;
        }
        let text = head;
        head = '';
        try {
          while (text.length < CHUNK_BYTES) {
            const r: IteratorResult<ExportItem> = pending ?? (await it.next());
            pending = undefined;
            if (r.done) {
              if (text) ctl.enqueue(enc.encode(text));
              ctl.close();
              return;
            }
            if ('unreadable' in r.value) {
              const u = r.value.unreadable;
              throw new ExportAborted(`entry ${u.index} of ${u.log} could not be read back as recorded: ${u.error}`, u);
            }
            text += render(r.value);
            count++;
          }
          ctl.enqueue(enc.encode(text));
        } catch (e) {
          const message = e instanceof ExportAborted ? e.message : e instanceof FfauditError ? e.message.split('\n')[0]! : 'the database failed during the export';
          log(`export aborted after ${count} ${q.type}s: ${message}`);
          ctl.enqueue(enc.encode(text + abortLine(q.format, `export aborted after ${count} ${q.type}s: ${message}`, e instanceof ExportAborted ? e.unreadable : undefined)));
          await it.return(undefined).catch(() => undefined);
          failed = `ffaudit export aborted: ${message}`;
        }
      },
      async cancel() {
        // The client went away: end the search stream, which gives its connection back to the pool.
        await it.return(undefined).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Resolves once `res` has handed everything written so far to the kernel (or in 10 s, or when it closed). */
async function drained(res: ServerResponse): Promise<void> {
  const until = Date.now() + 10_000;
  while (res.writableLength > 0 && !res.destroyed && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
}

class ExportAborted extends Error {
  constructor(
    message: string,
    readonly unreadable: Unreadable,
  ) {
    super(message);
  }
}
