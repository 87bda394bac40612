/**
 * Trusted time in evidence bundles: the `timestamps` section of `ffaudit-bundle/v1` and `/v2` (docs/provenance.md,
 * "Trusted time"). For a log of the bundle it holds one checkpoint of that log that a time-stamping authority
 * signed the time of (RFC 3161), the tokens over it and their RFC 4998-style renewals (a token whose imprint is
 * SHA-256 of an earlier token's DER), and a consistency proof (RFC 9162 §2.1.4) between that checkpoint and the
 * log's checkpoint in the bundle. The proof makes one check cover every entry: the bundle's entries are proven in
 * the log's checkpoint, and the two trees are one log's at two sizes, so each entry below the time-stamped size
 * was in the tree the TSA saw.
 *
 * core/ cannot read CMS, so the token check is passed in (TokenVerifier, built from src/timestamp/verify.ts); the
 * rest (the checkpoint's signature, the proof, the renewal chain, the coverage) is checked here.
 */
import { createHash } from 'node:crypto';
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { SHA256_HEX } from './entry.js';
import { FfauditError, isFfauditError } from './errors.js';
import { verifyConsistency } from './merkle.js';
import { decodeBase64Strict, type Verifier } from './note.js';

/** A token and its renewals are a few KiB each; a chain renewed yearly for a century stays far below these. */
const MAX_TOKEN_BYTES = 64 * 1024;
const MAX_TOKENS = 200;
/** A consistency proof has at most 2·log2(size) hashes. */
const MAX_PROOF_HASHES = 128;
const MAX_NOTE = 16 * 1024;

export interface BundleToken {
  /** The TimeStampToken (a CMS ContentInfo), DER. */
  token: Buffer;
  /** SHA-256 (hex) of the earlier token of the same section this one renews; null for a token over the checkpoint. */
  renews: string | null;
}

/** One log's trusted time: `log` names the log in a v2 bundle and is absent in v1 (one log). */
export interface BundleTimestamps {
  log?: string;
  /** The time-stamped checkpoint, a signed note of the log, verbatim. */
  checkpoint: string;
  /** Between the time-stamped checkpoint and the log's checkpoint in the bundle, smaller tree first. */
  consistency: Buffer[];
  /** Every renewal after the token it renews. */
  tokens: BundleToken[];
}

/** What a token check establishes, or it throws (src/timestamp/verify.ts VerifiedTimestamp is one). */
export interface VerifiedToken {
  genTime: Date;
  tsaName: string;
  serial: bigint;
  signerNotAfter: Date;
}

/** Checks a token completely against `imprint` (its signature, its certificate, and, if anchored, its chain). */
export type TokenVerifier = (tokenDer: Buffer, imprint: Buffer) => VerifiedToken;

export interface TimestampCheck {
  verify: TokenVerifier;
  /** Whether `verify` checks the TSA's certificate chain against CA certificates the caller trusts. */
  anchored: boolean;
  /**
   * Whether an error of `verify` says only that the token is sound but under a CA the caller did not give: such a
   * token states no time, and is no failure of the bundle (another TSA's, or a CA since rolled over).
   */
  unanchored?: (e: unknown) => boolean;
  /** Now, for whether a chain is still provable (its newest certificate unexpired); default the clock's. */
  now?: Date;
}

/** One verified token of a section, with the renewals that keep it provable. */
export interface TimeToken {
  sha256: string;
  genTime: string;
  tsaName: string;
  serial: string;
  signerNotAfter: string;
  renews: string | null;
  /** Renewals made before this token's certificate expired (RFC 4998 §5.2), each with its own renewals. */
  renewals: TimeToken[];
}

/** What was established of one log's section. */
export interface BundleTime {
  log: string;
  /** The time-stamped checkpoint's size; the last entry it covers is size - 1. */
  size: number;
  /** The bundle's entries of this log that the checkpoint covers (index < size), ascending. */
  covers: number[];
  /** Whether the tokens were checked (a TimestampCheck was given) and against a CA the caller trusts. */
  checked: boolean;
  anchored: boolean;
  /** The tokens over the checkpoint that verified, each with its renewal chain, still provable. */
  tokens: TimeToken[];
  /**
   * Tokens that verified but are no longer provable: the certificate of every newest token of their chain has
   * expired and no renewal made in time covers them (RFC 4998 §5.2). They state nothing.
   */
  lapsed: TimeToken[];
  /** Tokens sound but under a CA the caller did not give (with what renews them): they state nothing either. */
  otherCa: number;
  /** One per token: `entry N existed no later than T, according to TSA X` and its renewals. */
  sentences: string[];
}

function bad(message: string): FfauditError {
  return new FfauditError('BAD_INPUT', `bundle ${message}`);
}

