/**
 * One run as a row of the Runs table, rendered on the server and, for live updates, sent as JSON to live-runs.js,
 * which builds the same row with textContent. One view model for both, so a live row is the row a reload shows.
 */
import type { FC } from 'hono/jsx';
import { parseTimeNs } from '../../../time/time.js';
import type { Cursor, LoggedRun } from '../../search/types.js';
import { Time } from '../layout.js';
import { baseName, displayText } from '../../../render/display-text.js';

export interface RunRowView {
  id: string;
  log: string;
  href: string;
  /** started_at as recorded (RFC 3339 UTC). */
  time: string;
  host: string;
  user: string;
  tool: string;
  status: string;
  /** Inputs → outputs, short: the first file's name and how many more. */
  inputs: string;
  outputs: string;
}

const STATUS_BADGE: Record<string, 'ok' | 'bad' | 'warn'> = { ok: 'ok', failed: 'bad', terminated: 'bad', incomplete: 'warn' };
export const statusBadge = (status: string): string => `badge ${STATUS_BADGE[status] ?? 'neutral'}`;

function shortFiles(files: readonly { path: string }[]): string {
  if (files.length === 0) return '—';
  const first = displayText(baseName(files[0]!.path));
  return files.length === 1 ? first : `${first} +${files.length - 1}`;
}

/**
 * A run's page: by its id in its log, or by its start entry when the recorded id is not one the page takes (6 to 32
 * hex digits: another version's or a hostile ledger's), so every run listed anywhere can be opened.
 */
export const runHref = (r: { id: string; log: string; entries: readonly number[] }): string =>
  `/runs/${/^[0-9a-f]{6,32}$/.test(r.id) ? r.id : String(r.entries[0])}?log=${encodeURIComponent(r.log)}`;

export function runRowView(r: LoggedRun): RunRowView {
  return {
    id: r.id,
    log: r.log,
    href: runHref(r),
    time: r.started_at,
    host: displayText(r.host),
    user: displayText(r.user),
    tool: r.tool,
    status: r.status,
    inputs: shortFiles(r.inputs),
    outputs: shortFiles(r.outputs),
  };
}

/** The order key of a run in a search (search/query.ts): its start time, its log's host id, its start index. */
export function runKey(r: LoggedRun, hostIdOf: ReadonlyMap<string, number>): Cursor | undefined {
  const timeNs = parseTimeNs(r.started_at);
  const hostId = hostIdOf.get(r.log);
  if (timeNs === null || hostId === undefined) return undefined;
  return { timeNs, hostId, index: r.entries[0]! };
}

export const RunRow: FC<{ r: RunRowView }> = ({ r }) => (
  <tr data-run={`${r.log}\n${r.id}`}>
    <td>
      <Time iso={r.time} />
    </td>
    <td>
      <bdi>{r.host}</bdi>
    </td>
    <td>
      <bdi>{r.user}</bdi>
    </td>
    <td>{r.tool}</td>
    <td>
      <span class={statusBadge(r.status)}>{r.status}</span>
    </td>
    <td class="flow">
      <bdi>{r.inputs}</bdi> <span aria-label="to">→</span> <bdi>{r.outputs}</bdi>
    </td>
    <td>
      <a href={r.href} class="hash">
        {r.id.slice(0, 12)}
      </a>
    </td>
  </tr>
);

export const RunsTable: FC<{ rows: readonly RunRowView[]; caption: string }> = ({ rows, caption }) => (
  <table class="runs">
    <caption class="visually-hidden">{caption}</caption>
    <thead>
      <tr>
        <th scope="col">Started</th>
        <th scope="col">Host</th>
        <th scope="col">User</th>
        <th scope="col">Tool</th>
        <th scope="col">Status</th>
        <th scope="col">Inputs → outputs</th>
        <th scope="col">Run</th>
      </tr>
    </thead>
    <tbody id="run-rows">
      {rows.map((r) => (
        <RunRow r={r} />
      ))}
    </tbody>
  </table>
);
