/**
 * The Overview, /: every mirrored log and whether it verifies (search/state.ts logStates, as GET /api/v1/logs): the
 * last checkpoint the witness cosigned and its age, the entries the mirror still lacks, when the host last pushed,
 * checkpoints refused as evidence, and the last re-verification of the mirrored entries. A log that needs attention
 * says why in words. The servers' own access logs are listed apart: they hold who looked at what, not runs.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { DEFAULT_SILENT_AFTER_MS } from '../../deps.js';
import { logStates } from '../../search/state.js';
import type { LogState } from '../../search/types.js';
import { Time } from '../layout.js';
import { renderPage } from '../render.js';
import { requireWebRole } from '../session.js';
import { accessLogOrigins } from './log-kinds.js';
import { ALL_LOGS } from './scope.js';
import { displayText } from '../../../render/display-text.js';

type Verdict = { badge: 'ok' | 'warn' | 'bad' | 'neutral'; label: string; problems: string[] };

/** What a log's state means for people, worst first. */
export function verdictOf(l: LogState): Verdict {
  const bad: string[] = [];
  const warn: string[] = [];
  const { equivocation, unproven, contradicted } = l.conflicts;
  if (equivocation > 0) bad.push(`signed two different checkpoints for one size (${equivocation} ${equivocation === 1 ? 'time' : 'times'})`);
  if (contradicted > 0) bad.push(`presented ${contradicted} checkpoint${contradicted === 1 ? '' : 's'} that contradict what was cosigned`);
  if (unproven > 0) bad.push(`presented ${unproven} checkpoint${unproven === 1 ? '' : 's'} without a valid consistency proof`);
  if (l.lastCheck && !l.lastCheck.ok) bad.push(`the last re-verification found problems: ${l.lastCheck.problems.slice(0, 3).map(displayText).join('; ') || 'see the server log'}`);
  if (l.status === 'disabled') warn.push('disabled: the host can no longer push');
  if (l.silent) warn.push(l.lastPushAt === null ? 'has never pushed' : 'has not pushed for longer than the server allows');
  if (l.lag > 0) warn.push(`the mirror lacks ${l.lag} cosigned entr${l.lag === 1 ? 'y' : 'ies'}`);
  if (l.cosigned === null) warn.push('no checkpoint cosigned yet');
  if (bad.length > 0) return { badge: 'bad', label: 'Problem', problems: [...bad, ...warn] };
  if (warn.length > 0) return { badge: l.status === 'disabled' ? 'neutral' : 'warn', label: l.status === 'disabled' ? 'Disabled' : 'Attention', problems: warn };
  return { badge: 'ok', label: 'Verified', problems: [] };
}

/** How long ago, in words, from two times in milliseconds. */
export function ageText(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

const LogTable: FC<{ logs: readonly LogState[]; caption: string; now: number }> = ({ logs, caption, now }) => (
  <table class="logs">
    <caption class="visually-hidden">{caption}</caption>
    <thead>
      <tr>
        <th scope="col">Host</th>
        <th scope="col">State</th>
        <th scope="col">Entries</th>
        <th scope="col">Last cosigned checkpoint</th>
        <th scope="col">Last push</th>
        <th scope="col">Last re-verification</th>
      </tr>
    </thead>
    <tbody>
      {logs.map((l) => {
        const v = verdictOf(l);
        return (
          <tr>
            <th scope="row">
              <a href={`/runs?host=${encodeURIComponent(l.host)}`}>
                <bdi>{displayText(l.host)}</bdi>
              </a>
              <div class="muted mono small">{displayText(l.origin)}</div>
            </th>
            <td>
              <span class={`badge ${v.badge}`}>{v.label}</span>
              {v.problems.length > 0 && (
                <ul class="problems">
                  {v.problems.map((p) => (
                    <li>{p}</li>
                  ))}
                </ul>
              )}
            </td>
            <td class="num">
              {l.size.toLocaleString('en-US')}
              {l.lag > 0 && <div class="muted small">{l.lag} behind</div>}
            </td>
            <td>
              {l.cosigned === null ? (
                <span class="muted">none yet</span>
              ) : (
                <>
                  size {l.cosigned.size.toLocaleString('en-US')}, {ageText(Date.parse(l.cosigned.at), now)}
                  <div class="small">
                    <Time iso={l.cosigned.at} />
                  </div>
                </>
              )}
            </td>
            <td>{l.lastPushAt === null ? <span class="muted">never</span> : <Time iso={l.lastPushAt} />}</td>
            <td>
              {l.lastCheck === null ? (
                <span class="muted">not yet</span>
              ) : (
                <>
                  <span class={`badge ${l.lastCheck.ok ? 'ok' : 'bad'}`}>{l.lastCheck.ok ? 'passed' : 'failed'}</span> at size {l.lastCheck.size.toLocaleString('en-US')}
                  <div class="small">
                    <Time iso={l.lastCheck.at} />
                  </div>
                </>
              )}
            </td>
          </tr>
        );
      })}
    </tbody>
  </table>
);

export function overviewRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  app.get('/', requireWebRole('viewer'), async (c) => {
    const all = await logStates(deps.db, ALL_LOGS, { silentAfterMs: deps.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS });
    const access = await accessLogOrigins(deps.db);
    const hosts = all.filter((l) => !access.has(l.origin));
    const own = all.filter((l) => access.has(l.origin));
    const verdicts = hosts.map(verdictOf);
    const count = (b: Verdict['badge']) => verdicts.filter((v) => v.badge === b).length;
    const now = Date.now();
    return renderPage(
      c,
      { title: 'Overview', nav: 'overview' },
      <>
        <h1>Overview</h1>
        <div class="summary grid">
          <div class="card stat">
            <span class="stat-n">{hosts.length}</span> host log{hosts.length === 1 ? '' : 's'} mirrored
          </div>
          <div class="card stat">
            <span class="stat-n ok-text">{count('ok')}</span> verified
          </div>
          <div class="card stat">
            <span class="stat-n warn-text">{count('warn') + count('neutral')}</span> need attention
          </div>
          <div class="card stat">
            <span class="stat-n bad-text">{count('bad')}</span> with problems
          </div>
        </div>
        <section aria-labelledby="hosts-h">
          <h2 id="hosts-h">Hosts' logs</h2>
          {hosts.length === 0 ? (
            <p class="card empty">No host has joined this server yet. An administrator adds one with <code>ffaudit serve hosts add NAME</code>.</p>
          ) : (
            <LogTable logs={hosts} caption="Every host's log and whether it verifies" now={now} />
          )}
        </section>
        {own.length > 0 && (
          <section aria-labelledby="access-logs-h">
            <h2 id="access-logs-h">Access logs of this server</h2>
            <p class="muted">Each server process records who signed in, searched, viewed and downloaded evidence in a log of its own, mirrored and verified like a host's.</p>
            <LogTable logs={own} caption="The server's own access logs" now={now} />
          </section>
        )}
      </>,
    );
  });
}
