/**
 * `ffaudit serve import FILE`: the air-gapped path. A push file (core/push-file.ts) holds the requests a host's push
 * would have sent; each record is handed to the server's own routes in this process (POST /add-checkpoint, POST
 * /add-entries, PUT /blobs/<h>/<sha256>), so it meets exactly the checks, bounds, transactions and answers of a
 * request over the network: nothing is parsed, trusted or stored here that the endpoint would not.
 *
 * Records are streamed from the file, never held whole (an add-entries body has no size bound); only a blob is read
 * twice, first to name it by its SHA-256.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { Hono } from 'hono';
import { FfauditError } from '../core/errors.js';
import { checkPushFileMagic, parsePushRecordHeader, PUSH_FILE_MAGIC, PUSH_RECORD_HEADER_BYTES, type PushRecordType } from '../core/push-file.js';
import { parseMirrorInfo } from '../core/mirror-protocol.js';
import { parseAddCheckpoint } from '../core/witness-protocol.js';
import type { AppEnv } from './deps.js';
import { originHash } from './hosts.js';

/** What became of one record: the endpoint's status and one line saying what it means. */
export interface ImportedRecord {
  /** 1 for the first record. */
  index: number;
  type: PushRecordType;
  /** What the record is: the origin and range, the blob's name. */
  what: string;
  status: number;
  line: string;
}

const CHUNK = 1 << 20;
/** An add-checkpoint record is read whole to learn its origin when it is at most this big (the endpoint bounds it anyway). */
const SMALL_RECORD = 1 << 20;

/** Bytes [start, start + length) of the file, as a request body. */
function fileRange(fh: FileHandle, start: number, length: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (at >= length) {
        ctl.close();
        return;
      }
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, length - at));
      const { bytesRead } = await fh.read(buf, 0, buf.length, start + at);
      if (bytesRead === 0) {
        ctl.error(new FfauditError('IO', 'the push file ended early'));
        return;
      }
      at += bytesRead;
      ctl.enqueue(buf.subarray(0, bytesRead));
    },
  });
}

async function readAt(fh: FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The first line of a plain-text answer, for the report. */
function firstLine(text: string): string {
  return text.split('\n')[0]!.trim() || '(no body)';
}

function describe(type: PushRecordType, status: number, body: string): string {
  if (type === 'add-checkpoint') {
    if (status === 200) {
      const names = body.split('\n').filter((l) => l.startsWith('\u2014 ')).map((l) => l.split(' ')[1]);
      return `cosigned by ${names.join(', ') || 'the witness'}`;
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

/**
 * Applies every record of the push file at `path` through `app` (the server's hono app), in order, calling
 * `onRecord` after each. BAD_INPUT when the file is not a push file or ends inside a record (what came before is
 * applied and reported); a record the endpoint refuses is reported and counted, and the next one is applied.
 */
export async function importPushFile(app: Hono<AppEnv>, path: string, onRecord: (r: ImportedRecord) => void): Promise<{ records: number; refused: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new FfauditError('IO', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const size = (await fh.stat()).size;
    checkPushFileMagic(await readAt(fh, 0, PUSH_FILE_MAGIC.length));
    let at = PUSH_FILE_MAGIC.length;
    let records = 0;
    let refused = 0;
    /** The log the records are about: a blob record names none of its own. */
    let origin: string | undefined;
    while (at < size) {
      const index = records + 1;
      const h = parsePushRecordHeader(await readAt(fh, at, PUSH_RECORD_HEADER_BYTES));
      const start = at + PUSH_RECORD_HEADER_BYTES;
      if (h.length > size - start) throw new FfauditError('BAD_INPUT', `push file: record ${index} ends before its ${h.length} bytes`);
      at = start + h.length;
      records++;
      let what = '';
      let req: { path: string; method: string; body: ReadableStream<Uint8Array> | Buffer } | undefined;
      if (h.type === 'add-checkpoint') {
        const small = h.length <= SMALL_RECORD ? await readAt(fh, start, h.length) : undefined;
        try {
          if (small) origin = parseAddCheckpoint(small).checkpoint.split('\n')[0];
        } catch {
          // Malformed: the endpoint says why.
        }
        what = origin ?? '';
        req = { path: '/add-checkpoint', method: 'POST', body: small ?? fileRange(fh, start, h.length) };
      } else if (h.type === 'add-entries') {
        const head = await readAt(fh, start, Math.min(h.length, 2 + 0xffff + 16));
        if (head.length >= 2 && head.length >= 2 + head.readUInt16BE(0) + 16) {
          const n = head.readUInt16BE(0);
          origin = head.subarray(2, 2 + n).toString('utf8');
          what = `${origin} [${head.readBigUInt64BE(2 + n)}, ${head.readBigUInt64BE(2 + n + 8)})`;
        }
        req = { path: '/add-entries', method: 'POST', body: fileRange(fh, start, h.length) };
      } else {
        const hash = createHash('sha256');
        for await (const chunk of fileRange(fh, start, h.length)) hash.update(chunk);
        const sha = hash.digest('hex');
        what = `${sha} (${h.length} bytes)`;
        if (origin !== undefined) req = { path: `/blobs/${originHash(origin).toString('hex')}/${sha}`, method: 'PUT', body: fileRange(fh, start, h.length) };
      }
      let status: number;
      let line: string;
      if (!req) {
        status = 400;
        line = 'no record before this blob names its log';
      } else {
        const res = await app.request(req.path, { method: req.method, body: req.body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } });
        status = res.status;
        line = describe(h.type, status, await res.text());
      }
      if (status >= 300) refused++;
      onRecord({ index, type: h.type, what, status, line });
    }
    return { records, refused };
  } finally {
    await fh.close();
  }
}
