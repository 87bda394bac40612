/**
 * The File page's body: what the logs know the bytes as, the lineage as a graph and as tables (the same facts, for
 * screen readers and for reading without the drawing), the runs that read the file, the custody notes naming any
 * content of the lineage, and for auditors the evidence downloads and the access history. Every recorded text is
 * shown through displayText (control characters and bidirectional overrides made visible) and escaped by JSX.
 */
import type { FC } from 'hono/jsx';
import type { FileRecord } from '../../../core/entry.js';
import type { Lineage, LineageRun, LineageSource } from '../../../lineage/walk.js';
import { displayText } from '../../../render/display-text.js';
import type { AccessView } from '../access-view.js';
import type { LaidOut } from '../graph.js';
import { Time } from '../layout.js';
import { AccessHistory } from '../access-history.js';
import { runHref } from './run-row.js';
import type { LineageNode } from './lineage-graph.js';
import { LineageSvg } from './lineage-svg.js';

export interface FileViewProps {
  lineage: Lineage;
  paths: string[];
  size: number | null;
  /** Null when the lineage has too many nodes to draw legibly (file.tsx MAX_DRAWN): the tables still list it all. */
  graph: LaidOut<LineageNode> | null;
  nodeCount: number;
  /** Present for auditors (and above) only: their downloads and the access history. */
  auditor: { access: readonly AccessView[] } | null;
}

const STATUS_BADGE: Record<string, string> = { ok: 'ok', failed: 'bad', terminated: 'warn', incomplete: 'warn' };

