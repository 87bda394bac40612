/**
 * Tracing a file's lineage by content: the runs that produced these bytes, the runs that produced their inputs,
 * and so on back to sources that no audited run produced. A pure function of a LineageLookup (lookup.ts): the
 * local ledger answers from its search index, an index over many logs from its own.
 *
 * The lookup only says where to look (docs/design.md invariant 5): a run is kept only if its own record names the
 * content, and saying that no run produced some content rests on the lookup's index being proven complete.
 */
import { SHA256_HEX, type Author, type FileRecord } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import type { InputRecord, RunRecord } from '../core/run.js';
import { isFileRecord } from '../core/run-shape.js';
import { parseTimeNs } from '../time/time.js';
import type { LineageLookup, NoteStep, Step } from './lookup.js';

export interface TraceNote {
  index: number;
  time: string;
  by: Author;
  text: string;
  files: FileRecord[];
  /** The origin of the log that holds the note, only when it is not the lineage's own log. */
  log?: string;
}

/** A run of the lineage; `log` names the log that holds it, only when that is not the lineage's own log. */
export type LineageRun = RunRecord & { log?: string };

/**
 * Why a content counts as a source (no run produced it): `signed`, the run that read it recorded in its signed
 * end that no run had (`produced_by: "none"`); `index-checked`, no producer in a search index proven complete
 * against every entry in this very trace; `unproven`, only that no producer was found in the index (not checked).
 */
export type SourceBasis = 'signed' | 'index-checked' | 'unproven';

export interface LineageSource extends FileRecord {
  /** Null for inputs that are not files (no content hash): nothing is claimed about their producers. */
  basis: SourceBasis | null;
}

export interface TraceOptions {
  /** Check the search index against the entries before saying that no run produced some content (default true). */
  checkIndex?: boolean;
}

export interface Lineage {
  /** The origin of the log the file was traced in (its own log): runs and notes of other logs name theirs. */
  log: string;
  file: { path: string; sha256: string };
  /** False when no run produced or read these bytes and no custody note names them. */
  known: boolean;
  /** The runs in the lineage, oldest first (sources first, the run that produced the file last). */
  runs: LineageRun[];
  /** Inputs of lineage runs that no earlier audited run produced (sha256 null: not a file, e.g. a lavfi graph or URL). */
  sources: LineageSource[];
  /** The search index was checked against every entry up to the head in this trace (it is, whenever a source is claimed). */
  indexChecked: boolean;
  /** Custody notes naming any content in the lineage, oldest first. */
  notes: TraceNote[];
  /** Runs that read the file's bytes (its uses, not its lineage), oldest first. */
  readBy: LineageRun[];
}

/** Entries are untrusted input too: a run whose file lists are not lists of file records stops the trace clearly. */
function wellFormed(step: Step): Step {
  const run = step.run;
  const ok = (v: unknown) => Array.isArray(v) && v.every(isFileRecord);
  if (!ok(run.inputs) || !ok(run.outputs) || !Array.isArray(run.argv) || !Array.isArray(run.entries)) {
    throw new FfauditError('INTEGRITY', `run ${String(run.id)} (entry ${String(run.entries?.[0])}) is malformed: its inputs, outputs or arguments are not what a run records`);
  }
  return step;
}

function names(files: readonly FileRecord[], sha: string): boolean {
  return files.some((f) => f.sha256 === sha);
}

const key = (s: Step) => `${s.log}\n${s.run.id}`;

/**
 * Whether `producer` had finished writing before `consumer` started. Inside one log the entry indices order them:
 * the producer's end precedes the consumer's start. Across logs only the recorded times can: the producer ended
 * at or before the consumer started. The clocks of different hosts may differ, so a cross-log step is only as
 * sound as those clocks; a time that cannot be read orders nothing.
 */
export function producedBefore(producer: Step, consumer: Step): boolean {
  const end = producer.run.entries[1];
  if (end === undefined) return false;
  if (producer.log === consumer.log) return end < consumer.run.entries[0]!;
  const ended = producer.run.ended_at === null ? null : parseTimeNs(producer.run.ended_at);
  const started = parseTimeNs(consumer.run.started_at);
  return ended !== null && started !== null && ended <= started;
}

/**
 * Oldest first: by entry index inside each log (the log's own order), and the logs merged by recorded time (ties:
 * the lineage's own log first, then by origin).
 */
function oldestFirst<T>(items: readonly T[], home: string, log: (t: T) => string, index: (t: T) => number, time: (t: T) => string): T[] {
  const byLog = new Map<string, { t: T; ns: bigint }[]>();
  for (const t of items) {
    let l = byLog.get(log(t));
    if (!l) byLog.set(log(t), (l = []));
    l.push({ t, ns: parseTimeNs(time(t)) ?? 0n });
  }
  if (byLog.size === 1) return [...items].sort((a, b) => index(a) - index(b));
  const lists = [...byLog].map(([origin, l]) => ({ rank: origin === home ? '' : origin, l: l.sort((a, b) => index(a.t) - index(b.t)), at: 0 }));
  const out: T[] = [];
  for (;;) {
    let best: (typeof lists)[number] | undefined;
    for (const c of lists) {
      if (c.at === c.l.length) continue;
      if (!best) best = c;
      else {
        const x = c.l[c.at]!.ns;
        const y = best.l[best.at]!.ns;
        if (x < y || (x === y && c.rank < best.rank)) best = c;
      }
    }
    if (!best) return out;
    out.push(best.l[best.at++]!.t);
  }
}

