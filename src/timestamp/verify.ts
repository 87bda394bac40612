/**
 * Complete verification of an RFC 3161 time-stamp token against the request it answers: status, imprint, nonce,
 * the CMS signature (RFC 5652 §5.4, §5.6), the signer certificate binding (ESSCertIDv2, RFC 5816), the TSA's
 * extended key usage (RFC 3161 §2.3) and its chain to a configured CA, valid at the time the token states.
 * Each failure is one INTEGRITY error naming the check that failed; nothing is trusted before it is checked.
 */
import { createHash, timingSafeEqual, verify as verifySignature, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { Certificate, ContentInfo, ExtKeyUsage, IssuerAndSerialNumber, PKIStatus, SignedData, TimeStampResp, TSTInfo, type Attribute, type GeneralName, type SignerInfo } from 'pkijs';
import { FfauditError } from '../core/errors.js';
import { SHA256_OID } from './request.js';

export interface VerifiedTimestamp {
  /** The time the TSA asserts the imprinted data existed by. */
  genTime: Date;
  /** The TSA's name as the token gives it (§2.4.2 tsa), else the signer certificate's subject. */
  tsaName: string;
  /** The token's serial number, unique per TSA (§2.4.2). */
  serial: bigint;
  /** The TimeStampToken alone (a CMS ContentInfo), DER: what is kept as evidence. */
  tokenDer: Buffer;
  /**
   * When the TSA's signing certificate expires: after that the token still proves what it proved, but only as long
   * as a later token covers it (RFC 4998 §5.2: renew before the earlier one's certificate expires).
   */
  signerNotAfter: Date;
}

export interface VerifyOptions {
  imprint: Buffer;
  /** The nonce the request carried; absent when re-checking a stored token (the nonce only proves freshness once). */
  nonce?: bigint | undefined;
  /**
   * PEM text holding the CA certificates a TSA's chain must end at; null only to read a token whose CA the reader
   * was not given (verify-bundle without --tsa-ca): every other check is made, the chain is not, and the caller
   * must say so.
   */
  caCerts: string | null;
  now?: Date;
}

const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_CT_TSTINFO = '1.2.840.113549.1.9.16.1.4';
const ID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const ID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const ID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
const ID_EXT_KEY_USAGE = '2.5.29.37';
const ID_KP_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
/** How far in the future a genTime may lie before the TSA's clock (or the token) is not believed. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Certificates between the signer and a CA: more is refused rather than searched. */
const MAX_CHAIN = 5;

const DIGESTS = new Map([
  [SHA256_OID, 'sha256'],
  ['2.16.840.1.101.3.4.2.2', 'sha384'],
  ['2.16.840.1.101.3.4.2.3', 'sha512'],
]);
/** Signature algorithms that name their hash; rsaEncryption, id-ecPublicKey and Ed25519 take it from elsewhere. */
const SIGNATURE_HASHES = new Map([
  ['1.2.840.10045.4.3.2', 'sha256'],
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'],
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
]);
const KEY_ONLY_SIGNATURES = new Set(['1.2.840.113549.1.1.1', '1.2.840.10045.2.1']);
const ED25519 = '1.3.101.112';

const fail = (check: string): never => {
  throw new FfauditError('INTEGRITY', `time-stamp token: ${check}`);
};
const bytes = (b: ArrayBuffer | Uint8Array): Buffer => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b));
/**
 * A private ArrayBuffer of `b` for asn1js: it parses one about three times faster than a Node Buffer (a view into a
 * shared pool, which its byte helpers re-check at every step), and re-checking stored tokens is parse-bound.
 */
const arrayBufferOf = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);
const digestOf = (oid: string, what: string): string => DIGESTS.get(oid) ?? fail(`${what} uses hash algorithm ${oid}, not SHA-256/384/512`);

