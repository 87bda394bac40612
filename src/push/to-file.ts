/**
 * `ffaudit push --to FILE`: what a push would send, written into one file (core/push-file.ts) for a team server with
 * no network to this host (`ffaudit serve import FILE` takes it in with the same checks). The server's answers do
 * not come back this way, so the file starts from what the server is known to hold: `since` (the size it holds for
 * this log, as `serve import` reports it), else the largest size its witness cosigned that the ledger knows of,
 * else the beginning.
 */
import { sha256Hex } from '../core/entry.js';
import { FfauditError } from '../core/errors.js';
import { blobRecordBody, encodePushRecord, PUSH_FILE_MAGIC, PUSH_RECORD } from '../core/push-file.js';
import type { Ledger } from '../ledger/ledger.js';
import { atomicFile } from '../ledger/safe-files.js';
import { addEntriesRequest, planPush } from './plan.js';

export interface PushFileSummary {
  /** The checkpoint written: from oldSize to size. */
  oldSize: number;
  size: number;
  entries: number;
  /** add-entries records. */
  requests: number;
  blobs: number;
  bytes: number;
}

/**
 * Writes the push file at `path` (whole or not at all: safe-files.ts atomicFile): the add-checkpoint record from
 * `since` to the head, the add-entries records for entries [since, head), each followed by the blobs its entries
 * name (each blob once).
 */
export function writePushFile(ledger: Ledger, path: string, opts: { since?: number | undefined } = {}): PushFileSummary {
  const size = ledger.size();
  if (size === 0) throw new FfauditError('NOT_FOUND', 'the ledger is empty: there is nothing to push');
  const server = ledger.server();
  const known = server ? (ledger.lastCosigned(server.config.url, server.witness.name)?.size ?? 0) : 0;
  const since = opts.since ?? known;
  if (!Number.isSafeInteger(since) || since < 0 || since > size) throw new FfauditError('USAGE', `--since must be a size from 0 to ${size}`);
  const plan = planPush(ledger, { witnessSize: since });
  const originHash = Buffer.from(sha256Hex(Buffer.from(ledger.origin, 'utf8')), 'hex');
  const summary: PushFileSummary = { oldSize: since, size, entries: 0, requests: 0, blobs: 0, bytes: 0 };
  let file;
  try {
    file = atomicFile(path, 0o600);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const write = (b: Buffer | string) => {
      file.write(b);
      summary.bytes += typeof b === 'string' ? Buffer.byteLength(b) : b.length;
    };
    write(PUSH_FILE_MAGIC);
    write(encodePushRecord({ type: PUSH_RECORD.addCheckpoint, body: plan.addCheckpoint!.body }));
    const sent = new Set<string>();
    for (let start = since; start < size; ) {
      const req = addEntriesRequest(ledger, start, size)!;
      write(encodePushRecord({ type: PUSH_RECORD.addEntries, body: req.body }));
      summary.requests++;
      summary.entries += req.end - req.uploadStart;
      for (const b of req.blobs) {
        if (sent.has(b.sha256)) continue;
        sent.add(b.sha256);
        const data = ledger.blob(b.sha256);
        if (!data) continue; // missing from the ledger: verify reports it (blob-missing)
        write(encodePushRecord({ type: PUSH_RECORD.blob, body: blobRecordBody(originHash, Buffer.from(b.sha256, 'hex'), data) }));
        summary.blobs++;
      }
      start = req.end;
    }
    file.commit();
  } catch (e) {
    file.abort();
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return summary;
}