/**
 * Walks the lineage of the content `file.sha256` (the file at `file.path`), traced in the log `home`. Saying that
 * no run produced some content rests on the lookup's index being complete, and an index is not evidence (anyone
 * with write access can delete its rows): so unless the signed entries say it, the lookup is first asked to prove
 * its index complete (indexProblems); a problem stops the trace (exit 1) rather than let a deleted row turn a
 * rendered file into a "source".
 */
export async function walkLineage(lookup: LineageLookup, home: string, file: { path: string; sha256: string }, opts: TraceOptions = {}): Promise<Lineage> {
  const sha = file.sha256.toLowerCase();
  const lineage = new Map<string, Step>();
  const sources = new Map<string, LineageSource>();
  const seen = new Set<string>([sha]); // every content hash in the lineage, for custody notes
  // Each queue item is one (content, consumer) pair; items are queued only for runs newly added to the lineage,
  // so the walk ends. A content is a source for a consumer when no run produced it before that consumer started.
  const queue: { sha: string; consumer?: Step; asInput?: InputRecord }[] = [{ sha }];
  while (queue.length > 0) {
    const { sha: s, consumer, asInput } = queue.shift()!;
    const found = (await lookup.producersOf(s)).map(wellFormed).filter((p) => names(p.run.outputs, s) && (consumer ? producedBefore(p, consumer) : p.run.entries[1] !== undefined));
    if (found.length === 0 && asInput && !sources.has(s)) sources.set(s, { ...asInput, basis: asInput.produced_by === 'none' ? 'signed' : 'unproven' });
    for (const step of found) {
      if (lineage.has(key(step))) continue;
      lineage.set(key(step), step);
      const run = step.run;
      for (const f of [...run.inputs, ...run.outputs]) if (f.sha256 && SHA256_HEX.test(f.sha256)) seen.add(f.sha256);
      for (const input of run.inputs) {
        if (input.sha256 === null) {
          const k = `unhashed:${input.path}`;
          if (!sources.has(k)) sources.set(k, { ...input, basis: null });
        } else {
          queue.push({ sha: input.sha256, consumer: step, asInput: input });
        }
      }
    }
  }

  const readBy = new Map<string, Step>();
  for (const step of (await lookup.readersOf(sha)).map(wellFormed)) {
    if (names(step.run.inputs, sha) && !readBy.has(key(step))) readBy.set(key(step), step);
  }
  const notes = new Map<string, NoteStep & { files: FileRecord[] }>();
  for (const s of seen) {
    for (const n of await lookup.notesNaming(s)) {
      const k = `${n.log}\n${n.index}`;
      if (notes.has(k)) continue;
      const files = Array.isArray(n.note.files) ? n.note.files.filter((f) => f && typeof f === 'object' && typeof f.sha256 === 'string') : [];
      if (!files.some((f) => seen.has(f.sha256!))) continue;
      notes.set(k, { ...n, files });
    }
  }

  const runOrder = (steps: Iterable<Step>) =>
    oldestFirst([...steps], home, (s) => s.log, (s) => s.run.entries[0]!, (s) => s.run.started_at).map((s): LineageRun => (s.log === home ? s.run : { ...s.run, log: s.log }));
  const runs = runOrder(lineage.values());
  // Negative claims: the file itself has no producer (a source, or unknown), or an input is a source by the index only.
  const unproven = [...sources.values()].filter((x) => x.basis === 'unproven');
  let indexChecked = false;
  if ((runs.length === 0 || unproven.length > 0) && opts.checkIndex !== false) {
    const problems = await lookup.indexProblems();
    if (problems.length > 0) {
      throw new FfauditError(
        'INTEGRITY',
        `the search index disagrees with the entries (${problems.join('; ')}): it was altered, so it cannot show which runs produced these bytes (run ffaudit verify)`,
      );
    }
    indexChecked = true;
    for (const x of unproven) x.basis = 'index-checked';
  }
  const readers = runOrder(readBy.values());
  return {
    log: home,
    file: { path: file.path, sha256: sha },
    known: runs.length > 0 || readers.length > 0 || notes.size > 0,
    runs,
    sources: [...sources.values()],
    indexChecked,
    notes: oldestFirst([...notes.values()], home, (n) => n.log, (n) => n.index, (n) => n.note.time).map((n) => ({
      index: n.index,
      time: n.note.time,
      by: n.note.by,
      text: typeof n.note.text === 'string' ? n.note.text : '',
      files: n.files,
      ...(n.log === home ? {} : { log: n.log }),
    })),
    readBy: readers,
  };
}

/**
 * A lineage as `trace --json` prints it and GET /api/v1/lineage answers (the same object, one contract): `log` names
 * the log the file was traced in; each run and note of another log carries its own `log`.
 */
export function lineageToJson(l: Lineage): Record<string, unknown> {
  return {
    file: l.file,
    known: l.known,
    runs: l.runs,
    sources: l.sources,
    index_checked: l.indexChecked,
    notes: l.notes,
    read_by: l.readBy,
    log: l.log,
  };
}
