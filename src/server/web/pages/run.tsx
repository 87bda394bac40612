/**
 * The Run page, /runs/:ref (an id, a unique prefix of one, or with ?log= an entry index: search/query.ts
 * findRunAcross): who ran what, where and when, the redacted command, the files with their hashes, the streams and
 * the outcome; in words, which cosigned checkpoint includes the run; its receipts to download (/runs/:ref/receipt,
 * with the entry's bytes at /runs/:ref/entry), and for auditors FFmpeg's report (/runs/:ref/report) and who looked
 * at the run. Every value shown comes from the run's mirrored entries, rebuilt and checked by the search functions.
 */
import type { Context, Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { parseEntry } from '../../../core/entry.js';
import type { Redaction } from '../../../core/entry.js';
import { FfauditError } from '../../../core/errors.js';
import type { InputRecord } from '../../../core/run.js';
import { runCommandLine } from '../../../render/shell-quote.js';
import { parseRunQuery } from '../../api/filters.js';
import type { AppEnv, ServerDeps } from '../../deps.js';
import { mirrorEvidence } from '../../search/evidence.js';
import { findRunAcross } from '../../search/query.js';
import type { LoggedRun } from '../../search/types.js';
import { accessEvents } from '../access-view.js';
import { Time } from '../layout.js';
import { renderPage } from '../render.js';
import { recordAccess } from '../request.js';
import { atLeast, requireWebRole, webUser } from '../session.js';
import { AccessHistory } from '../access-history.js';
import { entryOf, runEvidence, type RunEvidence } from './run-evidence.js';
import { runHref, statusBadge } from './run-row.js';
import { ALL_LOGS } from './scope.js';
import { displayText } from '../../../render/display-text.js';

/** A run by reference: an id, a unique prefix of at least 6 hexadecimal digits of it, or (with the log) an entry index. */
function findRun(c: Context<AppEnv>, log: string | undefined): Promise<LoggedRun> {
  const ref = c.req.param('ref') ?? '';
  if (!/^[0-9a-fA-F]{6,32}$/.test(ref) && !(log !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(ref))) {
    throw new FfauditError('NOT_FOUND', 'a run is named by its id, a prefix of at least 6 hexadecimal digits of it, or an entry index with ?log=');
  }
  return findRunAcross(c.get('deps').db, ALL_LOGS, ref.toLowerCase(), log);
}

/** The query of the receipt, entry and report routes: the run's log, and which entry. */
function evidenceQuery(c: Context<AppEnv>): { log?: string; entry?: string } {
  const search = new URL(c.req.url).searchParams;
  const entry = search.getAll('entry');
  search.delete('entry');
  if (entry.length > 1) throw new FfauditError('USAGE', 'entry: given more than once');
  return { ...parseRunQuery(search), ...(entry[0] !== undefined ? { entry: entry[0] } : {}) };
}

function bytesText(n: number | null): string {
  if (n === null) return '—';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u < 0 ? `${n.toLocaleString('en-US')} bytes` : `${v.toFixed(1)} ${units[u]} (${n.toLocaleString('en-US')} bytes)`;
}

function durationText(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The redactions of the run's entries (start and end), read from the entries' bytes as the receipts hand them out. */
function redactionsOf(ev: RunEvidence | null): Redaction[] {
  const out: Redaction[] = [];
  for (const e of ev?.entries ?? []) {
    const r: unknown = parseEntry(e.data).redactions;
    if (!Array.isArray(r)) continue;
    for (const x of r as unknown[]) {
      const ok = typeof x === 'object' && x !== null && typeof (x as Redaction).where === 'string' && typeof (x as Redaction).kind === 'string';
      if (ok && !out.some((y) => y.where === (x as Redaction).where && y.kind === (x as Redaction).kind)) out.push(x as Redaction);
    }
  }
  return out;
}

const Hash: FC<{ sha256: string | null }> = ({ sha256 }) =>
  sha256 === null ? (
    <span class="muted">not hashed</span>
  ) : (
    <a href={`/file/${sha256}`} class="hash">
      {sha256}
    </a>
  );

const Files: FC<{ title: string; id: string; files: readonly InputRecord[]; log: string }> = ({ title, id, files, log }) => (
  <section aria-labelledby={id}>
    <h2 id={id}>{title}</h2>
    {files.length === 0 ? (
      <p class="muted">None recorded.</p>
    ) : (
      <table class="files">
        <thead>
          <tr>
            <th scope="col">Path</th>
            <th scope="col">Size</th>
            <th scope="col">SHA-256</th>
          </tr>
        </thead>
        <tbody>
          {files.map((f) => (
            <tr>
              <td class="path">
                <bdi>{displayText(f.path)}</bdi>
                {f.changed_during_run && (
                  <>
                    {' '}
                    <span class="badge bad">changed while read</span>
                  </>
                )}
                {f.error !== undefined && <div class="muted">{displayText(f.error)}</div>}
                {f.produced_by !== undefined && typeof f.produced_by === 'object' && (
                  <div>
                    <a href={`/runs/${f.produced_by.index}?log=${encodeURIComponent(log)}`}>produced by the run ending at entry {f.produced_by.index}</a>
                  </div>
                )}
                {f.produced_by === 'none' && <div class="muted">no earlier run of this log produced these bytes</div>}
              </td>
              <td class="num">{bytesText(f.size)}</td>
              <td>
                <Hash sha256={f.sha256} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
);

const Streams: FC<{ run: LoggedRun }> = ({ run }) =>
  run.streams.length === 0 ? null : (
    <section aria-labelledby="streams-h">
      <h2 id="streams-h">Streams</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Stream</th>
            <th scope="col">Type</th>
            <th scope="col">Codec</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {run.streams.map((s) => (
            <tr>
              <td class="mono">
                {s.direction} #{s.file}:{s.stream}
              </td>
              <td>{displayText(s.type)}</td>
              <td>{s.codec === null ? '—' : displayText(s.codec)}</td>
              <td>
                {[s.width !== undefined && s.height !== undefined ? `${s.width}×${s.height}` : '', s.duration !== undefined ? displayText(s.duration) : '', s.bitrate_kbps !== undefined ? `${s.bitrate_kbps} kb/s` : '', s.detail !== undefined ? displayText(s.detail) : '']
                  .filter((x) => x !== '')
                  .join(' · ') || '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );

const fileBase = (run: LoggedRun, which: 'start' | 'end') => `run-${run.id.slice(0, 12)}-${which}`;

const Evidence: FC<{ run: LoggedRun; ev: RunEvidence | null; serverName: string }> = ({ run, ev, serverName }) => {
  const href = (path: string, which: 'start' | 'end') => `${runHref(run).replace('?', `/${path}?`)}&entry=${which}`;
  if (ev === null) {
    return (
      <section class="card evidence" aria-labelledby="evidence-h">
        <h2 id="evidence-h">Proof of record</h2>
        <p>
          <span class="badge warn">Pending</span> No checkpoint this server has cosigned includes this run yet: its entries are mirrored, and a receipt can be given once the host pushes a checkpoint that covers them.
        </p>
      </section>
    );
  }
  const failed = ev.entries.filter((e) => e.failure !== null);
  const span = ev.entries.length === 1 ? `Entry ${ev.entries[0]!.index}` : `Entries ${ev.entries[0]!.index}–${ev.entries[ev.entries.length - 1]!.index}`;
  const witness = ev.cosigned.find((s) => s.role === 'witness');
  const mirror = ev.cosigned.find((s) => s.role === 'mirror');
  const which: ('start' | 'end')[] = ev.entries.length === 1 ? ['start'] : ['end', 'start'];
  return (
    <section class="card evidence" aria-labelledby="evidence-h">
      <h2 id="evidence-h">Proof of record</h2>
      {failed.length > 0 ? (
        <p class="error-text" role="alert">
          The receipt of entry {failed[0]!.index} does not verify: {displayText(failed[0]!.failure!)}
        </p>
      ) : (
        <p class="statement">
          <span class="badge ok">Included</span> {span} of log <span class="mono">{displayText(ev.origin)}</span> are included in the checkpoint of size {ev.checkpoint.size} (root{' '}
          <span class="mono">{ev.checkpoint.root}</span>), signed by the host's key <span class="mono">{displayText(ev.keyName)}</span>
          {witness && (
            <>
              {' '}
              and cosigned by the witness <span class="mono">{witness.name}</span> at <Time iso={witness.at} />
            </>
          )}
          {mirror && (
            <>
              {witness ? ' and' : ' and cosigned by'} the mirror <span class="mono">{mirror.name}</span> at <Time iso={mirror.at} />
            </>
          )}
          {ev.cosigned.length === 0 && <> (no cosignature of {serverName} on it verifies)</>}
          {ev.others > 0 && <>; it carries {ev.others === 1 ? '1 more signature' : `${ev.others} more signatures`} that this server does not check</>}.
        </p>
      )}
      <h3>Receipts</h3>
      <ul class="downloads">
        {which.map((w) => (
          <li>
            <a href={href('receipt', w)} download={`${fileBase(run, w)}.tlog-proof`}>
              Receipt of the {w === 'end' ? 'end' : ev.entries.length === 1 ? 'start (the run has no end yet)' : 'start'}
            </a>{' '}
            (c2sp.org/tlog-proof@v1) with the{' '}
            <a href={href('entry', w)} download={`${fileBase(run, w)}.entry`}>
              entry's exact bytes
            </a>
          </li>
        ))}
      </ul>
      <p class="muted">Anyone can check a receipt without this server, with the log's public key obtained from the host itself (ffaudit pubkey there):</p>
      <pre>
        <code>{`ffaudit verify-proof ${fileBase(run, which[0]!)}.tlog-proof --entry ${fileBase(run, which[0]!)}.entry --pubkey host.pub`}</code>
      </pre>
      <p class="muted">
        The key this server enrolled for the log: <span class="mono">{displayText(ev.vkey)}</span>
      </p>
    </section>
  );
};

export function runRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const { db } = deps;

  app.get('/runs/:ref', requireWebRole('viewer'), async (c) => {
    const { log } = parseRunQuery(new URL(c.req.url).searchParams);
    const run = await findRun(c, log);
    await recordAccess(c, { action: 'view.run', runs: [run.id] });
    const ev = await runEvidence(db, deps.keys, run);
    const auditor = atLeast(webUser(c).role, 'auditor');
    const history = auditor ? await accessEvents(db, { runId: run.id }) : [];
    const redactions = redactionsOf(ev);
    return renderPage(
      c,
      { title: `Run ${run.id.slice(0, 12)}`, nav: 'runs' },
      <>
        <p class="crumbs">
          <a href="/runs">Runs</a> › run
        </p>
        <div class="page-head">
          <h1>
            Run <span class="mono">{run.id.slice(0, 12)}</span> <span class={statusBadge(run.status)}>{run.status}</span>
          </h1>
        </div>
        <section class="card" aria-labelledby="cmd-h">
          <h2 id="cmd-h">Command</h2>
          <pre class="command">
            <code>{displayText(runCommandLine(run))}</code>
          </pre>
          {redactions.length > 0 ? (
            <>
              <p class="muted">Secrets were removed before recording ({redactions.length}); each is kept only as an HMAC a key holder can match:</p>
              <ul class="redactions">
                {redactions.map((r) => (
                  <li>
                    <span class="mono">{displayText(r.where)}</span>: {displayText(r.kind)}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p class="muted">Nothing was redacted from this command.</p>
          )}
        </section>
        <div class="grid facts-grid">
          <section class="card" aria-labelledby="who-h">
            <h2 id="who-h">Who</h2>
            <dl class="facts">
              <dt>User</dt>
              <dd>
                <bdi>{displayText(run.user)}</bdi>
                {run.uid !== null && <span class="muted"> (uid {run.uid})</span>}
              </dd>
              <dt>Acting for</dt>
              <dd>{run.asserted_actor === null ? <span class="muted">not stated</span> : <bdi>{displayText(run.asserted_actor)}</bdi>}</dd>
              {run.reason !== null && (
                <>
                  <dt>Reason</dt>
                  <dd>
                    <bdi>{displayText(run.reason)}</bdi>
                  </dd>
                </>
              )}
            </dl>
          </section>
          <section class="card" aria-labelledby="where-h">
            <h2 id="where-h">Where</h2>
            <dl class="facts">
              <dt>Host</dt>
              <dd>
                <bdi>{displayText(run.host)}</bdi>
              </dd>
              <dt>Directory</dt>
              <dd class="mono">
                <bdi>{displayText(run.cwd)}</bdi>
              </dd>
              <dt>Log</dt>
              <dd class="mono">
                {displayText(run.log)}, entr{run.entries.length === 1 ? 'y' : 'ies'} {run.entries.join(' and ')}
              </dd>
            </dl>
          </section>
          <section class="card" aria-labelledby="when-h">
            <h2 id="when-h">When</h2>
            <dl class="facts">
              <dt>Started</dt>
              <dd>
                <Time iso={run.started_at} />
              </dd>
              <dt>Ended</dt>
              <dd>{run.ended_at === null ? <span class="muted">no end recorded</span> : <Time iso={run.ended_at} />}</dd>
              <dt>Duration</dt>
              <dd>{durationText(run.duration_ms)}</dd>
            </dl>
          </section>
          <section class="card" aria-labelledby="outcome-h">
            <h2 id="outcome-h">Outcome</h2>
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <span class={statusBadge(run.status)}>{run.status}</span>
              </dd>
              <dt>Exit code</dt>
              <dd>{run.exit_code === null ? '—' : run.exit_code}</dd>
              <dt>Signal</dt>
              <dd>{run.signal === null ? '—' : displayText(run.signal)}</dd>
              <dt>FFmpeg</dt>
              <dd>
                <span class="mono">{displayText(run.ffmpeg.path)}</span> {run.ffmpeg.version !== null && <>version {displayText(run.ffmpeg.version)}</>}
              </dd>
            </dl>
          </section>
        </div>
        <Files title="Inputs" id="inputs-h" files={run.inputs} log={run.log} />
        <Files title="Outputs" id="outputs-h" files={run.outputs} log={run.log} />
        <Streams run={run} />
        <Evidence run={run} ev={ev} serverName={deps.keys.witness.name.replace(/\/witness$/, '')} />
        {auditor && (
          <section aria-labelledby="report-h">
            <h2 id="report-h">FFmpeg's report</h2>
            {run.report_sha256 === null ? (
              <p class="muted">No report was recorded for this run.</p>
            ) : (
              <p>
                <a href={`${runHref(run).replace('?', '/report?')}`} class="button">
                  Open FFmpeg's report
                </a>{' '}
                <span class="muted">(plain text, SHA-256 <span class="hash">{run.report_sha256}</span>; opening it is recorded)</span>
              </p>
            )}
          </section>
        )}
        {auditor && <AccessHistory events={history} />}
      </>,
    );
  });

  app.get('/runs/:ref/receipt', requireWebRole('viewer'), async (c) => {
    const q = evidenceQuery(c);
    const run = await findRun(c, q.log);
    const ev = await runEvidence(db, deps.keys, run);
    if (ev === null) throw new FfauditError('NOT_FOUND', 'no checkpoint this server cosigned includes this run yet');
    const e = entryOf(ev, q.entry);
    if (e.failure !== null) throw new FfauditError('INTEGRITY', `the receipt of entry ${e.index} does not verify: ${e.failure}`);
    await recordAccess(c, { action: 'download.receipt', runs: [run.id] });
    return c.body(e.receipt, 200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Disposition': `attachment; filename="${fileBase(run, e === ev.entries[0] ? 'start' : 'end')}.tlog-proof"`,
    });
  });

  app.get('/runs/:ref/entry', requireWebRole('viewer'), async (c) => {
    const q = evidenceQuery(c);
    const run = await findRun(c, q.log);
    const ev = await runEvidence(db, deps.keys, run);
    if (ev === null) throw new FfauditError('NOT_FOUND', 'no checkpoint this server cosigned includes this run yet');
    const e = entryOf(ev, q.entry);
    await recordAccess(c, { action: 'download.receipt', runs: [run.id] });
    return c.body(new Uint8Array(e.data), 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': `attachment; filename="${fileBase(run, e === ev.entries[0] ? 'start' : 'end')}.entry"`,
    });
  });

  app.get('/runs/:ref/report', requireWebRole('auditor'), async (c) => {
    const { log } = parseRunQuery(new URL(c.req.url).searchParams);
    const run = await findRun(c, log);
    if (run.report_sha256 === null) throw new FfauditError('NOT_FOUND', 'no report was recorded for this run');
    const report = await (await mirrorEvidence(db, run.log)).blob(run.report_sha256);
    if (report === undefined) throw new FfauditError('NOT_FOUND', 'the host has not pushed this run\'s report to the server yet');
    await recordAccess(c, { action: 'view.report', runs: [run.id] });
    // Plain text and nosniff (set for every page): the report is shown, never interpreted.
    return c.body(new Uint8Array(report), 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Disposition': 'inline' });
  });
}
