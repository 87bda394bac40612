/**
 * Who looked at this file, for auditors: the access log's events naming it (access-view.ts), newest first. One small
 * component so that the shared access history of the Run and File pages can take its place.
 */
import type { FC } from 'hono/jsx';
import { displayText } from '../../../render/display-text.js';
import type { AccessView } from '../access-view.js';
import { Time } from '../layout.js';

export const FileAccess: FC<{ events: readonly AccessView[] }> = ({ events }) => (
  <section aria-labelledby="access-heading" class="file-section">
    <h2 id="access-heading">Access history</h2>
    {events.length === 0 ? (
      <p class="muted">No access to this file is recorded.</p>
    ) : (
      <table>
        <caption class="visually-hidden">Who viewed or downloaded this file's evidence, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">From</th>
            <th scope="col">Recorded at</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr>
              <td>
                <Time iso={e.time} />
              </td>
              <td>{displayText(e.user)}</td>
              <td>
                <code>{e.action}</code> <span class="muted">({e.via})</span>
              </td>
              <td>{e.client === null ? '—' : displayText(e.client)}</td>
              <td class="hash">
                {displayText(e.log)} #{e.index}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
);
