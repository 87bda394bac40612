/**
 * A team server's mirror of a log (`…/mirror/<hex sha256(origin)>`, src/server/mirror-tiles.ts) serves the log's
 * checkpoint with the mirror's cosignature only; the server's witness cosigned the same checkpoint and serves the
 * latest it cosigned at `…/witness/<same hash>/checkpoint` (src/server/witness.ts). When that is the very checkpoint
 * the mirror serves (same note text), its signature lines are added, so that a policy may require the server's
 * witness. When the witness is already ahead (a push between its two steps) nothing is added, and a policy requiring
 * the witness is not met for that round.
 */
import { addSignatureLines, splitSignatureLines } from '../core/cosignature.js';
import { parseNote } from '../core/note.js';
import { CHECKPOINT } from '../archive/layout.js';
import type { ArchiveSource, StoredObject } from '../archive/target.js';

const MIRROR_PATH = /\/mirror\/([0-9a-f]{64})$/;
const TIMEOUT_MS = 30_000;
const MAX_NOTE_BYTES = 64 * 1024;

/** The source itself unless it is a server's mirror; then its checkpoint carries the witness's cosignatures too. */
export function withWitnessCosignatures(source: ArchiveSource): ArchiveSource {
  const m = MIRROR_PATH.exec(source.location);
  if (!m) return source;
  const witnessUrl = `${source.location.slice(0, m.index)}/witness/${m[1]}/checkpoint`;
  return {
    location: source.location,
    noListing: source.noListing,
    list: (prefix) => source.list(prefix),
    close: () => source.close(),
    async get(name: string): Promise<StoredObject | undefined> {
      const o = await source.get(name);
      if (name !== CHECKPOINT || !o) return o;
      const lines = await witnessLines(witnessUrl, o.data.toString('utf8'));
      return lines.length === 0 ? o : { ...o, data: Buffer.from(addSignatureLines(o.data.toString('utf8'), lines)) };
    },
  };
}

/** The witness's signature lines on the same note text, or none (not there, another checkpoint, malformed). */
async function witnessLines(url: string, mirrorNote: string): Promise<string[]> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || body.length > MAX_NOTE_BYTES) return [];
    const note = body.toString('utf8');
    const witnessed = parseNote(note);
    if (witnessed.text !== parseNote(mirrorNote).text) return [];
    return splitSignatureLines(note.slice(witnessed.text.length + 1));
  } catch {
    // The witness's copy only adds cosignatures; without it the policy check says what is missing.
    return [];
  }
}
