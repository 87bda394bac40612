/**
 * Who looked at this run, for auditors: a plain table of accessEvents (access-view.ts). It stands in for the shared
 * AccessHistory component of the File page and is meant to be replaced by it.
 */
import type { FC } from 'hono/jsx';
import type { AccessView } from '../access-view.js';
import { Time } from '../layout.js';
import { displayText } from '../../../render/display-text.js';

export const RunAccessHistory: FC<{ events: readonly AccessView[] }> = ({ events }) => (
  <section aria-labelledby="access-h">
    <h2 id="access-h">Access history</h2>
    {events.length === 0 ? (
      <p class="muted">No one has viewed or downloaded this run's evidence yet, as far as this server's access logs record.</p>
    ) : (
      <table>
        <caption class="visually-hidden">Who viewed or downloaded this run, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">Via</th>
            <th scope="col">Recorded in</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr>
              <td>
                <Time iso={e.time} />
              </td>
              <td>
                <bdi>{displayText(e.user)}</bdi>
                {e.client !== null && <span class="muted"> from {displayText(e.client)}</span>}
              </td>
              <td>{displayText(e.action)}</td>
              <td>{e.via}</td>
              <td class="mono">
                {displayText(e.log)} #{e.index}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
);
