/**
 * `ffaudit serve import FILE`: the air-gapped path. A push file (core/push-file.ts) holds the requests a host's push
 * would have sent; each record is handed to the server's own routes in this process (POST /add-checkpoint, POST
 * /add-entries, PUT /blobs/<origin hash>/<sha256>), so it meets exactly the checks, bounds, transactions and answers
 * of a request over the network: nothing is parsed, trusted or stored here that the endpoint would not.
 */
import { createReadStream } from 'node:fs';
import type { Hono } from 'hono';
import { FfauditError } from '../core/errors.js';
import { parseMirrorInfo } from '../core/mirror-protocol.js';
import { parseBlobRecord, PushFileParser, PUSH_RECORD, type PushRecord } from '../core/push-file.js';
import { parseAddCheckpoint } from '../core/witness-protocol.js';
import type { AppEnv } from './deps.js';

export type ImportedRecordType = 'add-checkpoint' | 'add-entries' | 'blob';

/** What became of one record: the endpoint's status and one line saying what it means. */
export interface ImportedRecord {
  /** 1 for the first record. */
  index: number;
  type: ImportedRecordType;
  /** What the record is: the origin and range, the blob's name. */
  what: string;
  status: number;
  line: string;
}

const TYPE_NAME: Record<number, ImportedRecordType> = { [PUSH_RECORD.addCheckpoint]: 'add-checkpoint', [PUSH_RECORD.addEntries]: 'add-entries', [PUSH_RECORD.blob]: 'blob' };

/** The first line of a plain-text answer, for the report. */
function firstLine(text: string): string {
  return text.split('\n')[0]!.trim() || '(no body)';
}

function describe(type: ImportedRecordType, status: number, body: string): string {
  if (type === 'add-checkpoint') {
    if (status === 200) {
      // One name per cosigner: the witness signs with each of its keys under its one name.
      const names = new Set(body.split('\n').filter((l) => l.startsWith('\u2014 ')).map((l) => l.split(' ')[1]));
      return `cosigned by ${[...names].join(', ') || 'the witness'}`;
    }
    if (status === 409) return `the witness holds the log at size ${firstLine(body)}`;
    return firstLine(body);
  }
  if (type === 'add-entries' && (status === 202 || status === 409)) {
    try {
      const i = parseMirrorInfo(body);
      return status === 202 ? `partly taken: next entry ${i.next}, of a pending checkpoint of size ${i.size}` : `the mirror needs entries from ${i.next}, for a pending checkpoint of size ${i.size}`;
    } catch {
      return firstLine(body);
    }
  }
  if (type === 'add-entries' && status === 200) return 'all entries in: the mirror cosigned';
  return firstLine(body);
}

/** The request a record stands for, and what to call it in the report. Untrusted bytes: what cannot be read names nothing. */
function requestFor(r: PushRecord): { what: string; path: string; method: string; body: Buffer } {
  if (r.type === PUSH_RECORD.addCheckpoint) {
    let what = '';
    try {
      what = parseAddCheckpoint(r.body).checkpoint.split('\n')[0]!;
    } catch {
      // Malformed: the endpoint says why.
    }
    return { what, path: '/add-checkpoint', method: 'POST', body: r.body };
  }
  if (r.type === PUSH_RECORD.addEntries) {
    let what = '';
    const b = r.body;
    if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0) + 16) {
      const n = b.readUInt16BE(0);
      what = `${b.subarray(2, 2 + n).toString('utf8')} [${b.readBigUInt64BE(2 + n)}, ${b.readBigUInt64BE(2 + n + 8)})`;
    }
    return { what, path: '/add-entries', method: 'POST', body: r.body };
  }
  const blob = parseBlobRecord(r.body);
  const sha = blob.blobSha256.toString('hex');
  return { what: `${sha} (${blob.data.length} bytes)`, path: `/blobs/${blob.originSha256.toString('hex')}/${sha}`, method: 'PUT', body: blob.data };
}

/**
 * Applies every record of the push file at `path` through `app` (the server's hono app), in order, calling
 * `onRecord` after each. BAD_INPUT when the file is not a push file or ends inside a record (what came before is
 * applied and reported); a record the endpoint refuses is reported and counted, and the next one is applied.
 */
export async function importPushFile(app: Hono<AppEnv>, path: string, onRecord: (r: ImportedRecord) => void): Promise<{ records: number; refused: number }> {
  const parser = new PushFileParser();
  let records = 0;
  let refused = 0;
  const apply = async (r: PushRecord): Promise<void> => {
    const req = requestFor(r);
    const res = await app.request(req.path, { method: req.method, body: req.body, headers: { 'content-type': 'application/octet-stream' } });
    const type = TYPE_NAME[r.type]!;
    const rec: ImportedRecord = { index: ++records, type, what: req.what, status: res.status, line: describe(type, res.status, await res.text()) };
    if (rec.status >= 300) refused++;
    onRecord(rec);
  };
  // One record held at a time: the file is read a chunk at a time, each whole record applied before reading on.
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) {
      parser.push(chunk as Buffer);
      for (let r = parser.next(); r; r = parser.next()) await apply(r);
    }
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('IO', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    stream.destroy();
  }
  parser.end();
  return { records, refused };
}
