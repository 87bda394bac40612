/** Human output for trace and verify-bundle: the lineage drawn as a tree, and the bundle verdict. */
import type { BundleVerdict } from '../core/bundle.js';
import type { FileRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import { runCommandLine } from '../render/shell-quote.js';
import type { Lineage, TraceNote } from '../ledger/trace.js';
import { lineageToJson, producedBefore, type LineageRun } from '../lineage/walk.js';

const MARK: Record<string, string> = { ok: '✓', failed: '✗', terminated: '✗', incomplete: '?' };

/** Recorded text is shown verbatim but never allowed to drive the terminal (escape sequences, carriage returns). */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function who(r: { user: string; host: string; uid: number | null; asserted_actor?: string | null }): string {
  return `${r.user}@${r.host}${r.uid !== null ? ` (uid ${r.uid})` : ''}${r.asserted_actor ? ` as asserted: ${r.asserted_actor}` : ''}`;
}

function runLine(r: RunRecord): string {
  const exit = r.exit_code !== null ? ` exit ${r.exit_code}` : r.signal ? ` signal ${r.signal}` : '';
  return `${MARK[r.status] ?? '?'} ${r.tool} run ${r.id}  ${r.status}${exit}  ${r.started_at}  by ${who(r)}`;
}

/** Draws the lineage of `lineage.file` as a tree: each file, the run(s) that produced it, their inputs, and so on. */
export function formatLineageTree(lineage: Lineage): string {
  const out: string[] = [];
  const shown = new Set<string>();
  const sourceBasis = new Map(lineage.sources.filter((s) => s.sha256 !== null).map((s) => [s.sha256!, s.basis]));
  const SOURCE_TAG: Record<string, string> = {
    signed: '  [source: the signed entry of the run that read it records that no run had produced these bytes]',
    'index-checked': '  [source: no audited run produced these bytes]',
    unproven: '  [source? no producer found in the search index, which was not checked: unproven]',
  };
  // A producer must have finished before the run that read its output started (walk.ts producedBefore: entry order
  // inside a log, recorded times across logs); the file traced has no reader, so every producer of it counts.
  const step = (r: LineageRun) => ({ log: r.log ?? lineage.log, run: r });
  const producersOf = (sha: string, reader: LineageRun | undefined) =>
    lineage.runs.filter((r) => r.outputs.some((o) => o.sha256 === sha) && (reader === undefined ? r.entries[1] !== undefined : producedBefore(step(r), step(reader))));

  const drawRun = (r: LineageRun, prefix: string, last: boolean, file: FileRecord) => {
    const branch = last ? '└─ ' : '├─ ';
    const cont = prefix + (last ? '   ' : '│  ');
    if (shown.has(r.id)) {
      out.push(`${prefix}${branch}produced by run ${r.id} (shown above)`);
      return;
    }
    shown.add(r.id);
    // The same bytes under another name: renamed or copied since this run wrote them.
    const written = r.outputs.find((o) => o.sha256 === file.sha256);
    const as = written && written.path !== file.path ? `  (written as ${written.path})` : '';
    // A run recorded in another log than the lineage's own says which (its entry indices are that log's).
    const where = r.log !== undefined && r.log !== lineage.log ? `  in log ${r.log}` : '';
    out.push(`${prefix}${branch}produced by ${printable(runLine(r) + where + as)}`);
    out.push(`${cont}$ ${printable(runCommandLine(r))}`);
    r.inputs.forEach((f, i) => drawFile(f, cont, i === r.inputs.length - 1, r));
  };
  const drawFile = (f: FileRecord, prefix: string, last: boolean, reader: LineageRun) => {
    const branch = last ? '└─ ' : '├─ ';
    const cont = prefix + (last ? '   ' : '│  ');
    if (f.sha256 === null) {
      out.push(`${prefix}${branch}${printable(f.path)}  [source: not a file, no content hash]`);
      return;
    }
    const producers = producersOf(f.sha256, reader);
    const basis = sourceBasis.get(f.sha256);
    const tag = producers.length === 0 && basis ? SOURCE_TAG[basis]! : '';
    out.push(`${prefix}${branch}${printable(f.path)}  sha256 ${f.sha256}${tag}`);
    producers.forEach((r, i) => drawRun(r, cont, i === producers.length - 1, f));
  };

  out.push(`${printable(lineage.file.path)}`, `sha256 ${lineage.file.sha256}`);
  const producers = producersOf(lineage.file.sha256, undefined);
  if (producers.length === 0) {
    out.push(
      lineage.indexChecked
        ? '   no audited run produced these bytes (the search index was checked against every entry): this file is a source'
        : '   no producer found in the search index, which was not checked (--no-index-check): unproven',
    );
  }
  const target: FileRecord = { path: lineage.file.path, size: null, sha256: lineage.file.sha256 };
  producers.forEach((r, i) => drawRun(r, '', i === producers.length - 1, target));
  out.push('', `${lineage.runs.length} run${lineage.runs.length === 1 ? '' : 's'} in the lineage, ${lineage.sources.length} source${lineage.sources.length === 1 ? '' : 's'}`);
  if (lineage.notes.length > 0) {
    out.push('', 'custody notes:');
    for (const n of lineage.notes) out.push(`  ${formatNote(n)}`);
  }
  if (lineage.readBy.length > 0) {
    out.push('', 'read by:');
    for (const r of lineage.readBy) out.push(`  ${printable(runLine(r))}`, `    $ ${printable(runCommandLine(r))}`);
  }
  return `${out.join('\n')}\n`;
}

function formatNote(n: TraceNote): string {
  const files = n.files.map((f) => f.path).join(', ');
  return printable(`entry ${n.index}  ${n.time}  by ${who({ ...n.by, asserted_actor: n.by.asserted_actor ?? null })}: ${JSON.stringify(n.text)}${files ? `  (files: ${files})` : ''}`);
}

export const KEY_NOT_VERIFIED = [
  '!!! WARNING: THE LOG KEY WAS NOT VERIFIED !!!',
  '!!! This bundle carries its own key, so anyone could have made a self-consistent one. It shows that the',
  '!!! bundle is internally consistent, not who signed it. Obtain the log\'s verifier key from its keeper',
  '!!! independently and run again with --pubkey VKEY_FILE (or compare the key fingerprint above).',
];

/** `time`: the lines about trusted time (trusted-time.ts formatTimeVerdict), shown before the verdict. */
export function formatBundleVerdict(path: string, v: BundleVerdict, time: readonly string[] = []): string {
  const lines = [`bundle      ${printable(path)}`];
  if (v.origin !== null) lines.push(`log         ${printable(v.origin)}${v.checkpointSize !== null ? `, checkpoint at tree size ${v.checkpointSize}` : ''}`);
  if (v.keyName !== null) lines.push(`key         ${printable(v.keyName)} (key ID ${v.keyId}), fingerprint SHA-256 ${v.keyFingerprint}${v.keyVerified ? ' (the key you gave)' : " (the bundle's own key: NOT verified)"}`);
  if (v.quorum) {
    const who = v.quorum.witnesses.length > 0 ? v.quorum.witnesses.map(printable).join(', ') : 'none of its witnesses';
    lines.push(`witnesses   ${who} cosigned the checkpoint: the policy's quorum ${printable(v.quorum.quorum)} is ${v.quorum.met ? 'met' : 'NOT met'}`);
  }
  if (v.origin !== null) lines.push(`checked     ${v.entries} entries (hash and inclusion proof each), the checkpoint signature, ${v.blobs} blob${v.blobs === 1 ? '' : 's'}, ${v.runs.length} run${v.runs.length === 1 ? '' : 's'} chained by content`);
  // A bundle across logs (ffaudit-bundle/v2): each log's checkpoint and key on lines of their own.
  for (const l of v.logs ?? []) {
    lines.push(`log         ${printable(l.origin)}: ${l.entries} entr${l.entries === 1 ? 'y' : 'ies'}${l.checkpointSize !== null ? `, checkpoint at tree size ${l.checkpointSize}` : ''}`);
    if (l.keyName !== null) lines.push(`  key       ${printable(l.keyName)} (key ID ${l.keyId}), fingerprint SHA-256 ${l.keyFingerprint}${v.keyVerified ? ' (the key you gave)' : " (the bundle's own key: NOT verified)"}`);
    else lines.push('  key       none given for this log: NOT verified');
    if (l.quorum) {
      const who = l.quorum.witnesses.length > 0 ? l.quorum.witnesses.map(printable).join(', ') : 'none of its witnesses';
      lines.push(`  witnesses ${who} cosigned the checkpoint: the policy's quorum ${printable(l.quorum.quorum)} is ${l.quorum.met ? 'met' : 'NOT met'}`);
    }
  }
  if (v.logs) {
    const n = v.logs.length;
    lines.push(`checked     ${v.entries} entries (hash and inclusion proof each, against their own log's checkpoint), ${n} checkpoint signature${n === 1 ? '' : 's'}, ${v.blobs} blob${v.blobs === 1 ? '' : 's'}, ${v.runs.length} run${v.runs.length === 1 ? '' : 's'} chained by content`);
  }
  if ((v.origin !== null || v.logs) && v.runs.length > 0) {
    const l = v.lineage;
    lines.push(`steps       ${l.signedLinks} input${l.signedLinks === 1 ? '' : 's'} linked to ${l.signedLinks === 1 ? 'its' : 'their'} producer by signed entries, ${l.contentLinks} by content only (recorded without a producer link${v.logs ? ', or produced in another log' : ''})`);
    lines.push(`sources     ${l.signedSources.length} recorded as such in signed entries; ${l.unsignedSources.length} named only by the bundle's own list (an unsigned label: no entry says that no run produced them)`);
  }
  // The subject's path is the bundle's unsigned label; its hash is what the entries name.
  for (const s of v.subjects) lines.push(`vouches for ${printable(s.path)}  sha256 ${s.sha256}`);
  if (v.file) {
    const by = v.file.producedBy.length > 0 ? `, produced by run ${v.file.producedBy.join(', ')}` : v.file.subject ? ' (no run in the bundle produced it)' : '';
    lines.push(`file        sha256 ${v.file.sha256}${v.file.subject ? ` matches${by}` : ' does NOT match'}`);
  }
  lines.push(...time);
  if (v.ok) {
    lines.push(`verdict     VALID${v.keyVerified ? '' : ' (but the key was NOT verified: see the warning)'}`);
    lines.push(
      v.logs
        ? 'proves      every entry is exactly as its log signed it, and no step that a signed entry links to is missing;'
        : 'proves      every entry is exactly as the log signed it, and no step that a signed entry links to is missing;',
      v.logs
        ? "            a step from one log to another rests on the two hosts' recorded times (their clocks), not on a signature;"
        : '            not that the log holds nothing else about these files (that needs the whole log: ffaudit verify);',
      ...(v.logs ? ['            not that the logs hold nothing else about these files (that needs each whole log: ffaudit verify);'] : []),
      "            unsigned: the bundle's date, its subject paths and its sources list",
    );
  }
  else {
    lines.push(`verdict     INVALID: ${v.failures.length} problem${v.failures.length === 1 ? '' : 's'}`);
    for (const f of v.failures.slice(0, 50)) lines.push(`  ✗ ${printable(f)}`);
    if (v.failures.length > 50) lines.push(`  … and ${v.failures.length - 50} more`);
  }
  if (!v.keyVerified) lines.push(...KEY_NOT_VERIFIED);
  return `${lines.join('\n')}\n`;
}

/** `trace --json`: one line (walk.ts lineageToJson). */
export function lineageJson(t: Lineage): string {
  return `${JSON.stringify(lineageToJson(t))}\n`;
}
