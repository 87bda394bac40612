/**
 * c2sp.org/tlog-mirror §add-entries: the binary request body, its canonical package sequence, and the
 * `text/x.tlog.mirror-info` answer of a 202 or 409. Pure encoding and strict, streaming parsing.
 *
 * Body (§Request Body): u16 log_origin_size, log_origin, u64 upload_start, u64 upload_end, u16 ticket_size,
 * ticket, then a prefix of the canonical sequence of entry packages. Each package holds the entries of its
 * interval, each with a u16 length prefix, then u8 num_hashes (at most 63) and that many 32-byte hashes of the
 * subtree consistency proof for [rounded_start + i·256, end) against the checkpoint of size upload_end. All
 * integers are big-endian. The body has no size bound, so it is parsed as a stream holding at most one package.
 */
import { FfauditError } from './errors.js';
import { HASH_SIZE } from './merkle.js';
import { decodeBase64Strict } from './note.js';

/** Packages are aligned at multiples of 256, the width of a tlog-tiles entry bundle. */
export const PACKAGE_WIDTH = 256;
/** "num_hashes, which MUST be at most 63". */
export const MAX_PACKAGE_HASHES = 63;
/** The largest package the format allows: 256 entries of 2 + 65535 bytes, num_hashes, 63 hashes. */
export const MAX_PACKAGE_BYTES = PACKAGE_WIDTH * (2 + 0xffff) + 1 + MAX_PACKAGE_HASHES * HASH_SIZE;
/** Default bound on the header (origin and ticket): generous for any origin line and any ticket we issue. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

export interface AddEntriesHeader {
  origin: string;
  uploadStart: number;
  uploadEnd: number;
  ticket: Buffer;
}

/** One package of the canonical sequence: entries [start, end); its proof is for the subtree [subtreeStart, end). */
export interface PackageRange {
  start: number;
  end: number;
  subtreeStart: number;
}

export interface EntryPackage {
  range: PackageRange;
  entries: Buffer[];
  proof: Buffer[];
}

const bad = (why: string) => new FfauditError('BAD_INPUT', `add-entries: ${why}`);

function checkUploadRange(uploadStart: number, uploadEnd: number): void {
  if (!Number.isSafeInteger(uploadStart) || !Number.isSafeInteger(uploadEnd) || uploadStart < 0 || uploadEnd < 0) {
    throw bad('upload_start and upload_end must be integers below 2^53');
  }
  // "upload_start MUST be less or equal to upload_end."
  if (uploadStart > uploadEnd) throw bad('upload_start is greater than upload_end');
}

/** num_packages = (rounded_end - rounded_start) / 256, or 0 when upload_start = upload_end. */
export function packageCount(uploadStart: number, uploadEnd: number): number {
  checkUploadRange(uploadStart, uploadEnd);
  if (uploadStart === uploadEnd) return 0;
  const roundedStart = Math.floor(uploadStart / PACKAGE_WIDTH) * PACKAGE_WIDTH;
  const roundedEnd = Math.ceil(uploadEnd / PACKAGE_WIDTH) * PACKAGE_WIDTH;
  return (roundedEnd - roundedStart) / PACKAGE_WIDTH;
}

/**
 * Package i of the canonical sequence, exactly as §Request Body defines it:
 * start = max(upload_start, rounded_start + i·256), end = min(upload_end, rounded_start + (i + 1)·256).
 */
export function packageAt(uploadStart: number, uploadEnd: number, i: number): PackageRange {
  const count = packageCount(uploadStart, uploadEnd);
  if (!Number.isSafeInteger(i) || i < 0 || i >= count) throw new RangeError(`package ${i} is not one of ${count}`);
  const roundedStart = Math.floor(uploadStart / PACKAGE_WIDTH) * PACKAGE_WIDTH;
  const subtreeStart = roundedStart + i * PACKAGE_WIDTH;
  return {
    start: Math.max(uploadStart, subtreeStart),
    end: Math.min(uploadEnd, subtreeStart + PACKAGE_WIDTH),
    subtreeStart,
  };
}

