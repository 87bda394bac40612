export type { AppendTx, CosignatureRow, Head, RunIndexRow, Store, StoredEntry, TimestampRow } from './types.js';
export { SqliteStore, BUSY_TIMEOUT_MS, EXPECTED_TRIGGERS } from './sqlite.js';
