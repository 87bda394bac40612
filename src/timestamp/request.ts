/**
 * RFC 3161 §2.4.1 TimeStampReq for a checkpoint: the message imprint is SHA-256 of the checkpoint's note body (the
 * text the log signed, without its signature lines), so a token binds the tree size and root and nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, MessageImprint, TimeStampReq } from 'pkijs';

export const SHA256_OID = '2.16.840.1.101.3.4.2.1';

export interface TimestampRequest {
  /** The DER TimeStampReq, sent as application/timestamp-query (RFC 3161 §3.4). */
  der: Buffer;
  /** SHA-256 of the note body: what the token must carry as its message imprint. */
  imprint: Buffer;
  /** The nonce the reply must echo (§2.4.2), which ties the reply to this request. */
  nonce: bigint;
}

/** A random 64-bit nonce, as a non-negative integer. */
function randomNonce(): bigint {
  return randomBytes(8).readBigUInt64BE();
}

/** SHA-256 of a note body (its UTF-8 bytes), or of the DER of an earlier token for a renewal (RFC 4998 §5.2). */
export function noteImprint(data: string | Uint8Array): Buffer {
  return typeof data === 'string' ? createHash('sha256').update(data, 'utf8').digest() : createHash('sha256').update(data).digest();
}

/** A request over `data`: a checkpoint's note body, or the DER of an earlier token (a renewal). */
export function timestampRequest(data: string | Uint8Array, nonce: bigint = randomNonce()): TimestampRequest {
  return imprintRequest(noteImprint(data), nonce);
}

/** A request for a SHA-256 imprint the caller computed. */
export function imprintRequest(imprint: Buffer, nonce: bigint = randomNonce()): TimestampRequest {
  const req = new TimeStampReq({
    version: 1,
    messageImprint: new MessageImprint({
      // RFC 5754 §2: the parameters of the SHA-2 algorithms are absent.
      hashAlgorithm: new AlgorithmIdentifier({ algorithmId: SHA256_OID }),
      hashedMessage: new asn1js.OctetString({ valueHex: imprint }),
    }),
    nonce: asn1js.Integer.fromBigInt(nonce),
    // §2.4.1: certReq true asks the TSA to put its certificate in the token, so it verifies on its own.
    certReq: true,
  });
  return { der: Buffer.from(req.toSchema().toBER()), imprint, nonce };
}
