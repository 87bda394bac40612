/**
 * RFC 3161 against a real TSA: OpenSSL's `openssl ts -reply` behind a loopback HTTP front, with keys and
 * certificates made here by `openssl`. Both ways: OpenSSL's TSA answers our requests and `openssl ts -verify`
 * accepts the tokens we accepted; and we refuse tokens for another imprint or nonce, from a certificate that is
 * not a TSA's, from an expired one, from another CA, and with a flipped signature byte.
 */
import assert from 'node:assert/strict';
import { createHash, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import { Certificate, ContentInfo, SignedData, TimeStampResp } from 'pkijs';
import { parseNote } from '../core/note.js';
import { runCliInProcess } from '../testing/cli.js';
import { tempDir } from '../testing/fixtures.js';
import { startTestTsa, tsaSkip, type TestTsa } from '../testing/tsa-server.js';
import { requestTimestamp } from './client.js';
import { noteImprint, timestampRequest } from './request.js';
import { verifyTimestampToken } from './verify.js';

const skip = tsaSkip;
const tmp = tempDir('timestamp');
let tsa: TestTsa;
before(async () => {
  if (!skip) tsa = await startTestTsa(tmp.dir);
});
after(async () => {
  await tsa?.close();
  tmp.cleanup();
});
const f = (name: string) => join(tmp.dir, name);
const ssl = (...args: string[]) => tsa.ssl(...args);
const BODY = 'example.org/ts\n3\nq2Fv6bM4rYl0A1yTqHk3xzmEk1V1mN1nM3Yk1u0lQ1c=\n';
const ca = () => tsa.ca();
/** Asks the OpenSSL TSA at `path` for a reply to a fresh request for BODY; returns the request and raw reply. */
async function reply(path: string): Promise<{ imprint: Buffer; nonce: bigint; der: Buffer }> {
  const req = timestampRequest(BODY);
  const res = await fetch(tsa.url(path), { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: req.der });
  assert.equal(res.status, 200);
  return { imprint: req.imprint, nonce: req.nonce, der: Buffer.from(await res.arrayBuffer()) };
}

function refuses(der: Uint8Array, o: { imprint: Buffer; nonce: bigint; caCerts?: string }, check: RegExp): void {
  assert.throws(() => verifyTimestampToken(der, { imprint: o.imprint, nonce: o.nonce, caCerts: o.caCerts ?? ca() }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INTEGRITY');
    assert.match(e.message, check);
    return true;
  });
}

/**
 * The token of `der` as if signed by `certPem` with `keyPem`: the certificate replaces the signer's, the ESSCertIDv2
 * hash is made to name it and the signed attributes are signed again, so only what the certificate says differs.
 */
function resign(der: Buffer, certPem: string, keyPem: string, bind = true): Buffer {
  const certDer = Buffer.from(certPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const resp = TimeStampResp.fromBER(der);
  const sd = new SignedData({ schema: resp.timeStampToken!.content });
  sd.certificates = [Certificate.fromBER(certDer)];
  const si = sd.signerInfos[0]!;
  const ess = si.signedAttrs!.attributes.find((a) => a.type === '1.2.840.113549.1.9.16.2.47')!.values[0] as asn1js.Sequence;
  const certId = ((ess.valueBlock.value[0] as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence).valueBlock.value[0] as asn1js.OctetString;
  if (bind) certId.valueBlock.valueHexView = new Uint8Array(createHash('sha256').update(certDer).digest());
  const attrsDer = Buffer.from(new asn1js.Set({ value: si.signedAttrs!.attributes.map((a) => a.toSchema()) }).toBER());
  si.signature = new asn1js.OctetString({ valueHex: sign('sha256', attrsDer, keyPem) });
  const token = new ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) });
  return Buffer.from(new TimeStampResp({ status: resp.status, timeStampToken: token }).toSchema().toBER());
}