/** Parses the reply: a TimeStampResp (§2.4.2), or a bare TimeStampToken (a ContentInfo) as kept on its own. */
function tokenOf(der: Uint8Array): { info: ContentInfo; der: Buffer } {
  const parsed = asn1js.fromBER(arrayBufferOf(der));
  if (parsed.offset === -1 || parsed.offset !== der.byteLength || !(parsed.result instanceof asn1js.Sequence)) fail('the reply is not one DER structure');
  const first = (parsed.result as asn1js.Sequence).valueBlock.value[0];
  try {
    if (first instanceof asn1js.ObjectIdentifier) return { info: new ContentInfo({ schema: parsed.result }), der: bytes(der) };
    const resp = new TimeStampResp({ schema: parsed.result });
    const status = resp.status.status;
    // §2.4.2: granted (0) and grantedWithMods (1) carry a token; anything else is a refusal.
    if (status !== PKIStatus.granted && status !== PKIStatus.grantedWithMods) {
      const text = resp.status.statusStrings?.map((s) => s.valueBlock.value).join('; ');
      return fail(`the TSA refused the request (PKIStatus ${status}${text ? `: ${text}` : ''})`);
    }
    const token = (parsed.result as asn1js.Sequence).valueBlock.value[1];
    if (!resp.timeStampToken || !token) return fail('the reply grants the request but holds no token');
    // The token's own bytes, as the TSA sent them, are the evidence kept: a re-encoding would not be what was signed.
    return { info: resp.timeStampToken, der: bytes(token.valueBeforeDecodeView) };
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    return fail('the reply is not a TimeStampResp or TimeStampToken');
  }
}

/** The one value of a signed attribute that must occur exactly once (RFC 5652 §5.3). */
function attributeValue(attrs: readonly Attribute[], oid: string, name: string): unknown {
  const found = attrs.filter((a) => a.type === oid);
  if (found.length !== 1 || found[0]!.values.length !== 1) fail(`the signed attributes do not hold exactly one ${name}`);
  return found[0]!.values[0];
}

function checkSignerInfo(si: SignerInfo, eContent: Buffer): { attrs: Buffer; hash: string } {
  if (!si.signedAttrs) return fail('the signature has no signed attributes');
  const attrs = si.signedAttrs.attributes;
  const ct = attributeValue(attrs, ID_CONTENT_TYPE, 'content-type');
  if (!(ct instanceof asn1js.ObjectIdentifier) || ct.valueBlock.toString() !== ID_CT_TSTINFO) fail('the content-type attribute is not id-ct-TSTInfo');
  const hash = digestOf(si.digestAlgorithm.algorithmId, 'the signature');
  const md = attributeValue(attrs, ID_MESSAGE_DIGEST, 'message-digest');
  if (!(md instanceof asn1js.OctetString) || !same(bytes(md.valueBlock.valueHexView), createHash(hash).update(eContent).digest())) {
    fail('the message-digest attribute does not match the TSTInfo');
  }
  // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag 0x31, not the [0] of the field);
  // pkijs keeps the bytes as received with the tag changed, so a re-encoding never hides what was signed.
  const signed = bytes(si.signedAttrs.encodedValue);
  if (signed[0] !== 0x31) fail('the signed attributes could not be read as signed');
  return { attrs: signed, hash };
}

/** ESSCertIDv2 (RFC 5816 §2.2.1): the first certID must be the hash of the signer certificate. */
function checkCertBinding(si: SignerInfo, signerDer: Buffer): void {
  const value = attributeValue(si.signedAttrs!.attributes, ID_SIGNING_CERTIFICATE_V2, 'signing-certificate-v2 (ESSCertIDv2) attribute');
  const certs = value instanceof asn1js.Sequence ? value.valueBlock.value[0] : undefined;
  const first = certs instanceof asn1js.Sequence ? certs.valueBlock.value[0] : undefined;
  if (!(first instanceof asn1js.Sequence)) return fail('the ESSCertIDv2 attribute is malformed');
  const fields = first.valueBlock.value;
  // hashAlgorithm is DEFAULT sha256, so absent when it is SHA-256 (RFC 5816 §2.2.1).
  let hashOid = SHA256_OID;
  let i = 0;
  if (fields[0] instanceof asn1js.Sequence) {
    const oid = fields[0].valueBlock.value[0];
    if (!(oid instanceof asn1js.ObjectIdentifier)) return fail('the ESSCertIDv2 attribute is malformed');
    hashOid = oid.valueBlock.toString();
    i = 1;
  }
  const certHash = fields[i];
  if (!(certHash instanceof asn1js.OctetString)) return fail('the ESSCertIDv2 attribute is malformed');
  if (!same(bytes(certHash.valueBlock.valueHexView), createHash(digestOf(hashOid, 'the ESSCertIDv2')).update(signerDer).digest())) {
    fail('the ESSCertIDv2 attribute does not name the certificate that signed');
  }
}

