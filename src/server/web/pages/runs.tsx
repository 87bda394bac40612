/**
 * The Runs page, /runs: the search of GET /api/v1/runs (the same parameters, parsed by the same parser, answered by
 * the same search function) as a filter form and a table, newest first, paged with the API's opaque cursor. Hits
 * whose entries cannot be read back as recorded are listed as such above the table, never left out. Auditors get the
 * CSV and ECS exports of the same filter (/runs/export). The newest page is kept up to date by live-runs.js over
 * /runs/events (runs-events.ts); without JavaScript it is a plain page and a reload shows the same.
 */
import type { Hono } from 'hono';
import type { Child } from 'hono/jsx';
import { parseExportQuery, parseRunsQuery } from '../../api/filters.js';
import { exportResponse } from '../../api/export.js';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { encodeCursor } from '../../search/cursor.js';
import { searchRuns } from '../../search/query.js';
import type { LoggedRun, Page, Unreadable } from '../../search/types.js';
import { renderPage } from '../render.js';
import { queryText, recordAccess } from '../request.js';
import { atLeast, requireWebRole, webUser } from '../session.js';
import { runHostNames } from './log-kinds.js';
import { runKey, runRowView, RunsTable } from './run-row.js';
import { canonicalQuery, filtersOf, hasFilter, withQuery } from './runs-query.js';
import { runsEvents } from './runs-events.js';
import { ALL_LOGS, hostIds } from './scope.js';
import { displayText } from '../../../render/display-text.js';

const STATUSES = ['ok', 'failed', 'incomplete', 'terminated'] as const;

const Field = (p: { id: string; label: string; hint?: string; children: Child }) => (
  <div class="field">
    <label for={p.id}>{p.label}</label>
    {p.children}
    {p.hint && (
      <span class="hint" id={`${p.id}-hint`}>
        {p.hint}
      </span>
    )}
  </div>
);

