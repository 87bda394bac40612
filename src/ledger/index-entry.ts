/**
 * Derived search indexes, filled in the append transaction from the entry being appended. They are conveniences
 * (ARCHITECTURE.md invariant 5): readers confirm every hit against the entries themselves.
 */
import type { EntryBase, FileRecord } from '../core/entry.js';
import type { AppendTx } from '../store/types.js';

function files(v: unknown): FileRecord[] {
  return Array.isArray(v) ? (v.filter((f) => f && typeof f === 'object' && typeof (f as FileRecord).path === 'string') as FileRecord[]) : [];
}

export function indexEntry(tx: AppendTx, index: number, e: EntryBase): void {
  switch (e.type) {
    case 'custody.note':
      for (const f of files(e.files)) tx.indexFile(f.sha256, f.path, index, 'note');
      break;
    case 'run.start': {
      tx.indexRun({ id: String(e.run), startIndex: index, endIndex: null, tool: String(e.tool), user: e.by.user, time: e.time, status: null });
      for (const f of files(e.inputs)) tx.indexFile(f.sha256, f.path, index, 'input');
      break;
    }
    case 'run.end': {
      const start = typeof e.start === 'number' ? e.start : -1;
      tx.indexRun({ id: String(e.run), startIndex: start, endIndex: index, tool: '', user: e.by.user, time: e.time, status: String(e.status) });
      for (const f of files(e.inputs)) tx.indexFile(f.sha256, f.path, index, 'input');
      for (const f of files(e.outputs)) tx.indexFile(f.sha256, f.path, index, 'output');
      break;
    }
    default:
      break;
  }
}