describe('RFC 3161 time-stamp tokens from OpenSSL', { skip }, () => {
  it('requests, verifies, and OpenSSL verifies the same token for the same data and query', async () => {
    const t = await requestTimestamp(tsa.url('good'), BODY, ca());
    assert.deepEqual(t.imprint, noteImprint(BODY));
    assert.ok(Math.abs(t.genTime.getTime() - Date.now()) < 60_000);
    assert.equal(t.tsaName, 'O=Studio, CN=tsa');
    assert.equal(t.serial, BigInt(tsa.served())); // OpenSSL counts its tokens from 1 in its serial file
    writeFileSync(f('body.txt'), BODY);
    writeFileSync(f('token.der'), t.tokenDer);
    writeFileSync(f('query.der'), tsa.lastQuery());
    const byData = ssl('ts', '-verify', '-data', f('body.txt'), '-in', f('token.der'), '-token_in', '-CAfile', f('ca.pem'), '-untrusted', f('tsa.pem'));
    assert.match(byData, /^Verification: OK$/m);
    const byQuery = ssl('ts', '-verify', '-queryfile', f('query.der'), '-in', f('token.der'), '-token_in', '-CAfile', f('ca.pem'), '-untrusted', f('tsa.pem'));
    assert.match(byQuery, /^Verification: OK$/m);
    // And what OpenSSL parses out of our request: SHA-256 of the body, a nonce, certReq.
    const text = ssl('ts', '-query', '-in', f('query.der'), '-text');
    assert.match(text, /Hash Algorithm: sha256/);
    const hex = [...createHash('sha256').update(BODY).digest()].map((b) => b.toString(16).padStart(2, '0'));
    const row = (from: number) => `${hex.slice(from, from + 8).join(' ')}-${hex.slice(from + 8, from + 16).join(' ')}`;
    assert.ok(text.includes(`0000 - ${row(0)}`) && text.includes(`0010 - ${row(16)}`), text);
    assert.match(text, /^Nonce: 0x[0-9A-F]+$/m);
    assert.match(text, /Certificate required: yes/);
  });

  it('accepts the whole TimeStampResp and the bare token alike, and the re-signing of a good token', async () => {
    const r = await reply('good');
    const whole = verifyTimestampToken(r.der, { imprint: r.imprint, nonce: r.nonce, caCerts: ca() });
    const bare = verifyTimestampToken(whole.tokenDer, { imprint: r.imprint, nonce: r.nonce, caCerts: ca() });
    assert.deepEqual(bare, whole);
    // The helper the wrong-purpose case relies on yields a valid token when given the real TSA certificate back.
    const again = resign(r.der, readFileSync(f('tsa.pem'), 'utf8'), readFileSync(f('tsa.key'), 'utf8'));
    assert.equal(verifyTimestampToken(again, { imprint: r.imprint, nonce: r.nonce, caCerts: ca() }).serial, whole.serial);
  });

  it('refuses a token for another imprint, and one with another nonce', async () => {
    const r = await reply('good');
    refuses(r.der, { imprint: noteImprint(`${BODY}x\n`), nonce: r.nonce }, /message imprint is not that of the checkpoint/);
    refuses(r.der, { imprint: r.imprint, nonce: r.nonce + 1n }, /nonce is not the one sent/);
  });

  it('refuses a token signed with a certificate that is not for time-stamping', async () => {
    const r = await reply('good');
    const forged = resign(r.der, readFileSync(f('web.pem'), 'utf8'), readFileSync(f('tsa.key'), 'utf8'));
    refuses(forged, r, /not for time-stamping only \(extendedKeyUsage\)/);
    // OpenSSL refuses it too.
    writeFileSync(f('forged.der'), forged);
    assert.throws(
      () => ssl('ts', '-verify', '-data', f('body.txt'), '-in', f('forged.der'), '-CAfile', f('ca.pem')),
      (e: Error & { stderr?: Buffer }) => /certificate purpose/.test(String(e.stderr)),
    );
  });

  it('refuses a TSA certificate whose timeStamping purpose is not critical, and a certificate the ESSCertIDv2 does not name', async () => {
    const r = await reply('good');
    const key = readFileSync(f('tsa.key'), 'utf8');
    refuses(resign(r.der, readFileSync(f('soft.pem'), 'utf8'), key), r, /extendedKeyUsage is not critical/);
    // The TSA's key in a second valid TSA certificate, but not the one the signed attributes name.
    refuses(resign(r.der, readFileSync(f('tsa-twin.pem'), 'utf8'), key, false), r, /ESSCertIDv2 attribute does not name the certificate that signed/);
  });

  it('refuses a reply whose status is a refusal, with the TSA\'s reason', async () => {
    const r = await reply('sha512only');
    refuses(r.der, r, /the TSA refused the request \(PKIStatus 2: Message digest algorithm is not supported\.\)/);
  });

  it('refuses a token from a TSA certificate that had expired at genTime', async () => {
    const r = await reply('expired');
    refuses(r.der, r, /the certificate CN=tsa, O=Studio was not valid at genTime/);
  });

  it('refuses a token from a TSA under another CA', async () => {
    const r = await reply('other');
    refuses(r.der, r, /does not chain to a configured CA/);
    assert.equal(verifyTimestampToken(r.der, { ...r, caCerts: readFileSync(f('other-ca.pem'), 'utf8') }).tsaName, 'O=Studio, CN=other-tsa');
  });

  it('follows an intermediate the token carries only when its keyUsage lets it sign certificates', async () => {
    // Guards: a chain accepted through a CA certificate that was never meant to certify (RFC 5280 §4.2.1.3).
    const good = await reply('int-good');
    assert.equal(verifyTimestampToken(good.der, { ...good, caCerts: ca() }).tsaName, 'O=Studio, CN=tsa');
    const bad = await reply('int-bad');
    refuses(bad.der, bad, /does not chain to a configured CA/);
  });

  it('refuses a token with one flipped byte in its signature', async () => {
    const r = await reply('good');
    const sd = new SignedData({ schema: TimeStampResp.fromBER(r.der).timeStampToken!.content });
    const sig = Buffer.from(sd.signerInfos[0]!.signature.valueBlock.valueHexView);
    const at = r.der.indexOf(sig);
    assert.ok(at > 0 && r.der.indexOf(sig, at + 1) === -1);
    const flipped = Buffer.from(r.der);
    flipped[at + sig.length - 1]! ^= 0x01;
    refuses(flipped, r, /CMS signature over the signed attributes does not verify/);
  });

  it('refuses a genTime more than five minutes ahead of the clock', async () => {
    const r = await reply('good');
    assert.throws(() => verifyTimestampToken(r.der, { ...r, caCerts: ca(), now: new Date(Date.now() - 6 * 60_000) }), /more than 5 minutes in the future/);
  });

  it('reads no more of a reply than its bound, and takes nothing but a timestamp-reply with HTTP 200', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: Error & { code?: string }) => `${e.code}: ${e.message}`);
    assert.equal(await code(requestTimestamp(tsa.url('good'), BODY, ca(), { maxBytes: 100 })), "TOO_LARGE: the TSA's reply is larger than 100 bytes");
    assert.equal(await code(requestTimestamp(tsa.url('nowhere'), BODY, ca())), `IO: the TSA at ${new URL(tsa.url()).origin} answered HTTP 400`);
    assert.equal(await code(requestTimestamp('http://192.0.2.1/', BODY, ca())), 'USAGE: the TSA must be reached over https (plain http to loopback only): http://192.0.2.1');
  });

  it('ffaudit timestamp: one line for the latest checkpoint, and the token in -o FILE', async () => {
    const ledger = f('ledger');
    const cli = (...args: string[]) => runCliInProcess(['--ledger', ledger, ...args], { cwd: tmp.dir });
    assert.equal((await cli('init', '--origin', 'example.org/ts')).status, 0);
    assert.equal((await cli('note', 'received the rushes')).status, 0);
    assert.equal((await cli('note', 'handed over')).status, 0);
    const r = await cli('timestamp', '--tsa', tsa.url('good'), '--tsa-ca', f('ca.pem'), '-o', 'cp.tst');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^entry 1 existed no later than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z, according to TSA O=Studio, CN=tsa\ntoken written to cp\.tst \(serial \d+\)\n$/);
    const cp = await cli('checkpoint');
    writeFileSync(f('cp-body.txt'), parseNote(cp.stdout).text);
    assert.match(ssl('ts', '-verify', '-data', f('cp-body.txt'), '-in', f('cp.tst'), '-token_in', '-CAfile', f('ca.pem'), '-untrusted', f('tsa.pem')), /^Verification: OK$/m);

    // --force: the checkpoint has a token already, which would otherwise be shown instead of asking again.
    const other = await cli('timestamp', '--tsa', tsa.url('other'), '--tsa-ca', f('ca.pem'), '--force', '-o', 'bad.tst');
    assert.equal(other.status, 1);
    assert.match(other.stderr, /^ffaudit: time-stamp token: the signer certificate does not chain to a configured CA\n$/);
    const plain = await cli('timestamp', '--tsa', 'http://tsa.example.com/', '--tsa-ca', f('ca.pem'));
    assert.equal(plain.status, 2);
    assert.match(plain.stderr, /over https/);
  });
});
