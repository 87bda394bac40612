/**
 * DSSE envelopes (github.com/secure-systems-lab/dsse, protocol.md and envelope.md), the signature wrapper the
 * in-toto attestation framework expects around a Statement (in-toto/attestation spec/v1/envelope.md).
 *
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body   (LEN: ASCII decimal byte count)
 *   envelope        = {"payloadType": type, "payload": base64(body), "signatures": [{"keyid", "sig": base64}]}
 *
 * The signature is Ed25519 over PAE(type, body) with the ledger's signing key. `keyid` is the key ID of the
 * ledger's C2SP verifier key (8 hex digits, the middle field of `ffaudit pubkey`): a hint for choosing the key,
 * never trusted by a verifier (protocol.md: KEYID is optional and unauthenticated).
 */
import type { Signer } from './note.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** The pre-authentication encoding the signature covers (protocol.md, "Signature definition"). */
export function preAuthEncoding(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, 'ascii'), type, Buffer.from(` ${body.length} `, 'ascii'), body]);
}

/** Signs `body` as one DSSE envelope with one signature. */
export function signDsse(payloadType: string, body: Uint8Array, signer: Signer): DsseEnvelope {
  const sig = signer.sign(preAuthEncoding(payloadType, body));
  return { payloadType, payload: Buffer.from(body).toString('base64'), signatures: [{ keyid: signer.keyId.toString('hex'), sig: sig.toString('base64') }] };
}