/** RFC 3161 §2.3: the TSA's certificate has extendedKeyUsage timeStamping, the only purpose, marked critical. */
function checkKeyUsage(cert: Certificate): void {
  const ext = cert.extensions?.filter((e) => e.extnID === ID_EXT_KEY_USAGE) ?? [];
  if (ext.length !== 1) fail('the signer certificate has no extendedKeyUsage (it is not a TSA certificate)');
  const eku = ext[0]!;
  const purposes = eku.parsedValue instanceof ExtKeyUsage ? eku.parsedValue.keyPurposes : [];
  if (purposes.length !== 1 || purposes[0] !== ID_KP_TIME_STAMPING) fail('the signer certificate is not for time-stamping only (extendedKeyUsage)');
  if (!eku.critical) fail('the signer certificate extendedKeyUsage is not critical');
}

function signatureHash(si: SignerInfo, digest: string): string | null {
  const alg = si.signatureAlgorithm.algorithmId;
  if (alg === ED25519) return null;
  if (KEY_ONLY_SIGNATURES.has(alg)) return digest;
  return SIGNATURE_HASHES.get(alg) ?? fail(`the signature algorithm ${alg} is not supported`);
}

function validAt(cert: X509Certificate, at: Date): boolean {
  return new Date(cert.validFrom) <= at && at <= new Date(cert.validTo);
}

/** The signer's chain, through the token's certificates, to one of `anchors`, every certificate valid at `at`. */
function checkChain(signer: X509Certificate, pool: readonly X509Certificate[], anchors: readonly X509Certificate[], at: Date): void {
  let cur = signer;
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    if (!validAt(cur, at)) fail(`the certificate ${cur.subject.replace(/\n/g, ', ')} was not valid at genTime`);
    const anchor = anchors.find((a) => cur.checkIssued(a) && cur.verify(a.publicKey));
    if (anchor) {
      if (!validAt(anchor, at)) fail('the CA certificate was not valid at genTime');
      return;
    }
    // checkIssued is OpenSSL's X509_check_issued: names, key identifiers, and the issuer's keyUsage keyCertSign.
    const next = pool.find((c) => c !== cur && c.ca && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) return fail(UNANCHORED);
    cur = next;
  }
  fail('the certificate chain is too long');
}

/**
 * The one failure that says nothing against the token itself: it verifies, but under a CA the verifier does not
 * trust (another TSA, a CA since rolled over). It is no evidence of time, and no evidence of tampering either.
 */
const UNANCHORED = 'the signer certificate does not chain to a configured CA';

/** Whether `e` is verifyTimestampToken's refusal of a token that is sound but not under a configured CA. */
export function isUnanchored(e: unknown): boolean {
  return e instanceof FfauditError && e.message === `time-stamp token: ${UNANCHORED}`;
}

export function parseCaCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new FfauditError('BAD_INPUT', 'no PEM certificate in the TSA CA file');
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    throw new FfauditError('BAD_INPUT', 'a certificate in the TSA CA file cannot be read');
  }
}

function nameOf(tsa: GeneralName | undefined, signer: X509Certificate): string {
  // A directoryName (type 4) as "CN=…, O=…"; any other form, or none, gives way to the certificate's subject.
  if (tsa?.type === 4 && tsa.value && typeof tsa.value === 'object' && 'typesAndValues' in tsa.value) {
    const X500 = new Map([['2.5.4.3', 'CN'], ['2.5.4.10', 'O'], ['2.5.4.11', 'OU'], ['2.5.4.6', 'C'], ['2.5.4.7', 'L'], ['2.5.4.8', 'ST']]);
    const rdn = tsa.value as { typesAndValues: { type: string; value: { valueBlock: { value: unknown } } }[] };
    return rdn.typesAndValues.map((t) => `${X500.get(t.type) ?? t.type}=${String(t.value.valueBlock.value)}`).join(', ');
  }
  return signer.subject.replace(/\n/g, ', ');
}

/**
 * The certificates field of a SignedData (RFC 5652 §5.1, `[0] IMPLICIT CertificateSet`) as the token carries them,
 * byte-exact: what ESSCertIDv2 hashes and X509Certificate reads, without a re-encoding through pkijs (slow, and not
 * necessarily the bytes the TSA hashed).
 */
