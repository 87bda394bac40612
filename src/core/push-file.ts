/**
 * The push file (`ffaudit push --to FILE`): what a push to a team server would send, in one file, for a room with
 * no network; `ffaudit serve import FILE` takes it in with the same checks as the HTTP endpoints.
 *
 *   magic   "ffaudit-push/v1\n" (16 bytes)
 *   records one after another, each: u8 type, u64 big-endian length, then `length` bytes:
 *     1  add-checkpoint  the body of POST /add-checkpoint (c2sp.org/tlog-witness), byte for byte
 *     2  add-entries     the body of POST /add-entries (c2sp.org/tlog-mirror), without HTTP content encoding
 *     3  blob            32-byte SHA-256 of the log's origin ‖ 32-byte SHA-256 of the blob ‖ the blob's bytes (the
 *                        path and body of PUT /blobs/<origin hash>/<sha256>)
 *   end     the file ends after a whole record; nothing follows the last one.
 *
 * Records are in the order a push sends them: the checkpoint first, each blob after the add-entries record holding
 * the entry that names it. Every byte of a file is hostile to its reader: the parser bounds each record and the
 * number of bytes it holds at once, and says in one line what is wrong and where.
 */
import { FfauditError } from './errors.js';

export const PUSH_FILE_MAGIC = 'ffaudit-push/v1\n';
const MAGIC = Buffer.from(PUSH_FILE_MAGIC, 'latin1');

export const PUSH_RECORD = { addCheckpoint: 1, addEntries: 2, blob: 3 } as const;
export type PushRecordType = (typeof PUSH_RECORD)[keyof typeof PUSH_RECORD];

export interface PushRecord {
  type: PushRecordType;
  body: Buffer;
}

/** The default bound on one record: far above an add-entries body of 32 full packages (32 × 256 × 64 KiB). */
export const DEFAULT_MAX_RECORD_BYTES = 1 << 30;
const HEADER_BYTES = 9;
/** A blob record's body starts with two SHA-256 hashes (origin, content). */
export const BLOB_NAME_BYTES = 64;

function recordHeader(type: PushRecordType, length: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = type;
  h.writeBigUInt64BE(BigInt(length), 1);
  return h;
}

/** One record, header and body, as it is written to the file. */
export function encodePushRecord(r: PushRecord): Buffer {
  if (!Object.values(PUSH_RECORD).includes(r.type)) throw new FfauditError('INTERNAL', `unknown push record type ${String(r.type)}`);
  if (r.type === PUSH_RECORD.blob && r.body.length < BLOB_NAME_BYTES) throw new FfauditError('INTERNAL', 'a blob record starts with two SHA-256 hashes');
  return Buffer.concat([recordHeader(r.type, r.body.length), r.body]);
}

/** A blob record's body: the origin's hash, the blob's name, the bytes. */
export function blobRecordBody(originSha256: Buffer, blobSha256: Buffer, data: Uint8Array): Buffer {
  if (originSha256.length !== 32 || blobSha256.length !== 32) throw new FfauditError('INTERNAL', 'a blob record names the origin and the blob by SHA-256');
  return Buffer.concat([originSha256, blobSha256, data]);
}

/** Splits a blob record's body. BAD_INPUT when it is too short to hold the two hashes. */
export function parseBlobRecord(body: Buffer): { originSha256: Buffer; blobSha256: Buffer; data: Buffer } {
  if (body.length < BLOB_NAME_BYTES) throw new FfauditError('BAD_INPUT', 'push file: a blob record is shorter than its two SHA-256 hashes');
  return { originSha256: body.subarray(0, 32), blobSha256: body.subarray(32, 64), data: body.subarray(64) };
}

/**
 * Streaming reader of a push file: push() the bytes as they are read, take whole records with next(), and call
 * end() at the end of the file (BAD_INPUT when the file stopped inside a record or never held the magic line).
 * It holds at most one record and the bytes of the chunk being pushed.
 */
export class PushFileParser {
  /** Bytes pushed and not yet taken, as pushed (joined only when a record is taken: each byte is copied once). */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private seenMagic = false;
  private offset = 0; // bytes of the file consumed, for messages
  private records = 0;
  private failure: FfauditError | undefined;

  constructor(private readonly maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES) {
    if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < BLOB_NAME_BYTES) throw new RangeError(`bad record bound ${maxRecordBytes}`);
  }

  private fail(why: string): never {
    this.failure = new FfauditError('BAD_INPUT', `push file: ${why}`);
    throw this.failure;
  }

  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.buffered > this.maxRecordBytes + HEADER_BYTES + MAGIC.length) throw new FfauditError('INTERNAL', 'push file parser: push without taking the records already buffered');
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.from(chunk));
    this.buffered += chunk.length;
  }

  /** The first n buffered bytes (n at most what is buffered), without taking them. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  /** Takes the first n buffered bytes. */
  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    this.offset += n;
    return out;
  }

  /** The next whole record, or undefined until its bytes have all been pushed. */
  next(): PushRecord | undefined {
    if (this.failure) throw this.failure;
    if (!this.seenMagic) {
      const n = Math.min(this.buffered, MAGIC.length);
      if (n === 0) return undefined;
      if (!this.peek(n).equals(MAGIC.subarray(0, n))) this.fail(`it does not start with ${JSON.stringify(PUSH_FILE_MAGIC)}`);
      if (n < MAGIC.length) return undefined;
      this.take(MAGIC.length);
      this.seenMagic = true;
    }
    if (this.buffered < HEADER_BYTES) return undefined;
    const header = this.peek(HEADER_BYTES);
    const type = header[0]!;
    const at = `record ${this.records + 1} (at byte ${this.offset})`;
    if (type !== PUSH_RECORD.addCheckpoint && type !== PUSH_RECORD.addEntries && type !== PUSH_RECORD.blob) this.fail(`${at} has the unknown type ${type}`);
    const length = header.readBigUInt64BE(1);
    if (length > BigInt(this.maxRecordBytes)) this.fail(`${at} is ${length} bytes long, more than the ${this.maxRecordBytes} allowed`);
    const n = Number(length);
    if (type === PUSH_RECORD.blob && n < BLOB_NAME_BYTES) this.fail(`${at} is a blob shorter than its two SHA-256 hashes`);
    if (this.buffered < HEADER_BYTES + n) return undefined;
    const body = Buffer.from(this.take(HEADER_BYTES + n).subarray(HEADER_BYTES));
    this.records++;
    return { type: type, body };
  }

  /** The file has ended: BAD_INPUT unless it held the magic line and ended after a whole record. */
  end(): void {
    if (this.failure) throw this.failure;
    if (!this.seenMagic) this.fail(this.buffered === 0 ? 'the file is empty' : `it does not start with ${JSON.stringify(PUSH_FILE_MAGIC)}`);
    if (this.buffered > 0) this.fail(`it ends inside record ${this.records + 1} (at byte ${this.offset}): the file was cut short`);
  }
}

/** Every record of a whole push file held in memory (small files, tests); see PushFileParser for a stream. */
export function parsePushFile(bytes: Uint8Array, maxRecordBytes: number = DEFAULT_MAX_RECORD_BYTES): PushRecord[] {
  const p = new PushFileParser(maxRecordBytes);
  p.push(bytes);
  const out: PushRecord[] = [];
  for (let r = p.next(); r; r = p.next()) out.push(r);
  p.end();
  return out;
}