/** Parses the `timestamps` field of either format. Untrusted input. */
export function parseBundleTimestamps(v: unknown, multi: boolean, logs: ReadonlySet<string>): BundleTimestamps[] {
  if (!Array.isArray(v)) throw bad('timestamps is not a list');
  if (v.length === 0) throw bad('timestamps is empty (a bundle without tokens has no timestamps field)');
  if (v.length > logs.size) throw bad('timestamps has more sections than the bundle has logs');
  const seen = new Set<string>();
  return v.map((item, i) => {
    const what = `timestamps ${i}`;
    const keys = multi ? ['log', 'checkpoint', 'consistency', 'tokens'] : ['checkpoint', 'consistency', 'tokens'];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw bad(`${what} is not a JSON object`);
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${what} has an unknown field ${JSON.stringify(k.slice(0, 40))}`);
    for (const k of keys) if (!(k in o)) throw bad(`${what} lacks the field ${k}`);
    let log: string | undefined;
    if (multi) {
      if (typeof o.log !== 'string' || !logs.has(o.log)) throw bad(`${what} names a log that is not one of its logs`);
      log = o.log;
    }
    const key = log ?? '';
    if (seen.has(key)) throw bad(`has two timestamps sections for one log`);
    seen.add(key);
    if (typeof o.checkpoint !== 'string' || o.checkpoint.length > MAX_NOTE) throw bad(`${what} checkpoint is not a string of at most ${MAX_NOTE} characters`);
    if (!Array.isArray(o.consistency) || o.consistency.length > MAX_PROOF_HASHES) throw bad(`${what} consistency is not a list of at most ${MAX_PROOF_HASHES} hashes`);
    const consistency = o.consistency.map((h, j) => {
      const b = typeof h === 'string' && h.length <= 64 ? decodeBase64Strict(h) : undefined;
      if (!b || b.length !== 32) throw bad(`${what} consistency hash ${j} is not a base64 SHA-256 hash`);
      return b;
    });
    if (!Array.isArray(o.tokens) || o.tokens.length === 0 || o.tokens.length > MAX_TOKENS) throw bad(`${what} tokens is not a list of 1 to ${MAX_TOKENS} tokens`);
    const tokens = o.tokens.map((t, j) => {
      if (typeof t !== 'object' || t === null || Array.isArray(t)) throw bad(`${what} token ${j} is not a JSON object`);
      const f = t as Record<string, unknown>;
      if (Object.keys(f).length !== 2 || !('token' in f) || !('renews' in f)) throw bad(`${what} token ${j} does not have exactly the fields token and renews`);
      const der = typeof f.token === 'string' && f.token.length <= (MAX_TOKEN_BYTES * 4) / 3 + 4 ? decodeBase64Strict(f.token) : undefined;
      if (!der || der.length === 0) throw bad(`${what} token ${j} is not standard padded base64 of at most ${MAX_TOKEN_BYTES} bytes`);
      if (f.renews !== null && (typeof f.renews !== 'string' || !SHA256_HEX.test(f.renews))) throw bad(`${what} token ${j} renews is neither null nor a lowercase hex SHA-256`);
      return { token: der, renews: f.renews };
    });
    return { ...(log !== undefined ? { log } : {}), checkpoint: o.checkpoint, consistency, tokens };
  });
}

/** The section as JSON (field order as documented). */
export function timestampsJson(ts: readonly BundleTimestamps[]): unknown[] {
  return ts.map((t) => ({
    ...(t.log !== undefined ? { log: t.log } : {}),
    checkpoint: t.checkpoint,
    consistency: t.consistency.map((h) => h.toString('base64')),
    tokens: t.tokens.map((k) => ({ token: k.token.toString('base64'), renews: k.renews })),
  }));
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/**
 * The sentence a token supports: `entry N existed no later than T, according to TSA X`, N the last entry the
 * checkpoint covers, T the genTime, X the TSA's name; then each renewal that keeps it provable (`live`: those whose
 * chain has not lapsed; every one when not given).
 */
export function timeSentence(size: number, t: TimeToken, live: (k: TimeToken) => boolean = () => true): string {
  const renewals = (r: TimeToken): string[] =>
    r.renewals.filter(live).flatMap((n) => [` (kept provable by a renewal at ${n.genTime}, according to TSA ${n.tsaName})`, ...renewals(n)]);
  return `entry ${size - 1} existed no later than ${t.genTime}, according to TSA ${t.tsaName}${renewals(t).join('')}`;
}

export interface LogTimeInput {
  origin: string;
  /** The log's checkpoint in the bundle, when it verified. */
  cp: SignedCheckpoint | null;
  /** The keys the log's checkpoint was opened with (null: none, so nothing of it is checked). */
  keys: readonly Verifier[] | null;
  /** The bundle's entry indices of this log (whether or not they verified: each failure is reported elsewhere). */
  entries: readonly number[];
}

/**
 * Checks one log's section; every failure goes to `fail`, prefixed by the caller. Returns what was established,
 * or null when nothing could be.
 */
export function checkLogTime(t: BundleTimestamps, log: LogTimeInput, check: TimestampCheck | undefined, fail: (m: string) => void): BundleTime | null {
  let tcp: SignedCheckpoint;
  try {
    tcp = log.keys ? openCheckpoint(t.checkpoint, log.keys, log.origin) : parseSignedCheckpoint(t.checkpoint);
  } catch (e) {
    if (!isFfauditError(e)) throw e;
    fail(`the time-stamped checkpoint: ${e.message}`);
    return null;
  }
  if (!log.keys) return null; // its signature could not be checked: nothing rests on it
  if (log.cp) {
    const [a, b] = tcp.size <= log.cp.size ? [tcp, log.cp] : [log.cp, tcp];
    if (!verifyConsistency(a.size, b.size, t.consistency, a.root, b.root)) {
      fail(`the time-stamped checkpoint (tree size ${tcp.size}) is not consistent with the bundle's checkpoint (tree size ${log.cp.size}): its consistency proof does not verify`);
      return null;
    }
  } else return null; // the bundle's checkpoint failed (reported): the proof has nothing to lead to
  const hashes = t.tokens.map((k) => sha256(k.token).toString('hex'));
  for (const [i, k] of t.tokens.entries()) {
    if (k.renews !== null && !hashes.slice(0, i).includes(k.renews)) fail(`time-stamp token ${i} renews a token that does not precede it in the bundle`);
  }
  if (hashes.length !== new Set(hashes).size) fail('the same time-stamp token is in the bundle twice');
  const covers = [...new Set(log.entries)].filter((i) => i < tcp.size).sort((x, y) => x - y);
  const result: BundleTime = { log: log.origin, size: tcp.size, covers, checked: check !== undefined, anchored: check?.anchored ?? false, tokens: [], lapsed: [], otherCa: 0, sentences: [] };
  if (!check) return result;

  const verified = new Map<string, TimeToken>();
  const notAfter = new Map<string, number>();
  const foreign = new Set<string>();
  for (const [i, k] of t.tokens.entries()) {
    const imprint = k.renews === null ? sha256(Buffer.from(tcp.parsed.text, 'utf8')) : Buffer.from(k.renews, 'hex');
    // A renewal of a token under a CA not given states no time either, but must still be a sound token over it.
    const overForeign = k.renews !== null && foreign.has(k.renews);
    let r: VerifiedToken;
    try {
      r = check.verify(k.token, imprint);
      if (overForeign) {
        foreign.add(hashes[i]!);
        continue;
      }
    } catch (e) {
      if (!isFfauditError(e)) throw e;
      if ((k.renews === null || overForeign) && check.unanchored?.(e)) {
        foreign.add(hashes[i]!);
        continue;
      }
      fail(`time-stamp token ${i} (over ${k.renews === null ? `the checkpoint at tree size ${tcp.size}` : `token ${hashes.indexOf(k.renews)}`}): ${e.message.replace(/^time-stamp token: /, '')}`);
      continue;
    }
    const tok: TimeToken = { sha256: hashes[i]!, genTime: r.genTime.toISOString(), tsaName: r.tsaName, serial: r.serial.toString(), signerNotAfter: r.signerNotAfter.toISOString(), renews: k.renews, renewals: [] };
    if (k.renews !== null) {
      const earlier = verified.get(k.renews);
      if (!earlier) continue; // the token it renews failed (reported) or is missing (reported)
      // A token over a token cannot be older than it: one that is says the TSA's clock or the bundle is wrong.
      if (r.genTime.getTime() < Date.parse(earlier.genTime)) {
        fail(`time-stamp token ${i} renews token ${hashes.indexOf(k.renews)} but is dated before it`);
        continue;
      }
      // RFC 4998 §5.2: a renewal keeps the earlier token provable only if made before its certificate expired.
      if (r.genTime.getTime() <= notAfter.get(k.renews)!) earlier.renewals.push(tok);
    } else result.tokens.push(tok);
    verified.set(tok.sha256, tok);
    notAfter.set(tok.sha256, r.signerNotAfter.getTime());
  }
  result.otherCa = foreign.size;
  // A chain is provable while one of its newest tokens' certificates is unexpired; a renewal made too late is not
  // in the chain (above), so it keeps nothing.
  const now = (check.now ?? new Date()).getTime();
  const alive = (k: TimeToken): boolean => Date.parse(k.signerNotAfter) >= now || k.renewals.some(alive);
  result.lapsed = result.tokens.filter((k) => !alive(k));
  result.tokens = result.tokens.filter(alive);
  result.sentences = result.tokens.map((k) => timeSentence(tcp.size, k, alive));
  return result;
}
