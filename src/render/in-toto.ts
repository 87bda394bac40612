/**
 * Runs as in-toto Statements v1 (github.com/in-toto/attestation spec/v1/statement.md) with the link predicate
 * v0.3 (spec/predicates/link.md): the outputs are the `subject`, the inputs with digests the `materials`, the
 * command line the `command`, and the exit status `byproducts["return-value"]`.
 *
 * Each ResourceDescriptor needs a `name` and a `digest`, and names must be unique within `subject` and within
 * `materials`: files without a SHA-256 (pipes, network URLs) cannot be described and are listed in byproducts.
 * A Statement's `subject` must hold at least one ResourceDescriptor (statement.md, "Fields": subject, "Set of
 * software artifacts that the attestation applies to", REQUIRED, with "at least one entry"): a run with no hashed
 * output, or a custody note that names no hashed file, has no Statement (the functions return null).
 */
import type { FileRecord, NoteRecord } from '../core/entry.js';
import type { RunRecord } from '../core/run.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const LINK_PREDICATE_TYPE = 'https://in-toto.io/attestation/link/v0.3';

export interface ResourceDescriptor {
  name: string;
  digest: { sha256: string };
}

export interface LinkStatement {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: typeof LINK_PREDICATE_TYPE;
  predicate: {
    name: string;
    command: string[];
    materials: ResourceDescriptor[];
    byproducts: Record<string, unknown>;
    environment: Record<string, unknown>;
  };
}

/** Unique names: a second file recorded under the same path with other content gets a `#2` suffix. */
function descriptors(files: readonly FileRecord[]): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  for (const f of files) {
    if (f.sha256 === null) continue;
    if (out.some((d) => d.name === f.path && d.digest.sha256 === f.sha256)) continue;
    let name = f.path;
    for (let n = 2; out.some((d) => d.name === name); n++) name = `${f.path}#${n}`;
    out.push({ name, digest: { sha256: f.sha256 } });
  }
  return out;
}

export function runToInToto(run: RunRecord, origin: string): LinkStatement | null {
  const subject = descriptors(run.outputs);
  if (subject.length === 0) return null;
  const byproducts: Record<string, unknown> = { 'return-value': run.exit_code, status: run.status };
  if (run.signal !== null) byproducts.signal = run.signal;
  const unhashed = [...run.inputs, ...run.outputs].filter((f) => f.sha256 === null).map((f) => f.path);
  if (unhashed.length > 0) byproducts['unhashed-files'] = unhashed;
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: LINK_PREDICATE_TYPE,
    predicate: {
      name: run.tool,
      command: [run.ffmpeg.path, ...run.argv],
      materials: descriptors(run.inputs),
      byproducts,
      environment: {
        user: run.user,
        uid: run.uid,
        host: run.host,
        asserted_actor: run.asserted_actor,
        reason: run.reason,
        cwd: run.cwd,
        started_at: run.started_at,
        ended_at: run.ended_at,
        ffmpeg: run.ffmpeg,
        ffaudit: { origin, run: run.id, entries: run.entries },
      },
    },
  };
}

/**
 * A custody note as a link Statement: the step is a person's (`predicate.name` "custody-note", no command), the
 * subjects are the files the note names with their digests, and the note's text is a byproduct. Null when the
 * note names no hashed file.
 */
export function noteToInToto(note: NoteRecord, origin: string): LinkStatement | null {
  const subject = descriptors(note.files);
  if (subject.length === 0) return null;
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: LINK_PREDICATE_TYPE,
    predicate: {
      name: 'custody-note',
      command: [],
      materials: [],
      byproducts: { text: note.text },
      environment: {
        user: note.user,
        uid: note.uid,
        host: note.host,
        asserted_actor: note.asserted_actor,
        time: note.time,
        ffaudit: { origin, entry: note.index },
      },
    },
  };
}
