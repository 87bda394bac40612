/**
 * The chain-of-custody report: one self-contained HTML document (inline CSS, inline SVG, no script, no external
 * request: a Content-Security-Policy forbids them) that a person can read and print.
 *
 * Every recorded value (file names, commands, notes, user names) is attacker-controllable, so every value goes
 * through `escapeHtml` whether it lands in text or in an attribute; nothing is ever inserted unescaped.
 */
import type { BundleTime, TimeToken } from '../core/bundle-time.js';
import type { FileRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import { runCommandLine, shellQuote } from './shell-quote.js';

export interface ReportNote {
  index: number;
  time: string;
  by: { user: string; host: string; uid: number | null; asserted_actor?: string };
  text: string;
  files: FileRecord[];
  /** The origin of the log that holds the note, only when it is not the report's own log (a report across logs). */
  log?: string;
}

/** A run of the report; `log` names the log that holds it, only when it is not the report's own log. */
export type ReportRun = RunRecord & { log?: string };

/** `ffaudit verify` of the whole ledger the report comes from (src/ledger/verify.ts VerifyReport). */
export interface LedgerVerdict {
  ok: boolean;
  size: number;
  problems: { kind: string; index?: number | undefined; size?: number | undefined; detail: string }[];
}

/** One log's part of a report's evidence: its checkpoint and key as the bundle verification found them. */
export interface LogEvidence {
  origin: string;
  checkpoint: string;
  checkpointSize: number | null;
  keyName: string | null;
  keyId: string | null;
  keyFingerprint: string | null;
  vkey: string;
  /** How many of the report's entries are this log's. */
  entries: number;
}

export interface ReportVerification extends LogEvidence {
  /** The report's own entries, bundled and checked as `verify-bundle` would. */
  ok: boolean;
  failures: string[];
  /** The whole ledger: a report may be green only when this is intact too. */
  ledger: LedgerVerdict;
  /**
   * A report across logs (a lineage traced by the team server): each log the report's entries come from, with its
   * checkpoint and key as the bundle verification found them and the server's last re-verification of its mirror
   * of the whole log. `ledger` then sums those checks up, so that a report is green only when every log is.
   */
  logs?: ReportLogVerification[];
  /** Trusted time: the RFC 3161 tokens over the report's entries, as the bundle verification found them. */
  time?: ReportTime;
}

export interface ReportTime {
  /** Whether the tokens were verified against a TSA CA the report's maker trusts; if not, no time is stated. */
  verified: boolean;
  logs: BundleTime[];
  /** The report's entries of each log that no verified token vouches for. */
  untimed: { log: string; entries: number[] }[];
}

/** One log of a report across logs. */
export interface ReportLogVerification extends LogEvidence {
  /** The server's last re-verification of the whole log it mirrors (as `ffaudit verify` checks a ledger). */
  check: { ok: boolean; size: number; problems: string[] };
}

interface ReportBase {
  generatedAt: string;
  runs: ReportRun[];
  notes: ReportNote[];
  verification: ReportVerification;
}

export interface FileReport extends ReportBase {
  kind: 'file';
  /** `size` null: not known (a report made by the team server, which holds hashes, not files). */
  file: { path: string; sha256: string; size: number | null };
  sources: FileRecord[];
  readBy: ReportRun[];
}

export interface ActivityReport extends ReportBase {
  kind: 'activity';
  period: { since: string | null; until: string | null };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/SVG element content and quoted attribute values alike. */
export function escapeHtml(value: unknown): string {
  // Control characters other than tab/newline are not allowed in XML (the SVG) and mean nothing to a reader.
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\uFFFD');
}

const e = escapeHtml;

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 && i < path.length - 1 ? path.slice(i + 1) : path;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function who(r: { user: string; host: string; uid: number | null; asserted_actor?: string | null }): string {
  const actor = r.asserted_actor ? ` (asserted: ${r.asserted_actor})` : '';
  return `${r.user}${r.uid !== null ? ` (uid ${r.uid})` : ''} on ${r.host}${actor}`;
}

function statusClass(status: string): string {
  return status === 'ok' ? 'ok' : status === 'incomplete' ? 'warn' : 'bad';
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111;margin:2em auto;max-width:60em;padding:0 1em}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:1.6em;padding-bottom:.2em}
code,pre,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere;word-break:break-all}
pre{background:#f4f4f4;border:1px solid #ddd;padding:.6em;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;width:9em}.verdict{border:2px solid;padding:.6em 1em;font-weight:600;margin:1em 0}
.verdict.ok{border-color:#1a7f37;background:#e9f7ee}.verdict.bad{border-color:#b42318;background:#fdecea}.verdict.warn{border-color:#9a6700;background:#fff8e1}
.ok{color:#1a7f37}.bad{color:#b42318}.warn{color:#9a6700}.step{page-break-inside:avoid;break-inside:avoid}
.muted{color:#555}svg{max-width:100%;height:auto;border:1px solid #ddd;background:#fff}
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}h2{page-break-after:avoid}}
`;

interface DNode {
  key: string;
  /** The full, unshortened description (an SVG <title>: the tooltip, and the text a screen reader or search finds). */
  full: string;
  kind: 'file' | 'run';
  col: number;
  row: number;
  title: string;
  sub: string;
  cls: string;
}

/** The widest a lineage diagram is drawn, in CSS pixels: the report's text column, so it is never scaled down. */
export const DIAGRAM_MAX_WIDTH = 840;

/** A layered diagram: files and runs alternate in layers, from the sources at the top to the file at the bottom. */
export function lineageSvg(runs: readonly RunRecord[], target?: string): string {
  if (runs.length === 0) return '';
  const nodes = new Map<string, DNode>();
  const edges: [string, string][] = [];
  const fileKey = (f: FileRecord) => (f.sha256 !== null ? `f:${f.sha256}` : `u:${f.path}`);
  const fileCol = new Map<string, number>();
  const sorted = [...runs].sort((a, b) => a.entries[0]! - b.entries[0]!);
  const addFile = (f: FileRecord, col: number) => {
    const k = fileKey(f);
    const prev = nodes.get(k);
    if (prev) {
      prev.col = Math.max(prev.col, col);
      if (!prev.full.split('\n').includes(f.path)) prev.full = `${prev.full}\n${f.path}`;
      // A renamed or copied file keeps its content: show every name it had.
      const name = shorten(baseName(f.path), 26);
      if (!prev.title.split(' = ').includes(name)) prev.title = shorten(`${prev.title} = ${name}`, 28);
      return k;
    }
    const title = shorten(baseName(f.path), 26);
    const sub = f.sha256 !== null ? `sha256 ${f.sha256.slice(0, 16)}…` : 'not a file (no hash)';
    nodes.set(k, { key: k, kind: 'file', full: `${f.path}${f.sha256 !== null ? `\nsha256 ${f.sha256}` : ''}`, col, row: 0, title, sub, cls: f.sha256 !== null && f.sha256 === target ? 'target' : 'file' });
    return k;
  };
  for (const r of sorted) {
    let col = 1;
    for (const f of r.inputs) col = Math.max(col, (fileCol.get(fileKey(f)) ?? 0) + 1);
    const rk = `r:${r.id}`;
    nodes.set(rk, { key: rk, kind: 'run', full: `${r.tool} run ${r.id} ${r.status}\n${runCommandLine(r)}`, col, row: 0, title: `${r.tool} · ${r.status}`, sub: `${r.user} · ${r.started_at.slice(0, 19).replace('T', ' ')}`, cls: statusClass(r.status) });
    for (const f of r.inputs) {
      const k = addFile(f, fileCol.get(fileKey(f)) ?? 0);
      fileCol.set(k, nodes.get(k)!.col);
      edges.push([k, rk]);
    }
    for (const f of r.outputs) {
      const k = addFile(f, col + 1);
      fileCol.set(k, Math.max(fileCol.get(k) ?? 0, col + 1));
      edges.push([rk, k]);
    }
  }
  // Top to bottom, so that a long chain fits the width of a printed page. The page's text column is 840 px wide
  // (body max-width 60em at 14 px) and a wider SVG is scaled down to it, text included: so the diagram never gets
  // wider than that. Each independent lineage is laid out on its own, a layer with more boxes than fit across
  // continues on the next line, and lineages are placed side by side while they fit, then below.
  const W = 210;
  const H = 46;
  const GX = 24;
  const GY = 34;
  const COLS = Math.floor((DIAGRAM_MAX_WIDTH - 20 + GX) / (W + GX));
  const parent = new Map<string, string>();
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  for (const k of nodes.keys()) parent.set(k, k);
  for (const [a, b] of edges) parent.set(root(a), root(b));
  const components = new Map<string, DNode[]>();
  for (const n of nodes.values()) {
    const r = root(n.key);
    const list = components.get(r);
    if (list) list.push(n);
    else components.set(r, [n]);
  }
  const pos = new Map<string, { x: number; y: number }>();
  let bandY = 10;
  let bandLines = 0;
  let usedCols = 0;
  for (const members of components.values()) {
    // The layers this lineage occupies, top to bottom (a file whose bytes a later run wrote again moves down, so a
    // layer may be left empty: it takes no room).
    const layers = [...new Set(members.map((n) => n.col))].sort((a, b) => a - b).map((c) => members.filter((n) => n.col === c));
    const across = Math.min(COLS, Math.max(...layers.map((l) => l.length)));
    if (usedCols > 0 && usedCols + across > COLS) {
      bandY += bandLines * (H + GY) + GY;
      bandLines = 0;
      usedCols = 0;
    }
    let line = 0;
    for (const layer of layers) {
      layer.forEach((n, i) => pos.set(n.key, { x: 10 + (usedCols + (i % across)) * (W + GX), y: bandY + (line + Math.floor(i / across)) * (H + GY) }));
      line += Math.ceil(layer.length / across);
    }
    bandLines = Math.max(bandLines, line);
    usedCols += across;
  }
  const x = (n: DNode) => pos.get(n.key)!.x;
  const y = (n: DNode) => pos.get(n.key)!.y;
  const width = 20 + Math.max(...[...pos.values()].map((p) => p.x - 10 + W));
  const height = 10 + Math.max(...[...pos.values()].map((p) => p.y + H));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lineage diagram" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>',
  );
  for (const [from, to] of edges) {
    const a = nodes.get(from)!;
    const b = nodes.get(to)!;
    const [x1, y1, x2, y2] = [x(a) + W / 2, y(a) + H, x(b) + W / 2, y(b)];
    parts.push(`<path d="M${x1},${y1} C${x1},${y1 + GY} ${x2},${y2 - GY} ${x2},${y2}" fill="none" stroke="#555" stroke-width="1.3" marker-end="url(#arrow)"/>`);
  }
  const fill: Record<string, string> = { file: '#eef3fb', target: '#fff4cc', ok: '#e9f7ee', bad: '#fdecea', warn: '#fff8e1' };
  for (const n of nodes.values()) {
    const rx = n.kind === 'run' ? 12 : 2;
    parts.push(
      `<g><title>${e(n.full)}</title><rect x="${x(n)}" y="${y(n)}" width="${W}" height="${H}" rx="${rx}" fill="${fill[n.cls] ?? '#fff'}" stroke="#444" stroke-width="${n.cls === 'target' ? 2.5 : 1}"/>`,
      `<text x="${x(n) + 8}" y="${y(n) + 18}" font-weight="600">${e(n.title)}</text>`,
      `<text x="${x(n) + 8}" y="${y(n) + 36}" fill="#444" font-size="11">${e(shorten(n.sub, 34))}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function fileRows(files: readonly FileRecord[]): string {
  if (files.length === 0) return '<span class="muted">none</span>';
  return files
    .map((f) => `<div><span class="mono">${e(f.path)}</span><br><span class="mono muted">${f.sha256 !== null ? `sha256 ${e(f.sha256)}` : 'not hashed (not a file)'}${f.size !== null ? ` · ${e(f.size)} bytes` : ''}</span></div>`)
    .join('');
}

function stepHtml(r: ReportRun, n: number): string {
  const rows: [string, string][] = [
    ['Who', e(who(r))],
    ['When', `${e(r.started_at)}${r.ended_at ? ` → ${e(r.ended_at)}` : ''}${r.duration_ms !== null ? ` (${e(r.duration_ms)} ms)` : ''}`],
    ['Command', `<code>${e(runCommandLine(r))}</code>`],
    ['Working dir', `<code>${e(r.cwd)}</code>`],
    ['Inputs', fileRows(r.inputs)],
    ['Outputs', fileRows(r.outputs)],
    ['Status', `<span class="${statusClass(r.status)}">${e(r.status)}</span>${r.exit_code !== null ? `, exit code ${e(r.exit_code)}` : ''}${r.signal ? `, signal ${e(r.signal)}` : ''}`],
    ['FFmpeg', `<code>${e(r.ffmpeg.path)}</code>${r.ffmpeg.version ? ` version ${e(r.ffmpeg.version)}` : ''}`],
    ['Log entries', `${e(r.entries.join(', '))}${r.log !== undefined ? ` in the log <span class="mono">${e(r.log)}</span>` : ''}`],
  ];
  if (r.reason !== null) rows.splice(2, 0, ['Reason', e(r.reason)]);
  return `<div class="step"><h3>Step ${n}: ${e(r.tool)} run <span class="mono">${e(r.id)}</span></h3><table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table></div>`;
}

function timelineHtml(runs: readonly RunRecord[], notes: readonly ReportNote[]): string {
  const events: { time: string; what: string; who: string; detail: string }[] = [];
  for (const r of runs) {
    events.push({ time: r.started_at, what: `${r.tool} started`, who: who(r), detail: shorten(runCommandLine(r), 200) });
    if (r.ended_at) events.push({ time: r.ended_at, what: `${r.tool} ${r.status}`, who: who(r), detail: r.outputs.map((o) => baseName(o.path)).join(', ') });
  }
  for (const n of notes) events.push({ time: n.time, what: 'custody note', who: who({ ...n.by, asserted_actor: n.by.asserted_actor ?? null }), detail: n.text });
  events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  if (events.length === 0) return '<p class="muted">Nothing recorded.</p>';
  return `<table><tr><th>Time (UTC)</th><th>Event</th><th>Who</th><th>Detail</th></tr>${events
    .map((ev) => `<tr><td class="mono">${e(ev.time)}</td><td>${e(ev.what)}</td><td>${e(ev.who)}</td><td class="mono">${e(ev.detail)}</td></tr>`)
    .join('')}</table>`;
}

/** Green only when both the report's own entries and the whole ledger verify: a ledger with findings is no ground
 * for a green badge, whichever entries the findings concern. */
function verified(v: ReportVerification): boolean {
  return v.ok && v.ledger.ok;
}

/** As `ffaudit verify` words it: DAMAGED when the only findings are a damaged file, else TAMPERED. */
function ledgerWord(l: LedgerVerdict): { word: string; cls: string } {
  return l.problems.every((p) => p.kind === 'store-corrupt') ? { word: 'DAMAGED', cls: 'warn' } : { word: 'TAMPERED', cls: 'bad' };
}

function summaryLine(v: ReportVerification): string {
  const what = 'The record below';
  if (v.logs) {
    const n = v.logs.length;
    if (verified(v)) return `<p class="ok">${what} verifies against the signed ${n === 1 ? 'log' : `logs of ${e(n)} hosts`}, and the team server's last check of ${n === 1 ? 'that whole log' : 'each whole log'} found it intact (details at the end).</p>`;
    const failed = v.logs.filter((l) => !l.check.ok);
    if (failed.length > 0) {
      return `<p class="bad">The team server's last check FAILED for ${failed.map((l) => `<span class="mono">${e(l.origin)}</span>`).join(', ')} (details at the end). Nothing below can be relied on until that is explained.</p>`;
    }
    return `<p class="bad">${what} FAILED verification (details at the end).</p>`;
  }
  if (verified(v)) return `<p class="ok">${what} verifies against the signed log, and the whole ledger verifies intact (details at the end).</p>`;
  if (!v.ledger.ok) {
    const n = v.ledger.problems.length;
    return `<p class="bad">The ledger this report comes from FAILED verification: ${e(n)} problem${n === 1 ? '' : 's'} found (details at the end). Nothing below can be relied on until they are explained.</p>`;
  }
  return `<p class="bad">${what} FAILED verification (details at the end).</p>`;
}

function ledgerVerdictHtml(l: LedgerVerdict): string {
  if (l.ok) return '';
  const { word, cls } = ledgerWord(l);
  const where = (p: LedgerVerdict['problems'][number]) => (p.index !== undefined ? ` (entry ${e(p.index)})` : p.size !== undefined ? ` (size ${e(p.size)})` : '');
  const n = l.problems.length;
  return `<div class="verdict ${cls}">LEDGER ${word}: verifying the whole ledger (${e(l.size)} entries) found ${e(n)} problem${n === 1 ? '' : 's'}, as <code>ffaudit verify</code> reports them:<ul>${l.problems
    .map((p) => `<li><code>${e(p.kind)}</code>${where(p)}: ${e(p.detail)}</li>`)
    .join('')}</ul></div>`;
}

/** The verification of a report across logs: one row of each log's evidence and the server's check of it. */
function logsVerificationHtml(v: ReportVerification, logs: readonly ReportLogVerification[], fileName: string | null): string {
  const n = logs.length;
  const own = `all ${e(v.entries)} log entries this report rests on are exactly as recorded and are included in ${n === 1 ? 'the log' : `the ${e(n)} logs`} below, each signed by its own key`;
  const checkText = (l: ReportLogVerification) =>
    l.check.ok
      ? `<span class="ok">intact</span> (${e(l.check.size)} entries re-verified against the cosigned checkpoint)`
      : `<span class="bad">FAILED</span> (${e(l.check.size)} entries): ${l.check.problems.length > 0 ? `<ul>${l.check.problems.map((p) => `<li>${e(p)}</li>`).join('')}</ul>` : 'no detail given'}`;
  const failedChecks = logs.filter((l) => !l.check.ok);
  const verdict = verified(v)
    ? `<div class="verdict ok">VERIFIED: ${own}, and the team server's last check of ${n === 1 ? 'that whole log' : 'each whole log'} found it intact.</div>`
    : `${
        failedChecks.length > 0
          ? `<div class="verdict bad">LOG CHECK FAILED: the team server's last re-verification of ${failedChecks.map((l) => `<span class="mono">${e(l.origin)}</span>`).join(', ')} found problems (below): entries of that log may have been altered or removed, whichever entries the findings concern.</div>`
          : ''
      }${v.ok ? `<p>On their own, ${own}.</p>` : `<div class="verdict bad">VERIFICATION FAILED: ${v.failures.map((f) => e(f)).join('<br>')}</div>`}`;
  const rows = logs
    .map(
      (l) => `<h3>Log <span class="mono">${e(l.origin)}</span></h3>
<table>
<tr><th>Entries</th><td>${e(l.entries)} of this report's, included in the checkpoint at tree size ${e(l.checkpointSize ?? '')}</td></tr>
<tr><th>Key</th><td class="mono">${e(l.keyName ?? '')} (key ID ${e(l.keyId ?? '')})</td></tr>
<tr><th>Key fingerprint</th><td class="mono">SHA-256 ${e(l.keyFingerprint ?? '')}</td></tr>
<tr><th>Verifier key</th><td class="mono">${e(l.vkey)}</td></tr>
<tr><th>Server's check</th><td>${checkText(l)}</td></tr>
<tr><th>Checkpoint</th><td><pre>${e(l.checkpoint)}</pre></td></tr>
</table>`,
    )
    .join('\n');
  const bundle = 'evidence.ffaudit-bundle.json';
  // Shell-quoted: a recorded file name is hostile input, and these commands are meant to be pasted into a shell.
  const file = fileName ? ` --file ${e(shellQuote(fileName))}` : '';
  const keys = logs.map((_, i) => ` --pubkey log${i + 1}.vkey`).join('');
  return `${verdict}
${rows}
<h3>How to check this yourself</h3>
<ol>
<li>Obtain each log's verifier key from its keeper through a channel you trust, save them as ${logs.map((l, i) => `<code>log${i + 1}.vkey</code> (<span class="mono">${e(l.origin)}</span>)`).join(', ')}, and compare their fingerprints with the ones above.</li>
<li>Ask the team server's keeper for an evidence bundle (they run <code>ffaudit bundle --server URL ${e(fileName ? shellQuote(fileName) : 'FILE')} -o ${bundle}</code>).</li>
<li>Without access to the logs or the network, run <code>ffaudit verify-bundle ${bundle}${file}${keys}</code> (or <code>--policy FILE</code>, a C2SP tlog-policy with a <code>log</code> line for each key; a key for every log is required): it checks every signature and inclusion proof, each against its own log's checkpoint, every entry hash, that no step a signed entry links to is missing, and that the file's SHA-256 is the one the bundle vouches for. A step from one log to another is joined by content and by the two hosts' recorded times, not by a signature.</li>
</ol>`;
}

function verificationHtml(v: ReportVerification, fileName: string | null): string {
  if (v.logs) return logsVerificationHtml(v, v.logs, fileName);
  const own = `all ${e(v.entries)} log entries this report rests on are exactly as recorded and are included in the log signed by key ${e(v.keyName ?? '')} (key ID ${e(v.keyId ?? '')}) at tree size ${e(v.checkpointSize ?? '')}`;
  const verdict = verified(v)
    ? `<div class="verdict ok">VERIFIED: ${own}, and the whole ledger (${e(v.ledger.size)} entries) verifies intact.</div>`
    : `${ledgerVerdictHtml(v.ledger)}${
        v.ok
          ? `<p>On their own, ${own}; the findings above still mean the ledger was altered or damaged.</p>`
          : `<div class="verdict bad">VERIFICATION FAILED: ${v.failures.map((f) => e(f)).join('<br>')}</div>`
      }`;
  const bundle = 'evidence.ffaudit-bundle.json';
  // Shell-quoted: a recorded file name is hostile input, and these commands are meant to be pasted into a shell.
  const file = fileName ? ` --file ${e(shellQuote(fileName))}` : '';
  return `${verdict}
<table>
<tr><th>Log origin</th><td class="mono">${e(v.origin)}</td></tr>
<tr><th>Key fingerprint</th><td class="mono">SHA-256 ${e(v.keyFingerprint ?? '')}</td></tr>
<tr><th>Verifier key</th><td class="mono">${e(v.vkey)}</td></tr>
<tr><th>Checkpoint</th><td><pre>${e(v.checkpoint)}</pre></td></tr>
</table>
<h3>How to check this yourself</h3>
<ol>
<li>Obtain the log's verifier key from its keeper through a channel you trust, save it as <code>log.vkey</code>, and compare its fingerprint with the one above.</li>
<li>Ask the keeper for an evidence bundle (they run <code>ffaudit bundle ${e(fileName ? shellQuote(fileName) : 'FILE')} -o ${bundle}</code>).</li>
<li>Without access to the ledger or the network, run <code>ffaudit verify-bundle ${bundle}${file} --pubkey log.vkey</code> (or <code>--policy FILE</code>, a C2SP tlog-policy naming that key; the key is required): it checks every signature, inclusion proof and entry hash, that no step a signed entry links to is missing, and that the file's SHA-256 is the one the bundle vouches for. The bundle format is documented so that you can also check it with your own tools (RFC 6962 / RFC 9162 Merkle proofs, C2SP signed notes and checkpoints).</li>
</ol>`;
}

function entriesText(indices: readonly number[]): string {
  if (indices.length === 1) return `entry ${indices[0]}`;
  if (indices.length > 10) return `${indices.length} entries from ${indices[0]} to ${indices[indices.length - 1]}`;
  return `entries ${indices.slice(0, -1).join(', ')} and ${indices[indices.length - 1]}`;
}

/** A token and its renewal chain, one row each: who, when, which token. */
function tokenRows(t: TimeToken, renewal = 0): string {
  const what = renewal === 0 ? 'Token' : `Renewal ${renewal}`;
  return `<tr><td>${what}</td><td class="mono">${e(t.tsaName)}</td><td class="mono">${e(t.genTime)}</td><td class="mono">${e(t.serial)}</td><td class="mono">${e(t.signerNotAfter)}</td></tr>${t.renewals.map((r) => tokenRows(r, renewal + 1)).join('')}`;
}

/**
 * "Trusted time": what a time-stamping authority says about when the entries existed, stated only from tokens
 * verified against a CA the report's maker trusts; otherwise what is there and that it was not verified.
 */
function trustedTimeHtml(t: ReportTime | undefined, multi: boolean): string {
  const where = (log: string) => (multi ? ` of the log <span class="mono">${e(log)}</span>` : '');
  const none = "<p>No time-stamp token vouches for these entries: the times shown are the recording hosts' own clocks, which nothing independent confirms.</p>";
  if (!t) return none;
  const held = t.logs.length;
  if (!t.verified) {
    if (held === 0) return none;
    return `<p class="warn">The log holds time-stamp tokens over these entries, but they were NOT verified: no TSA CA certificate is configured for this report (a ledger's config.json <code>"tsa": {"ca": FILE}</code>, or <code>ffaudit report --tsa-ca FILE</code>). No time is stated from them; <code>ffaudit verify-bundle --tsa-ca FILE</code> checks them.</p>`;
  }
  const stated = t.logs.filter((l) => l.tokens.length > 0);
  const parts = stated.map(
    (l) => `${l.sentences.map((s) => `<p class="ok"><strong>${e(s)}</strong>.</p>`).join('')}<p>That covers this report's ${e(entriesText(l.covers))}${where(l.log)} (the log's checkpoint at tree size ${e(l.size)}, proven consistent with the one the entries are verified against).</p>
<table><tr><th></th><th>TSA</th><th>Time (genTime, UTC)</th><th>Serial</th><th>TSA certificate valid until</th></tr>${l.tokens.map((k) => tokenRows(k)).join('')}</table>`,
  );
  if (stated.length === 0) parts.push(none);
  else parts.push('<p class="muted">Each token was verified completely (signature, imprint over the checkpoint, the TSA certificate and its chain to the CA configured for this report). A renewal is a later token over the earlier token, made before its certificate expired, which keeps it provable after that (RFC 4998).</p>');
  if (stated.length > 0 && t.untimed.length > 0) parts.push(`<p class="warn">No time-stamp token vouches for ${t.untimed.map((u) => `${e(entriesText(u.entries))}${where(u.log)}`).join('; ')}: only the recording host's clock dates ${t.untimed.length === 1 && t.untimed[0]!.entries.length === 1 ? 'it' : 'them'}.</p>`);
  return parts.join('\n');
}

function notesHtml(notes: readonly ReportNote[]): string {
  if (notes.length === 0) return '<p class="muted">No custody note names this content.</p>';
  return `<table><tr><th>Time (UTC)</th><th>Who</th><th>Note</th><th>Files</th></tr>${notes
    .map((n) => `<tr><td class="mono">${e(n.time)}</td><td>${e(who({ ...n.by, asserted_actor: n.by.asserted_actor ?? null }))}${n.log !== undefined ? `<br><span class="muted">log <span class="mono">${e(n.log)}</span>, entry ${e(n.index)}</span>` : ''}</td><td>${e(n.text)}</td><td>${fileRows(n.files)}</td></tr>`)
    .join('')}</table>`;
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

export function renderFileReport(m: FileReport): string {
  const name = baseName(m.file.path);
  const body: string[] = [];
  const logs = m.verification.logs;
  const from =
    logs && logs.length > 1
      ? `the ffaudit logs ${logs.map((l) => `<span class="mono">${e(l.origin)}</span>`).join(', ')}, as the team server mirrors them`
      : `the ffaudit log <span class="mono">${e(m.verification.origin)}</span>${logs ? ', as the team server mirrors it' : ''}`;
  body.push(
    `<h1>Chain-of-custody report</h1><p class="muted">Generated ${e(m.generatedAt)} from ${from}.</p>`,
    `<table><tr><th>File</th><td class="mono">${e(m.file.path)}</td></tr><tr><th>SHA-256</th><td class="mono">${e(m.file.sha256)}</td></tr><tr><th>Size</th><td>${m.file.size !== null ? `${e(m.file.size)} bytes` : '<span class="muted">not known to the team server (it holds hashes, not files)</span>'}</td></tr></table>`,
  );
  body.push(summaryLine(m.verification));
  if (m.runs.length > 0) {
    body.push(
      `<h2>Summary</h2><p>These exact bytes were produced by ${m.runs.length === 1 ? 'one audited FFmpeg run' : `a chain of ${e(m.runs.length)} audited FFmpeg runs`}${m.sources.length > 0 ? `, from ${e(m.sources.length)} source${m.sources.length === 1 ? '' : 's'} that no audited run produced` : ', from generated content only'}.</p>`,
      `<h2>Lineage</h2>${lineageSvg(m.runs, m.file.sha256)}<p class="muted">Sources at the top, this file (highlighted) at the bottom; rounded boxes are runs, square boxes files.</p>`,
    );
  } else {
    body.push(`<h2>Summary</h2><p>No audited run produced these bytes: the file is a source. ${m.readBy.length > 0 ? `Audited runs read it ${e(m.readBy.length)} time${m.readBy.length === 1 ? '' : 's'}.` : ''}</p>`);
  }
  body.push(`<h2>Timeline</h2>${timelineHtml(m.runs.length > 0 ? m.runs : m.readBy, m.notes)}`);
  if (m.runs.length > 0) body.push(`<h2>Steps</h2>${m.runs.map((r, i) => stepHtml(r, i + 1)).join('\n')}`);
  if (m.sources.length > 0) body.push(`<h2>Sources</h2><p>Inputs that no audited run produced before they were read:</p>${fileRows(m.sources)}`);
  body.push(`<h2>Custody notes</h2>${notesHtml(m.notes)}`);
  if (m.readBy.length > 0) body.push(`<h2>Later uses</h2><p>Audited runs that read these bytes:</p>${m.readBy.map((r, i) => stepHtml(r, i + 1)).join('\n')}`);
  body.push(`<h2>Trusted time</h2>${trustedTimeHtml(m.verification.time, m.verification.logs !== undefined)}`);
  body.push(`<h2>Verification</h2>${verificationHtml(m.verification, name)}`);
  return page(`Chain-of-custody report: ${name}`, body.join('\n'));
}

export function renderActivityReport(m: ActivityReport): string {
  const period = `${m.period.since ?? 'the beginning'} to ${m.period.until ?? 'now'}`;
  const body: string[] = [
    `<h1>Activity report</h1><p class="muted">Generated ${e(m.generatedAt)} from the ffaudit log <span class="mono">${e(m.verification.origin)}</span>.</p>`,
    summaryLine(m.verification),
    `<p>Audited runs that started from ${e(period)}: <strong>${e(m.runs.length)}</strong> (${e(m.runs.filter((r) => r.status === 'ok').length)} ok, ${e(m.runs.filter((r) => r.status === 'failed' || r.status === 'terminated').length)} failed, ${e(m.runs.filter((r) => r.status === 'incomplete').length)} incomplete).</p>`,
  ];
  if (m.runs.length > 0 && m.runs.length <= 200) body.push(`<h2>Diagram</h2>${lineageSvg(m.runs)}`);
  body.push(`<h2>Timeline</h2>${timelineHtml(m.runs, m.notes)}`);
  if (m.runs.length > 0) body.push(`<h2>Runs</h2>${m.runs.map((r, i) => stepHtml(r, i + 1)).join('\n')}`);
  body.push(`<h2>Trusted time</h2>${trustedTimeHtml(m.verification.time, false)}`);
  body.push(`<h2>Verification</h2>${verificationHtml(m.verification, null)}`);
  return page(`Activity report: ${period}`, body.join('\n'));
}
