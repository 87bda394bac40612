/**
 * The push file: what `ffaudit push --to FILE` writes for an air-gapped server and `ffaudit serve import FILE` takes
 * in, the requests a push would have sent, in order. The magic line `ffaudit-push/v1\n`, then records, each:
 *
 *   1 byte   type: 1 = an add-checkpoint request body (c2sp.org/tlog-witness), 2 = an add-entries request body
 *            (c2sp.org/tlog-mirror), 3 = a blob (its raw bytes; named by their SHA-256, of the log the records
 *            before it are about)
 *   8 bytes  length, a big-endian uint64
 *   length   the bytes
 *
 * Records are parsed one header at a time, so a reader can stream a record's bytes without holding the file.
 * Untrusted input: every malformed byte is a BAD_INPUT with a one-line reason.
 */
import { FfauditError } from './errors.js';

export const PUSH_FILE_MAGIC: Buffer = Buffer.from('ffaudit-push/v1\n', 'ascii');
/** Type byte and length. */
export const PUSH_RECORD_HEADER_BYTES = 9;

export type PushRecordType = 'add-checkpoint' | 'add-entries' | 'blob';

const TYPE_BYTE: Record<PushRecordType, number> = { 'add-checkpoint': 1, 'add-entries': 2, blob: 3 };
const BYTE_TYPE = new Map<number, PushRecordType>(Object.entries(TYPE_BYTE).map(([t, b]) => [b, t as PushRecordType]));

export interface PushRecordHeader {
  type: PushRecordType;
  length: number;
}

/** Checks the file starts with the magic line; BAD_INPUT otherwise (given fewer bytes than the magic: too). */
export function checkPushFileMagic(head: Uint8Array): void {
  if (head.length < PUSH_FILE_MAGIC.length || !PUSH_FILE_MAGIC.equals(head.subarray(0, PUSH_FILE_MAGIC.length))) {
    throw new FfauditError('BAD_INPUT', 'not a push file (it does not start with "ffaudit-push/v1")');
  }
}

/** Parses a record header (its first 9 bytes). */
export function parsePushRecordHeader(b: Uint8Array): PushRecordHeader {
  if (b.length < PUSH_RECORD_HEADER_BYTES) throw new FfauditError('BAD_INPUT', 'push file: it ends inside a record header');
  const type = BYTE_TYPE.get(b[0]!);
  if (!type) throw new FfauditError('BAD_INPUT', `push file: unknown record type ${b[0]}`);
  const length = Buffer.from(b.buffer, b.byteOffset + 1, 8).readBigUInt64BE(0);
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) throw new FfauditError('BAD_INPUT', 'push file: a record length is above 2^53 - 1');
  return { type, length: Number(length) };
}

/** One record: its header and its bytes. */
export function formatPushRecord(type: PushRecordType, data: Uint8Array): Buffer {
  const h = Buffer.alloc(PUSH_RECORD_HEADER_BYTES);
  h[0] = TYPE_BYTE[type];
  h.writeBigUInt64BE(BigInt(data.length), 1);
  return Buffer.concat([h, data]);
}

/** A whole push file held in memory (small files, tests): the magic line, then every record. */
export function parsePushFile(bytes: Uint8Array): { type: PushRecordType; data: Buffer }[] {
  checkPushFileMagic(bytes);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { type: PushRecordType; data: Buffer }[] = [];
  let at = PUSH_FILE_MAGIC.length;
  while (at < b.length) {
    const h = parsePushRecordHeader(b.subarray(at, at + PUSH_RECORD_HEADER_BYTES));
    at += PUSH_RECORD_HEADER_BYTES;
    if (h.length > b.length - at) throw new FfauditError('BAD_INPUT', `push file: record ${out.length + 1} ends before its ${h.length} bytes`);
    out.push({ type: h.type, data: b.subarray(at, at + h.length) });
    at += h.length;
  }
  return out;
}
