/**
 * Derived search indexes (files by content and path, runs). They are conveniences (docs/design.md invariant 5):
 * readers confirm every hit against the entries themselves. They are filled from the stored entries after the
 * fact, in bulk and outside the durable append, so an append writes only the log and stays cheap; whoever reads
 * them first brings them up to the head (`updateIndex`).
 */
import { isBlobRef, parseEntry, resolveBlobs, type EntryBase, type FileRecord } from '../core/entry.js';
import type { IndexTx, Store } from '../store/types.js';
import { checkedBlobContent } from './blob.js';

/** Entries indexed per transaction: bounds how long an update holds the write lock. */
const CHUNK = 16_384;

const FILE_FIELDS = ['files', 'inputs', 'outputs'] as const;

/** The file records of a list, as far as they are well formed: stored bytes are untrusted, nothing is coerced. */
function files(v: unknown): { path: string; sha256: string | null }[] {
  if (!Array.isArray(v)) return [];
  const out: { path: string; sha256: string | null }[] = [];
  for (const f of v as unknown[]) {
    if (!f || typeof f !== 'object') continue;
    const { path, sha256 } = f as Partial<Record<keyof FileRecord, unknown>>;
    if (typeof path === 'string') out.push({ path, sha256: typeof sha256 === 'string' ? sha256 : null });
  }
  return out;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

export function indexEntry(tx: IndexTx, index: number, e: EntryBase): void {
  const user = text((e.by as unknown as Record<string, unknown>).user);
  switch (e.type) {
    case 'custody.note':
      for (const f of files(e.files)) tx.indexFile(f.sha256, f.path, index, 'note');
      break;
    case 'run.start': {
      tx.indexRun({ id: text(e.run), startIndex: index, endIndex: null, tool: text(e.tool), user, time: e.time, status: null });
      for (const f of files(e.inputs)) tx.indexFile(f.sha256, f.path, index, 'input');
      break;
    }
    case 'run.end': {
      const start = typeof e.start === 'number' ? e.start : -1;
      tx.indexRun({ id: text(e.run), startIndex: start, endIndex: index, tool: '', user, time: e.time, status: text(e.status) });
      for (const f of files(e.inputs)) tx.indexFile(f.sha256, f.path, index, 'input');
      for (const f of files(e.outputs)) tx.indexFile(f.sha256, f.path, index, 'output');
      break;
    }
    default:
      break;
  }
}

/**
 * An entry's bytes as the indexes read them, or null when they are left out (the one derivation shared by the
 * fill and by the check against the entries, index-check.ts).
 */
export function entryForIndex(store: Store, data: Buffer): EntryBase | null {
  try {
    const e = parseEntry(data); // a JSON object with a string type and time and an object author, or it throws
    // A file list too long for the entry lives in a blob (entry.ts): index what it holds.
    if (!FILE_FIELDS.some((k) => isBlobRef(e[k]))) return e;
    return resolveBlobs(e, (sha) => {
      const b = store.blob(sha);
      return b && checkedBlobContent(sha, b);
    });
  } catch {
    return null;
  }
}

/**
 * Brings the derived indexes up to `size` entries. Stored bytes are untrusted: an entry that does not parse, or
 * names a blob that is missing or damaged, is left out of the indexes (verify reports it; readers never rely on
 * the indexes alone).
 */
export function updateIndex(store: Store, size: number): void {
  let from = store.indexedSize();
  // A watermark that no fill could have written (beyond the head, not an integer) would freeze the indexes
  // silently: start them over.
  if (!Number.isSafeInteger(from) || from < 0 || from > size) {
    store.indexTransaction((tx) => tx.clear());
    from = 0;
  }
  while (from < size) {
    const to = Math.min(from + CHUNK, size);
    store.indexTransaction((tx) => {
      const start = tx.indexedSize(); // another process may have done part of it meanwhile
      if (start >= to) return;
      for (const { index, data } of store.entryData(start, to)) {
        const e = entryForIndex(store, data);
        if (e) indexEntry(tx, index, e);
      }
      tx.setIndexedSize(to);
    });
    from = to;
  }
}
