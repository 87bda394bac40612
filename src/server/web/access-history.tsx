/**
 * "Who looked at this evidence, and when", as the Run and File pages show it to auditors: one row per access event
 * (access-view.ts), newest first, each with where it is provable (its entry in the access log). Every value comes
 * from a ledger entry and is shown as text (hono's JSX escapes it), isolated from the text around it (<bdi>), so a
 * right-to-left override in a user name cannot reorder the row.
 */
import type { FC } from 'hono/jsx';
import { displayText as shown } from '../../render/display-text.js';
import type { AccessView } from './access-view.js';
import { Time } from './layout.js';

/** What each action is in words; any other (a later version's) is shown as recorded. A Map: an action is entry text. */
const ACTIONS: ReadonlyMap<string, string> = new Map([
  ['view.run', 'Viewed the run'],
  ['view.file', 'Viewed the file'],
  ['view.report', "Viewed FFmpeg's report"],
  ['download.receipt', 'Downloaded a receipt'],
  ['download.bundle', 'Downloaded an evidence bundle'],
  ['download.report', 'Downloaded a custody report'],
  ['download.export', 'Downloaded an export'],
  ['search', 'Searched'],
]);

const Where: FC<{ e: AccessView }> = ({ e }) => (
  <td>
    entry {e.index} of log{' '}
    <bdi class="mono">{shown(e.log)}</bdi>
  </td>
);

export const AccessHistory: FC<{ events: readonly AccessView[] }> = ({ events }) => (
  <section class="access-history" aria-labelledby="access-history-title">
    <h2 id="access-history-title">Access history</h2>
    {events.length === 0 ? (
      <p class="muted">No one has viewed or downloaded this through the server yet.</p>
    ) : (
      <table>
        <caption class="visually-hidden">Who viewed or downloaded this, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">Via</th>
            <th scope="col">Client</th>
            <th scope="col">Recorded as</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) =>
            e.problem !== undefined ? (
              <tr class="unreadable">
                <td colspan={5}>
                  <span class="badge bad">Unreadable</span> <bdi>{shown(e.problem)}</bdi>
                </td>
                <Where e={e} />
              </tr>
            ) : (
              <tr>
                <td>
                  <Time iso={e.time} />
                </td>
                <td>
                  <bdi>{shown(e.user)}</bdi>
                </td>
                <td>{ACTIONS.get(e.action) ?? <bdi class="mono">{shown(e.action)}</bdi>}</td>
                <td>{e.via === 'api' ? 'API' : 'Web'}</td>
                <td class="mono">{e.client === null ? <span class="muted">unknown</span> : <bdi>{shown(e.client)}</bdi>}</td>
                <Where e={e} />
              </tr>
            ),
          )}
        </tbody>
      </table>
    )}
  </section>
);