function FilterForm(p: { q: URLSearchParams; hosts: readonly string[] }) {
  const v = (k: string) => p.q.get(k) ?? '';
  const statuses = new Set(v('status').split(','));
  return (
    <form method="get" action="/runs" class="card filters" aria-label="Filter runs">
      <div class="row">
        <Field id="f-host" label="Host">
          <select id="f-host" name="host">
            <option value="">All hosts</option>
            {p.hosts.map((h) => (
              <option value={h} selected={h === v('host')}>
                {displayText(h)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-user" label="User">
          <input id="f-user" name="user" value={v('user')} autocomplete="off" />
        </Field>
        <Field id="f-tool" label="Tool">
          <select id="f-tool" name="tool">
            <option value="">Any</option>
            {['ffmpeg', 'ffprobe'].map((t) => (
              <option value={t} selected={t === v('tool')}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-since" label="From (UTC)" hint="2026-12-01 or 2026-12-01 09:30">
          <input id="f-since" name="since" value={v('since')} aria-describedby="f-since-hint" autocomplete="off" />
        </Field>
        <Field id="f-until" label="To (UTC)" hint="inclusive; a date means the whole day">
          <input id="f-until" name="until" value={v('until')} aria-describedby="f-until-hint" autocomplete="off" />
        </Field>
      </div>
      <div class="row">
        <Field id="f-q" label="Command words" hint="text in the command, paths or reason">
          <input id="f-q" name="q" value={v('q')} aria-describedby="f-q-hint" autocomplete="off" />
        </Field>
        <Field id="f-sha256" label="File SHA-256">
          <input id="f-sha256" name="sha256" value={v('sha256')} class="mono" size={40} autocomplete="off" spellcheck={false} />
        </Field>
        <Field id="f-path" label="File path starts with">
          <input id="f-path" name="path" value={v('path')} autocomplete="off" spellcheck={false} />
        </Field>
      </div>
      <div class="row">
        <fieldset class="statuses">
          <legend>Status</legend>
          {STATUSES.map((s) => (
            <span class="check">
              <input type="checkbox" id={`f-status-${s}`} name="status" value={s} checked={statuses.has(s)} />
              <label for={`f-status-${s}`}>{s}</label>
            </span>
          ))}
        </fieldset>
        {p.q.getAll('log').map((l) => (
          <input type="hidden" name="log" value={l} />
        ))}
        {p.q.has('actor') && <input type="hidden" name="actor" value={v('actor')} />}
        {p.q.has('limit') && <input type="hidden" name="limit" value={v('limit')} />}
        <div class="actions">
          <button type="submit" class="primary">
            Search
          </button>
          <a href="/runs" class="button">
            Clear
          </a>
        </div>
      </div>
    </form>
  );
}

function Unreadables({ list }: { list: readonly Unreadable[] }) {
  if (list.length === 0) return null;
  return (
    <section class="card unreadable" aria-labelledby="unreadable-h">
      <h2 id="unreadable-h">
        <span class="badge bad">Unreadable</span> {list.length === 1 ? '1 match' : `${list.length} matches`} on this page could not be read back as recorded
      </h2>
      <p class="muted">The index points at these entries, but their stored bytes do not check out. They are listed, not hidden: report them to whoever runs this server.</p>
      <ul>
        {list.map((u) => (
          <li>
            <span class="mono">{displayText(u.log)}</span> entry {u.index}
            {u.id !== null && (
              <>
                {' '}
                (run <span class="mono">{displayText(u.id)}</span>)
              </>
            )}
            : {displayText(u.error)}
          </li>
        ))}
      </ul>
    </section>
  );
}

const totalText = (p: Page<LoggedRun>): string => (p.total === null ? 'More than 10,000 runs' : p.total === 1 ? '1 run' : `${p.total.toLocaleString('en-US')} runs`);

export function runsRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const { db } = deps;

  app.get('/runs', requireWebRole('viewer'), async (c) => {
    const given = new URL(c.req.url).searchParams;
    const q = canonicalQuery(given);
    if (q.toString() !== given.toString()) return c.redirect(withQuery('/runs', q), 303);
    const { filter, page } = parseRunsQuery(q);
    // A filtered or paged view is a search of the evidence, recorded before anything of it is sent.
    if (q.size > 0) await recordAccess(c, { action: 'search', query: queryText(q) });
    const result = await searchRuns(db, ALL_LOGS, filter, page);
    const hosts = await runHostNames(db);
    const filters = filtersOf(q);
    const rows = result.items.map(runRowView);
    // Live only where new runs would show: the first page, newest first.
    const live = page.after === undefined && page.order === 'desc';
    const ids = live ? await hostIds(db) : undefined;
    const newest = result.items[0] && ids ? runKey(result.items[0], ids) : undefined;
    const events = new URLSearchParams(filters);
    events.set('after', newest ? encodeCursor(newest) : 'start');
    const auditor = atLeast(webUser(c).role, 'auditor');
    const older = result.next && new URLSearchParams(q);
    older?.set('cursor', encodeCursor(result.next!));
    return renderPage(
      c,
      { title: 'Runs', nav: 'runs', scripts: live ? ['live-runs.js'] : [] },
      <>
        <div class="page-head">
          <h1>Runs</h1>
          {auditor && (
            <p class="exports">
              Export all matches: <a href={withQuery('/runs/export', new URLSearchParams([['format', 'csv'], ...filters]))}>CSV</a> ·{' '}
              <a href={withQuery('/runs/export', new URLSearchParams([['format', 'ecs'], ...filters]))}>ECS (NDJSON)</a>
            </p>
          )}
        </div>
        <FilterForm q={q} hosts={hosts} />
        <Unreadables list={result.unreadable} />
        <div class="results-head">
          <p class="total" id="runs-total">
            {totalText(result)}
            {hasFilter(q) ? (result.total === 1 ? ' matches this filter' : ' match this filter') : ''}
            {page.after !== undefined ? ' (an older page)' : ''}
          </p>
          {live && (
            <p class="live" id="live-status" data-events={withQuery('/runs/events', events)} aria-live="polite">
              New runs appear here as hosts push them (needs JavaScript); otherwise reload.
            </p>
          )}
        </div>
        {rows.length === 0 && result.unreadable.length === 0 ? (
          <p class="card empty" id="runs-empty">
            No run matches{hasFilter(q) ? ' this filter' : ' yet: runs appear once a host has pushed its log'}.
          </p>
        ) : null}
        <RunsTable rows={rows} caption="Runs, newest first" />
        <nav class="pager" aria-label="Pages">
          {page.after !== undefined && <a href={withQuery('/runs', new URLSearchParams([...q].filter(([k]) => k !== 'cursor')))}>Newest</a>}
          {older && (
            <a href={withQuery('/runs', older)} rel="next" class="button">
              Older runs
            </a>
          )}
        </nav>
      </>,
    );
  });

  app.get('/runs/export', requireWebRole('auditor'), async (c) => {
    const given = new URL(c.req.url).searchParams;
    const q = parseExportQuery(given);
    await recordAccess(c, { action: 'download.export', query: queryText(given) });
    return exportResponse(c, db, ALL_LOGS, q);
  });

  app.get('/runs/events', requireWebRole('viewer'), (c) => runsEvents(c, db));
}
