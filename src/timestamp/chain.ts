/**
 * Tokens over a checkpoint and the renewals that keep them provable, checked as a chain (the idea of RFC 4998 §5.2,
 * with single tokens instead of hash trees): the first token's imprint is SHA-256 of the checkpoint's note body;
 * each renewal's is SHA-256 of the DER of the token before it. Each token verifies at its own genTime (verify.ts
 * checks the chain of certificates at genTime); a renewal must be made before the certificate of the token it
 * covers expires; and the newest must still be valid now, else the chain has lapsed. The same checks serve the
 * ledger's stored tokens, an archive's published ones and the monitor's.
 */
import { createHash } from 'node:crypto';
import { FfauditError } from '../core/errors.js';
import { noteImprint } from './request.js';
import { verifyTimestampToken, type VerifiedTimestamp } from './verify.js';

const fail = (why: string): never => {
  throw new FfauditError('INTEGRITY', why);
};

/** A token over a checkpoint whose note body (through its last newline, no signature lines) is `noteBody`. */
export function checkCheckpointToken(token: Uint8Array, noteBody: string, caCerts: string, now: Date): VerifiedTimestamp {
  return verifyTimestampToken(token, { imprint: noteImprint(noteBody), caCerts, now });
}

/** A renewal of `earlier` (already verified): over its DER, and made while its certificate was still valid. */
export function checkRenewal(token: Uint8Array, earlier: VerifiedTimestamp, caCerts: string, now: Date): VerifiedTimestamp {
  const v = verifyTimestampToken(token, { imprint: createHash('sha256').update(earlier.tokenDer).digest(), caCerts, now });
  if (v.genTime.getTime() >= earlier.signerNotAfter.getTime()) {
    fail(`the renewal at ${v.genTime.toISOString()} was made after the certificate of the token it renews expired (${earlier.signerNotAfter.toISOString()})`);
  }
  return v;
}

/** Why the newest token of a chain no longer keeps it provable (its certificate has expired), or undefined. */
export function lapsed(tip: VerifiedTimestamp, now: Date): string | undefined {
  if (tip.signerNotAfter.getTime() >= now.getTime()) return undefined;
  return `the TSA certificate of its newest token expired at ${tip.signerNotAfter.toISOString()} and no renewal covers it`;
}

/** A TSA's name as a line of text: it comes from a certificate, and control characters are not printed. */
export function shown(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/**
 * The words a timestamp supports: `entry N existed no later than T, according to TSA X`, N the last entry of the
 * checkpoint of `size` entries; with the newest renewal, how it is kept provable.
 */
export function stampSentence(size: number, own: VerifiedTimestamp, renewal?: VerifiedTimestamp): string {
  const base = `entry ${size - 1} existed no later than ${own.genTime.toISOString()}, according to TSA ${shown(own.tsaName)}`;
  return renewal ? `${base} (kept provable by a renewal at ${renewal.genTime.toISOString()}, according to TSA ${shown(renewal.tsaName)})` : base;
}