const BASIS: Record<string, string> = {
  signed: 'no audited run produced it (signed by the run that read it)',
  'index-checked': 'no audited run produced it (every log’s index checked)',
  unproven: 'no producer found (not proven)',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function sizeText(n: number): string {
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = '';
  for (const next of units) {
    if (v < 1000) break;
    v /= 1000;
    u = next;
  }
  return u === '' ? plural(n, 'byte') : `${v.toFixed(1)} ${u} (${n.toLocaleString('en')} bytes)`;
}

const FileRef: FC<{ f: FileRecord; self: string }> = ({ f, self }) =>
  f.sha256 === null ? (
    <span class="file-ref">{displayText(f.path)}</span>
  ) : f.sha256 === self ? (
    <strong class="file-ref">{displayText(f.path)}</strong>
  ) : (
    <a class="file-ref" href={`/file/${f.sha256}`}>
      {displayText(f.path)}
    </a>
  );

const Files: FC<{ files: readonly FileRecord[]; self: string }> = ({ files, self }) =>
  files.length === 0 ? (
    <span class="muted">—</span>
  ) : (
    <ul class="plain">
      {files.map((f) => (
        <li>
          <FileRef f={f} self={self} />
        </li>
      ))}
    </ul>
  );

const RunsTable: FC<{ runs: readonly LineageRun[]; self: string; caption: string; home: string }> = ({ runs, self, caption, home }) => (
  <div class="table-scroll">
    <table>
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Host</th>
          <th scope="col">By</th>
          <th scope="col">Started</th>
          <th scope="col">Status</th>
          <th scope="col">Read</th>
          <th scope="col">Wrote</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr>
            <th scope="row">
              <a href={runHref({ id: r.id, log: r.log ?? home, entries: r.entries })} class="mono">
                {r.id.slice(0, 12)}
              </a>
              <span class="muted"> {r.tool}</span>
            </th>
            <td>
              {displayText(r.host)}
              {r.log !== undefined && <span class="muted log-name"> {displayText(r.log)}</span>}
            </td>
            <td>
              {displayText(r.user)}
              {r.asserted_actor !== null && <span class="muted"> for {displayText(r.asserted_actor)}</span>}
            </td>
            <td>
              <Time iso={r.started_at} />
            </td>
            <td>
              <span class={`badge ${STATUS_BADGE[r.status] ?? 'neutral'}`}>{r.status}</span>
            </td>
            <td>
              <Files files={r.inputs} self={self} />
            </td>
            <td>
              <Files files={r.outputs} self={self} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

const Origins: FC<{ sources: readonly LineageSource[]; self: string }> = ({ sources, self }) => (
  <ul class="origins">
    {sources.map((s) => (
      <li>
        <FileRef f={s} self={self} />{' '}
        <span class="muted">{s.basis === null ? 'not a file: no content hash, nothing is claimed about it' : BASIS[s.basis]}</span>
      </li>
    ))}
  </ul>
);

/** A note's text keeps its lines; what else it holds that is not printable is made visible. */
const noteText = (t: string) => t.split('\n').map(displayText).join('\n');

const Notes: FC<{ lineage: Lineage }> = ({ lineage }) => (
  <ol class="notes">
    {lineage.notes.map((n) => (
      <li class="note card">
        <p class="note-meta">
          <Time iso={n.time} /> · {displayText(n.by.user)} on {displayText(n.by.host)}
          {n.log !== undefined && <span class="muted"> · log {displayText(n.log)}</span>}
        </p>
        <p class="note-text">{noteText(n.text)}</p>
        {n.files.length > 0 && (
          <p class="note-files">
            <span class="muted">Names: </span>
            {n.files.map((f, i) => (
              <>
                {i > 0 && ', '}
                <FileRef f={f} self={lineage.file.sha256} />
              </>
            ))}
          </p>
        )}
      </li>
    ))}
  </ol>
);

export const FileView: FC<FileViewProps> = ({ lineage: l, paths, size, graph, nodeCount, auditor }) => {
  const sha = l.file.sha256;
  const producers = l.runs.filter((r) => r.outputs.some((o) => o.sha256 === sha));
  const logs = new Set([...l.runs, ...l.readBy].map((r) => r.log ?? l.log));
  const shownPaths = paths.map(displayText);
  return (
    <>
      <header class="file-head">
        <p class="eyebrow">
          <a href="/file">Files</a>
        </p>
        <h1>{shownPaths[0] ?? 'A file with no recorded name'}</h1>
        <p class="hash file-sha">sha256:{sha}</p>
      </header>

      <div class="file-top">
        <section class="card" aria-labelledby="facts-heading">
          <h2 id="facts-heading">What the logs record</h2>
          <dl class="facts">
            <dt>Known as</dt>
            <dd>
              {shownPaths.length === 0 ? (
                <span class="muted">no recorded name</span>
              ) : (
                <ul class="plain">
                  {shownPaths.map((p) => (
                    <li>
                      <code>{p}</code>
                    </li>
                  ))}
                </ul>
              )}
            </dd>
            <dt>Size</dt>
            <dd>{size === null ? <span class="muted">not recorded</span> : sizeText(size)}</dd>
            <dt>Produced by</dt>
            <dd>{producers.length === 0 ? <span class="muted">no audited run</span> : plural(producers.length, 'run')}</dd>
            <dt>Lineage</dt>
            <dd>
              {plural(l.runs.length, 'run')} in {plural(logs.size, 'log')}, from {plural(l.sources.length, 'origin')}
            </dd>
            <dt>Read by</dt>
            <dd>{plural(l.readBy.length, 'run')}</dd>
            <dt>Custody notes</dt>
            <dd>{plural(l.notes.length, 'note')}</dd>
          </dl>
        </section>
        {auditor && (
          <section class="card evidence" aria-labelledby="evidence-heading">
            <h2 id="evidence-heading">Evidence</h2>
            <p class="muted">Signed entries with their inclusion proofs and each log's checkpoint: anyone can check them offline with the hosts' public keys.</p>
            <form method="get" action={`/file/${sha}/bundle`} class="stack" id="bundle-form">
              <div class="check">
                <input type="checkbox" id="with-reports" name="with_reports" value="true" />
                <label for="with-reports">Include FFmpeg's reports of the runs</label>
              </div>
              <button type="submit" class="primary" id="download-bundle">
                Download evidence bundle
              </button>
            </form>
            <p>
              <a class="button" href={`/file/${sha}/report`} id="download-report">
                Download chain-of-custody report
              </a>
            </p>
            <p class="muted small">
              Check a bundle with <code>ffaudit verify-bundle BUNDLE --file THE-FILE --pubkey HOST.vkey …</code> (one key per host).
            </p>
          </section>
        )}
      </div>

      <section aria-labelledby="graph-heading" class="file-section">
        <h2 id="graph-heading">Lineage graph</h2>
        {graph === null ? (
          <p class="muted" id="lineage-graph-too-large">
            This lineage has {nodeCount} files and runs: too many to draw legibly. The tables below list every step.
          </p>
        ) : (
          <>
            <p class="legend muted" aria-hidden="true">
              <span class="key key-file"></span> file <span class="key key-current"></span> this file <span class="key key-run"></span> audited run{' '}
              <span class="key key-source"></span> origin without a hash · arrows point from what was read to what was written
            </p>
            <div class="graph-scroll" id="lineage-graph" tabindex={0} role="region" aria-label="The drawing, scrollable">
              <LineageSvg graph={graph} label={`Lineage of ${shownPaths[0] ?? `sha256:${sha}`}: ${plural(graph.nodes.length, 'node')}`} />
            </div>
          </>
        )}
      </section>

      <section aria-labelledby="steps-heading" class="file-section">
        <h2 id="steps-heading">Lineage, step by step</h2>
        {l.runs.length === 0 ? (
          <p class="muted">No audited run produced these bytes: they entered the audited world as they are.</p>
        ) : (
          <RunsTable home={l.log} runs={l.runs} self={sha} caption="The runs of the lineage, oldest first: the last one wrote this file" />
        )}
        {l.sources.length > 0 && (
          <>
            <h3>Origins</h3>
            <Origins sources={l.sources} self={sha} />
          </>
        )}
      </section>

      <section aria-labelledby="readers-heading" class="file-section">
        <h2 id="readers-heading">Read by</h2>
        {l.readBy.length === 0 ? (
          <p class="muted">No audited run read these bytes.</p>
        ) : (
          <RunsTable home={l.log} runs={l.readBy} self={sha} caption="The runs that read this file, oldest first" />
        )}
      </section>

      <section aria-labelledby="notes-heading" class="file-section">
        <h2 id="notes-heading">Custody notes</h2>
        {l.notes.length === 0 ? <p class="muted">No custody note names this file or its lineage.</p> : <Notes lineage={l} />}
      </section>

      {auditor && <AccessHistory events={auditor.access} />}
    </>
  );
};
