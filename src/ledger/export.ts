/**
 * What `ffaudit export` writes: the runs that started in a period and the custody notes recorded in it, in log
 * order (a run by the index of its start entry), as Elastic Common Schema documents or in-toto Statements.
 */
import { IN_TOTO_PAYLOAD_TYPE, signDsse } from '../core/dsse.js';
import type { NoteRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';
import { noteToEcs, runToEcs } from '../render/ecs.js';
import { noteToInToto, runToInToto } from '../render/in-toto.js';
import { runsInPeriod, type Period } from './activity.js';
import type { Ledger } from './ledger.js';
import { scanNotes, type NoteFilter } from './notes.js';

export type ExportItem = { run: RunRecord; note?: undefined } | { run?: undefined; note: NoteRecord };

export function* exportDocuments(ledger: Ledger, p: Period): Generator<ExportItem> {
  const f: NoteFilter = {};
  if (p.since !== undefined) f.sinceNs = p.since;
  if (p.until !== undefined) f.untilNs = p.until;
  const { notes, unreadable } = scanNotes(ledger, f);
  // An export is evidence handed to others: a note that cannot be read as recorded stops it, as a run does.
  if (unreadable.length > 0) throw unreadable[0]!.error;
  let next = 0;
  for (const run of runsInPeriod(ledger, p)) {
    while (next < notes.length && notes[next]!.index < run.entries[0]!) yield { note: notes[next++]! };
    yield { run };
  }
  while (next < notes.length) yield { note: notes[next++]! };
}

export type ExportFormat = 'ecs' | 'in-toto';

/** A document to write, or a run or note left out: an in-toto Statement needs a subject with a digest. */
export type Exported = { doc: object; leftOut?: undefined } | { doc?: undefined; leftOut: 'runs' | 'notes' };

/** exportDocuments in `format`; with `sign` (in-toto), each Statement in a DSSE envelope signed with the ledger's key. */
export function* exportAs(ledger: Ledger, p: Period, format: ExportFormat, opts: { sign?: boolean | undefined } = {}): Generator<Exported> {
  const signer = opts.sign ? ledger.signer() : undefined;
  for (const item of exportDocuments(ledger, p)) {
    let doc: object | null;
    if (format === 'ecs') doc = item.run ? runToEcs(item.run, ledger.origin) : noteToEcs(item.note, ledger.origin);
    else doc = item.run ? runToInToto(item.run, ledger.origin) : noteToInToto(item.note, ledger.origin);
    if (doc === null) yield { leftOut: item.run ? 'runs' : 'notes' };
    else yield { doc: signer ? signDsse(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(doc), 'utf8'), signer) : doc };
  }
}