function certificateBytes(signedData: unknown): Buffer[] {
  const fields = signedData instanceof asn1js.Sequence ? signedData.valueBlock.value : [];
  const set = fields.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === 0);
  const items = set instanceof asn1js.Constructed ? set.valueBlock.value : [];
  return items.map((c) => bytes(c.valueBeforeDecodeView));
}

/** CA certificates of the last PEM text parsed: a verifier re-checks many tokens against one CA file. */
let anchorsOf: { pem: string; certs: X509Certificate[] } | undefined;

export function verifyTimestampToken(resp: Uint8Array, o: VerifyOptions): VerifiedTimestamp {
  let anchors: X509Certificate[] | null = null;
  if (o.caCerts !== null) {
    if (anchorsOf?.pem !== o.caCerts) anchorsOf = { pem: o.caCerts, certs: parseCaCertificates(o.caCerts) };
    anchors = anchorsOf.certs;
  }
  const { info: token, der: tokenDer } = tokenOf(resp);
  if (token.contentType !== ID_SIGNED_DATA) fail('the token is not CMS SignedData');
  let sd: SignedData;
  let tst: TSTInfo;
  let eContent: Buffer;
  try {
    sd = new SignedData({ schema: token.content });
    if (sd.encapContentInfo.eContentType !== ID_CT_TSTINFO || !sd.encapContentInfo.eContent) return fail('the token does not hold a TSTInfo');
    eContent = bytes(sd.encapContentInfo.eContent.getValue());
    tst = TSTInfo.fromBER(arrayBufferOf(eContent));
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    return fail('the token cannot be parsed as SignedData over a TSTInfo');
  }

  const mi = tst.messageImprint;
  if (mi.hashAlgorithm.algorithmId !== SHA256_OID) fail('the message imprint is not SHA-256');
  if (!same(bytes(mi.hashedMessage.valueBlock.valueHexView), o.imprint)) fail('the message imprint is not that of the checkpoint');
  if (o.nonce !== undefined && (!tst.nonce || tst.nonce.toBigInt() !== o.nonce)) fail('the nonce is not the one sent');

  // §2.4.2: the token holds the signature of the TSA alone.
  if (sd.signerInfos.length !== 1) fail('the token does not hold exactly one signature');
  const si = sd.signerInfos[0]!;
  const { attrs, hash } = checkSignerInfo(si, eContent);

  const raw = certificateBytes(token.content);
  const all = sd.certificates ?? [];
  if (raw.length !== all.length) fail('the token\'s certificates cannot be read');
  const certs = all.flatMap((c, i) => (c instanceof Certificate ? [{ cert: c, der: raw[i]! }] : []));
  const sid: unknown = si.sid;
  // Only issuerAndSerialNumber is looked up: TSAs answering certReq name their certificate so (RFC 5652 §5.3).
  const signerCert = sid instanceof IssuerAndSerialNumber ? certs.find(({ cert: c }) => c.serialNumber.isEqual(sid.serialNumber) && c.issuer.isEqual(sid.issuer)) : undefined;
  if (!signerCert) return fail('the token does not carry the certificate of its signer');
  checkKeyUsage(signerCert.cert);
  checkCertBinding(si, signerCert.der);

  const signer = new X509Certificate(signerCert.der);
  const signature = bytes(si.signature.valueBlock.valueHexView);
  let good = false;
  try {
    good = verifySignature(signatureHash(si, hash), attrs, signer.publicKey, signature);
  } catch {
    good = false;
  }
  if (!good) fail('the CMS signature over the signed attributes does not verify');

  const genTime = tst.genTime;
  const now = o.now ?? new Date();
  if (genTime.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) fail(`genTime ${genTime.toISOString()} is more than 5 minutes in the future`);
  if (anchors) checkChain(signer, certs.map((c) => (c === signerCert ? signer : new X509Certificate(c.der))), anchors, genTime);
  else if (!validAt(signer, genTime)) fail(`the certificate ${signer.subject.replace(/\n/g, ', ')} was not valid at genTime`);

  return { genTime, tsaName: nameOf(tst.tsa, signer), serial: tst.serialNumber.toBigInt(), tokenDer, signerNotAfter: new Date(signer.validTo) };
}