/**
 * The whole canonical sequence of [uploadStart, uploadEnd). It holds one object per package: a caller facing a
 * range it did not choose (a mirror reading a request) walks it with packageAt instead.
 */
export function packageRanges(uploadStart: number, uploadEnd: number): PackageRange[] {
  const count = packageCount(uploadStart, uploadEnd);
  return Array.from({ length: count }, (_, i) => packageAt(uploadStart, uploadEnd, i));
}

// fatal: an origin that is not UTF-8 can name no log, and replacing bytes with U+FFFD could make two origins equal.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Streaming add-entries parser. Feed the (decompressed) body with push(); take header() once it is available, then
 * nextPackage() until it returns undefined, and push more. Untrusted input: every malformed byte is a BAD_INPUT
 * with a one-line reason, after which the parser stays failed.
 *
 * Memory is bounded: the parser keeps only the bytes not yet returned, which for a caller that drains after each
 * push is less than one package (MAX_PACKAGE_BYTES) plus the header, plus the chunk being pushed. push() refuses
 * (INTERNAL) to grow past that bound, which only a caller that does not drain can reach. Bytes that arrive after
 * the last package of the sequence are counted, not kept.
 */
export class AddEntriesParser {
  private readonly maxHeaderBytes: number;
  private store: Buffer = Buffer.alloc(0);
  /** Unconsumed bytes are store[head, tail). */
  private head = 0;
  private tail = 0;
  private parsedHeader: AddEntriesHeader | undefined;
  private packages = 0;
  private nextIndex = 0;
  /** Scan state of the package being assembled: bytes (from head) and entries already seen complete. */
  private scanned = 0;
  private entriesScanned = 0;
  private trailing = 0;
  private failure: FfauditError | undefined;
  private closed = false;

