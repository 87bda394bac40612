/** Worker thread for `verify`: scans the blocks it is sent over its own read-only connection. */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../store/sqlite.js';
import { scanBlock, type BlockJob } from './verify-scan.js';

const store = SqliteStore.open((workerData as { path: string }).path, { readonly: true });
parentPort!.on('message', (job: BlockJob | null) => {
  if (job === null) {
    store.close();
    parentPort!.close();
    return;
  }
  try {
    parentPort!.postMessage({ ok: true, result: scanBlock(store, job) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
