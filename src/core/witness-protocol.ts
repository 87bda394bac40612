/**
 * c2sp.org/tlog-witness §add-checkpoint: the request body and the `text/x.tlog.size` answer of a 409. Pure
 * encoding and strict parsing; what the witness decides (404, 403, 409, 422) is the server's.
 *
 * The body is `old <size>\n`, zero to 63 lines each holding one base64 hash of the RFC 6962 consistency proof, an
 * empty line, then the signed checkpoint note. Every request byte is hostile: the parser is bounded, linear, and
 * refuses anything but the exact format with one line saying why.
 */
import { FfauditError } from './errors.js';
import { HASH_SIZE } from './merkle.js';
import { decodeBase64Strict } from './note.js';

/** "The client MUST NOT send more than 63 consistency proof lines." */
export const MAX_PROOF_LINES = 63;
/** The media type of a 409 answer's body. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';
/** Default bound on a request body: 63 proof lines and a checkpoint with many signatures fit well inside it. */
export const DEFAULT_MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Buffer[];
  /** The signed checkpoint note, byte-exact. */
  checkpoint: string;
}

const bad = (why: string) => new FfauditError('BAD_INPUT', `add-checkpoint: ${why}`);

/** "ASCII decimal with no leading zeroes (unless the size is zero)", within JavaScript's exact integers. */
function parseDecimal(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

// fatal: invalid UTF-8 is refused, not replaced with U+FFFD (which would change the checkpoint's bytes);
// ignoreBOM: a leading byte-order mark stays in the text, so the body no longer starts with "old ".
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses an add-checkpoint request body. Untrusted input: BAD_INPUT with a one-line reason. */
export function parseAddCheckpoint(body: Uint8Array, maxBytes: number = DEFAULT_MAX_ADD_CHECKPOINT_BYTES): AddCheckpointRequest {
  if (!(body instanceof Uint8Array)) throw bad('the body is not bytes');
  if (body.length > maxBytes) throw bad(`the body is larger than ${maxBytes} bytes`);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw bad('the body is not valid UTF-8');
  }
  // "Each line MUST terminate in a newline character": the old size line first.
  let nl = text.indexOf('\n');
  if (nl < 0) throw bad('the old size line does not end with a newline');
  const oldLine = text.slice(0, nl);
  if (!oldLine.startsWith('old ')) throw bad('the body does not start with an old size line');
  const oldSize = parseDecimal(oldLine.slice(4));
  if (oldSize === undefined) throw bad('the old size is not a decimal number without leading zeroes');
  // Then the proof lines, up to the empty line.
  const proof: Buffer[] = [];
  let at = nl + 1;
  for (;;) {
    nl = text.indexOf('\n', at);
    if (nl < 0) throw bad('no empty line before the checkpoint');
    if (nl === at) break;
    if (proof.length === MAX_PROOF_LINES) throw bad(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    const hash = decodeBase64Strict(text.slice(at, nl));
    if (!hash || hash.length !== HASH_SIZE) throw bad(`consistency proof line ${proof.length + 1} is not a base64 32-byte hash`);
    proof.push(hash);
    at = nl + 1;
  }
  // "The proof MUST be empty if the old size is zero."
  if (oldSize === 0 && proof.length > 0) throw bad('the consistency proof must be empty when the old size is 0');
  const checkpoint = text.slice(nl + 1);
  if (checkpoint.length === 0) throw bad('no checkpoint after the empty line');
  return { oldSize, proof, checkpoint };
}

/** The request body for an add-checkpoint (the client side). BAD_INPUT when the request breaks the format. */
export function formatAddCheckpoint(r: AddCheckpointRequest): Buffer {
  if (!Number.isSafeInteger(r.oldSize) || r.oldSize < 0) throw bad(`invalid old size ${r.oldSize}`);
  if (r.proof.length > MAX_PROOF_LINES) throw bad(`more than ${MAX_PROOF_LINES} consistency proof lines`);
  if (r.proof.some((h) => h.length !== HASH_SIZE)) throw bad('a consistency proof hash is not 32 bytes');
  if (r.oldSize === 0 && r.proof.length > 0) throw bad('the consistency proof must be empty when the old size is 0');
  if (r.checkpoint.length === 0) throw bad('the checkpoint is empty');
  const lines = [`old ${r.oldSize}\n`, ...r.proof.map((h) => `${Buffer.from(h).toString('base64')}\n`), '\n', r.checkpoint];
  return Buffer.from(lines.join(''), 'utf8');
}

/** The body of a `text/x.tlog.size` response: "the tree size … in decimal, followed by a newline". */
export function formatTlogSize(size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) throw new FfauditError('INTERNAL', `invalid tree size ${size}`);
  return `${size}\n`;
}

/** Parses a `text/x.tlog.size` body. Untrusted input: BAD_INPUT unless it is exactly one decimal line. */
export function parseTlogSize(text: string): number {
  const n = typeof text === 'string' && text.endsWith('\n') ? parseDecimal(text.slice(0, -1)) : undefined;
  if (n === undefined) throw new FfauditError('BAD_INPUT', 'a text/x.tlog.size body is one decimal tree size and a newline');
  return n;
}