  constructor(maxHeaderBytes: number = DEFAULT_MAX_HEADER_BYTES) {
    if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 22) throw new RangeError(`bad header bound ${maxHeaderBytes}`);
    this.maxHeaderBytes = maxHeaderBytes;
  }

  private get buffered(): number {
    return this.tail - this.head;
  }

  push(chunk: Uint8Array): void {
    if (this.closed) throw new FfauditError('INTERNAL', 'add-entries parser: push after end()');
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    if (this.parsedHeader && this.nextIndex === this.packages) {
      this.trailing += chunk.length; // after the whole sequence: counted for leftover(), never stored
      return;
    }
    if (this.buffered > MAX_PACKAGE_BYTES + this.maxHeaderBytes) {
      throw new FfauditError('INTERNAL', 'add-entries parser: push without taking the packages already buffered');
    }
    const needed = this.buffered + chunk.length;
    if (this.tail + chunk.length > this.store.length) {
      if (needed <= this.store.length) {
        this.store.copyWithin(0, this.head, this.tail); // compact in place
      } else {
        const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(2 * this.store.length, MAX_PACKAGE_BYTES + this.maxHeaderBytes)));
        this.store.copy(grown, 0, this.head, this.tail);
        this.store = grown;
      }
      this.tail = this.buffered;
      this.head = 0;
    }
    this.store.set(chunk, this.tail);
    this.tail += chunk.length;
  }

  private fail(why: string): never {
    this.failure = bad(why);
    throw this.failure;
  }

  /** The header, once all its bytes have arrived; undefined before. */
  header(): AddEntriesHeader | undefined {
    if (this.failure) throw this.failure;
    if (this.parsedHeader) return this.parsedHeader;
    const b = this.store;
    const h = this.head;
    if (this.buffered < 2) return undefined;
    const originSize = b.readUInt16BE(h);
    if (2 + originSize + 18 > this.maxHeaderBytes) this.fail(`the header is larger than ${this.maxHeaderBytes} bytes`);
    if (this.buffered < 2 + originSize + 18) return undefined;
    const ticketSize = b.readUInt16BE(h + 2 + originSize + 16);
    const size = 2 + originSize + 18 + ticketSize;
    if (size > this.maxHeaderBytes) this.fail(`the header is larger than ${this.maxHeaderBytes} bytes`);
    if (this.buffered < size) return undefined;
    let origin: string;
    try {
      origin = utf8.decode(b.subarray(h + 2, h + 2 + originSize));
    } catch {
      this.fail('log_origin is not valid UTF-8');
    }
    const start = b.readBigUInt64BE(h + 2 + originSize);
    const end = b.readBigUInt64BE(h + 2 + originSize + 8);
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    if (start > limit || end > limit) this.fail('upload_start or upload_end is above 2^53 - 1');
    if (start > end) this.fail('upload_start is greater than upload_end');
    const ticket = Buffer.from(b.subarray(h + 2 + originSize + 18, h + size));
    this.head += size;
    this.parsedHeader = { origin, uploadStart: Number(start), uploadEnd: Number(end), ticket };
    this.packages = packageCount(this.parsedHeader.uploadStart, this.parsedHeader.uploadEnd);
    this.moveTrailing();
    return this.parsedHeader;
  }

  /** Once the sequence is complete, anything still buffered is trailing: count it and let it go. */
  private moveTrailing(): void {
    if (this.nextIndex === this.packages) {
      this.trailing += this.buffered;
      this.head = this.tail = 0;
      this.store = Buffer.alloc(0);
    }
  }

  /** The next whole package of the canonical sequence; undefined until all its bytes have arrived. */
  nextPackage(): EntryPackage | undefined {
    const hdr = this.header();
    if (!hdr || this.nextIndex === this.packages) return undefined;
    const range = packageAt(hdr.uploadStart, hdr.uploadEnd, this.nextIndex);
    const count = range.end - range.start;
    const b = this.store;
    // Continue the scan where the last call stopped, so a package arriving in many chunks is read once.
    while (this.entriesScanned < count) {
      if (this.buffered < this.scanned + 2) return undefined;
      const len = b.readUInt16BE(this.head + this.scanned);
      if (this.buffered < this.scanned + 2 + len) return undefined;
      this.scanned += 2 + len;
      this.entriesScanned++;
    }
    if (this.buffered < this.scanned + 1) return undefined;
    const numHashes = b[this.head + this.scanned]!;
    if (numHashes > MAX_PACKAGE_HASHES) this.fail(`package ${this.nextIndex} has ${numHashes} hashes, more than ${MAX_PACKAGE_HASHES}`);
    const size = this.scanned + 1 + numHashes * HASH_SIZE;
    if (this.buffered < size) return undefined;
    // One copy of the package; entries and hashes are views into it, so the store can be reused.
    const pkg = Buffer.from(b.subarray(this.head, this.head + size));
    const entries: Buffer[] = [];
    let at = 0;
    for (let i = 0; i < count; i++) {
      const len = pkg.readUInt16BE(at);
      entries.push(pkg.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    at += 1;
    const proof: Buffer[] = [];
    for (let i = 0; i < numHashes; i++, at += HASH_SIZE) proof.push(pkg.subarray(at, at + HASH_SIZE));
    this.head += size;
    this.scanned = 0;
    this.entriesScanned = 0;
    this.nextIndex++;
    this.moveTrailing();
    return { range, entries, proof };
  }

  /** True once every package of [uploadStart, uploadEnd) has been returned. */
  finished(): boolean {
    return this.parsedHeader !== undefined && this.nextIndex === this.packages;
  }

  /** Bytes received but not returned: a partial package (to be discarded) or bytes after the whole sequence. */
  leftover(): number {
    return this.buffered + this.trailing;
  }

  /** Marks the body's end; returns whether any bytes were left over (see leftover()). */
  end(): boolean {
    this.closed = true;
    return this.leftover() > 0;
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * The client side: the header and a prefix of the canonical sequence, package i holding the entries of
 * packageAt(i). BAD_INPUT when the packages do not fit the sequence or the format.
 */
export function encodeAddEntries(
  h: AddEntriesHeader,
  packages: readonly { entries: readonly Uint8Array[]; proof: readonly Uint8Array[] }[],
): Buffer {
  checkUploadRange(h.uploadStart, h.uploadEnd);
  const origin = Buffer.from(h.origin, 'utf8');
  if (origin.length > 0xffff) throw bad('log_origin is longer than 65535 bytes');
  if (h.ticket.length > 0xffff) throw bad('the ticket is longer than 65535 bytes');
  const count = packageCount(h.uploadStart, h.uploadEnd);
  if (packages.length > count) throw bad(`${packages.length} packages, but the sequence has ${count}`);
  const parts: Buffer[] = [u16(origin.length), origin, u64(h.uploadStart), u64(h.uploadEnd), u16(h.ticket.length), Buffer.from(h.ticket)];
  packages.forEach((p, i) => {
    const range = packageAt(h.uploadStart, h.uploadEnd, i);
    if (p.entries.length !== range.end - range.start) {
      throw bad(`package ${i} holds ${p.entries.length} entries, not the ${range.end - range.start} of [${range.start}, ${range.end})`);
    }
    if (p.proof.length > MAX_PACKAGE_HASHES) throw bad(`package ${i} has more than ${MAX_PACKAGE_HASHES} hashes`);
    for (const e of p.entries) {
      if (e.length > 0xffff) throw bad(`package ${i} holds an entry longer than 65535 bytes`);
      parts.push(u16(e.length), Buffer.from(e));
    }
    if (p.proof.some((x) => x.length !== HASH_SIZE)) throw bad(`package ${i} has a hash that is not 32 bytes`);
    parts.push(Buffer.from([p.proof.length]), ...p.proof.map((x) => Buffer.from(x)));
  });
  return Buffer.concat(parts);
}

/** The media type of a 202 or 409 answer's body. */
export const MIRROR_INFO_CONTENT_TYPE = 'text/x.tlog.mirror-info';

/** The mirror's answer to a 202 or 409 (§Processing). */
export interface MirrorInfo {
  /** The tree size of a valid pending checkpoint. */
  size: number;
  /** The next entry the mirror needs. */
  next: number;
  /** Opaque, possibly empty; the mirror authenticates it. */
  ticket: Buffer;
}

/** `text/x.tlog.mirror-info`: three lines (size, next entry, base64 ticket), each followed by a newline. */
export function formatMirrorInfo(i: MirrorInfo): string {
  for (const n of [i.size, i.next]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new FfauditError('INTERNAL', `invalid mirror-info number ${n}`);
  }
  if (i.ticket.length > 0xffff) throw new FfauditError('INTERNAL', 'a ticket must fit the u16 ticket_size');
  return `${i.size}\n${i.next}\n${Buffer.from(i.ticket).toString('base64')}\n`;
}

function parseDecimal(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parses a `text/x.tlog.mirror-info` body. Untrusted input: BAD_INPUT unless exactly the three lines. */
export function parseMirrorInfo(text: string): MirrorInfo {
  const badInfo = () => new FfauditError('BAD_INPUT', 'a text/x.tlog.mirror-info body is three lines: size, next entry, base64 ticket');
  // The ticket goes back in a u16-sized field: its base64 is at most 87384 characters.
  if (typeof text !== 'string' || text.length > 40 + 87384 || !text.endsWith('\n')) throw badInfo();
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) throw badInfo();
  const [sizeText, nextText, ticketText] = lines as [string, string, string];
  const size = parseDecimal(sizeText);
  const next = parseDecimal(nextText);
  const ticket = decodeBase64Strict(ticketText);
  if (size === undefined || next === undefined || !ticket || ticket.length > 0xffff) throw badInfo();
  return { size, next, ticket };
}
