/**
 * Trusted time for the provenance commands: the TSA CA certificates a user trusts (--tsa-ca, or for a ledger its
 * config.json `"tsa": {"ca": FILE}`), made into the token check core/bundle-time.ts is given, and the words that
 * say what the check established.
 */
import type { BundleVerdict } from '../core/bundle.js';
import type { BundleTime, TimeToken, TimestampCheck } from '../core/bundle-time.js';
import { printable } from './lineage-format.js';
import { readSmall } from './inputs.js';
import { pathFrom, type Io } from './io.js';

/**
 * The PEM text of the CA files given (several files, or one holding several certificates), checked to hold
 * certificates (exit 2 otherwise); null when none was given.
 */
export async function tsaCaText(io: Io, files: readonly string[] | undefined): Promise<string | null> {
  if (!files || files.length === 0) return null;
  const pem = files.map((f) => readSmall(pathFrom(io, f), 'the TSA CA file', f).toString('utf8')).join('\n');
  const { parseCaCertificates } = await import('../timestamp/verify.js');
  parseCaCertificates(pem);
  return pem;
}

/**
 * The CA file a ledger's config.json names (`"tsa": {"url", "ca"}`, read as timestamp/config.ts reads it: the same
 * errors, a path relative to the ledger's folder unless absolute), as its text; null when no TSA is configured. A CA
 * file named but unreadable is an error: a report must not quietly leave out a check its keeper configured.
 */
export async function ledgerTsaCa(ledgerDir: string): Promise<string | null> {
  const { readCaFile, readTsaConfig } = await import('../timestamp/config.js');
  const cfg = readTsaConfig(ledgerDir);
  return cfg ? readCaFile(cfg.ca) : null;
}

/** The token check: against `caPem` when given (anchored), else every check but the chain to a CA. */
export async function timestampCheck(caPem: string | null): Promise<TimestampCheck> {
  const { isUnanchored, verifyTimestampToken } = await import('../timestamp/verify.js');
  return { verify: (tokenDer, imprint) => verifyTimestampToken(tokenDer, { imprint, caCerts: caPem }), anchored: caPem !== null, unanchored: isUnanchored };
}

/** "entry 4", "entries 4 and 7", "entries 4, 7 and 9"; a long list by its count and range. */
export function entryList(indices: readonly number[]): string {
  if (indices.length === 1) return `entry ${indices[0]}`;
  if (indices.length > 10) return `${indices.length} entries from ${indices[0]} to ${indices[indices.length - 1]}`;
  return `entries ${indices.slice(0, -1).join(', ')} and ${indices[indices.length - 1]}`;
}

/** The sentences of a log's section, each saying which of the bundle's entries it covers. */
export function timeLines(t: BundleTime, multi: boolean): string[] {
  const log = multi ? `log ${JSON.stringify(t.log)}: ` : '';
  return t.sentences.map((s) => `${log}${s}; so did the bundle's ${entryList(t.covers)}`);
}

/** The entries no verified token vouches for, as one clause per log. */
export function untimedText(v: BundleVerdict): string[] {
  return v.untimed.map((u) => `${entryList(u.entries)}${v.logs ? ` of log ${JSON.stringify(u.log)}` : ''}`);
}

/** verify-bundle's lines about trusted time, after its checks. */
export function formatTimeVerdict(v: BundleVerdict, anchored: boolean): string[] {
  const lines: string[] = [];
  const multi = v.logs !== undefined;
  for (const t of v.time) for (const s of timeLines(t, multi)) lines.push(`time        ${printable(s)}`);
  for (const t of v.time) {
    const log = multi ? `log ${JSON.stringify(t.log)}: ` : '';
    for (const k of t.lapsed) {
      // The latest expiry in its chain: the token's own certificate, or the last renewal's.
      const last = (r: TimeToken): string => r.renewals.map(last).reduce((m, x) => (x > m ? x : m), r.signerNotAfter);
      lines.push(`time        ${printable(`${log}the token of ${k.genTime} over tree size ${t.size} is no longer provable: the last TSA certificate of its chain expired at ${last(k)} and no renewal made in time covers it`)}`);
    }
    if (t.otherCa > 0) lines.push(`time        ${printable(`${log}${t.otherCa} token${t.otherCa === 1 ? '' : 's'} over tree size ${t.size} under a CA you did not give: they state no time`)}`);
  }
  const stated = v.time.some((t) => t.sentences.length > 0);
  if (stated) {
    lines.push(
      anchored
        ? "            (each token's signature, imprint and TSA certificate checked, the certificate against the CA you gave)"
        : "            NOTE: the TSA's certificate was NOT checked against a CA you trust (give --tsa-ca FILE): the tokens' signatures and imprints verify, but anyone can make a TSA certificate",
    );
  }
  const untimed = untimedText(v);
  if (untimed.length > 0) lines.push(`untimed     no time-stamp token vouches for ${printable(untimed.join('; '))}${stated ? '' : ": only the recording hosts' clocks date them"}`);
  return lines;
}

/** verify-bundle --json's `timestamps`: each log's section that could be checked. */
export function timestampsJson(v: BundleVerdict, anchored: boolean): unknown[] {
  const token = (t: TimeToken): unknown => ({ sha256: t.sha256, gen_time: t.genTime, tsa: t.tsaName, serial: t.serial, signer_not_after: t.signerNotAfter, renewals: t.renewals.map(token) });
  return v.time.map((t) => ({
    log: t.log,
    checkpoint_size: t.size,
    last_entry: t.size - 1,
    covers: t.covers,
    checked: t.checked,
    anchored: t.checked && anchored,
    sentences: t.sentences,
    tokens: t.tokens.map(token),
    ...(t.lapsed.length > 0 ? { lapsed: t.lapsed.map(token) } : {}),
    ...(t.otherCa > 0 ? { other_ca: t.otherCa } : {}),
  }));
}
