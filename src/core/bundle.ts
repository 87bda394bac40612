/**
 * Evidence bundles: one self-contained JSON file holding, for the lineage of one or more files, every entry's
 * exact bytes, a c2sp.org/tlog-proof for each against a signed checkpoint of its log, those checkpoints, and the
 * logs' verifier keys, so that anyone can check the story offline. `ffaudit-bundle/v1` holds one log's evidence
 * (one checkpoint, one key); `ffaudit-bundle/v2` holds several logs' (a lineage that crosses hosts), each entry
 * proven against its own log's checkpoint. docs/provenance.md documents every field; this module parses (hostile
 * input: every byte may be an attacker's) and verifies both.
 */
import { checkLogTime, parseBundleTimestamps, timestampsJson, type BundleTime, type BundleTimestamps, type TimestampCheck } from './bundle-time.js';
import { openCheckpoint, parseSignedCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { isBlobRef, parseEntry, resolveBlobs, SHA256_HEX, sha256Hex, type CustodyNote, type EntryBase, type FileRecord } from './entry.js';
import { FfauditError, isFfauditError } from './errors.js';
import { hashLeaf, verifyInclusion } from './merkle.js';
import { decodeBase64Strict, parseVerifierKey, type Verifier } from './note.js';
import { runFromEntries, type RunEndEntry, type RunRecord, type RunStartEntry } from './run.js';
import { checkCustodyNote, checkRunEnd, checkRunStart } from './run-shape.js';
import { checkpointWitnesses, quorumMet, type TlogPolicy } from './tlog-policy.js';
import { parseTlogProof } from './tlog-proof.js';

export const BUNDLE_FORMAT = 'ffaudit-bundle/v1';
/** Several logs' evidence in one bundle (docs/provenance.md, "Bundles across logs"). */
export const MULTI_BUNDLE_FORMAT = 'ffaudit-bundle/v2';
/** Bounds that keep a hostile bundle from costing more than a real one could. */
export const MAX_BUNDLE_ENTRIES = 1_000_000;
export const MAX_BUNDLE_BLOBS = 100_000;
/** A lineage across a whole facility's hosts stays far below this. */
export const MAX_BUNDLE_LOGS = 1000;
/**
 * A tlog-proof carries its checkpoint with the cosignature lines: signed-note asks verifiers to take at least 16
 * signatures, and an ML-DSA-44 cosignature line is about 3.3 kB.
 */
const MAX_PROOF_TEXT = 64 * 1024;
const MAX_NOTE_TEXT = 64 * 1024;

export interface BundleSubject {
  path: string;
  sha256: string;
}

export interface BundleEntry {
  index: number;
  data: Buffer;
  /** c2sp.org/tlog-proof@v1 text for this entry against the bundle's checkpoint (v2: its log's checkpoint). */
  proof: string;
}

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  created: string;
  origin: string;
  vkey: string;
  checkpoint: string;
  subjects: BundleSubject[];
  sources: string[];
  entries: BundleEntry[];
  blobs: { sha256: string; data: Buffer }[];
  /** RFC 3161 tokens over a checkpoint of the log (bundle-time.ts); absent when the log keeps none that fits. */
  timestamps?: BundleTimestamps[];
}

/** One log of a v2 bundle: its identity and the one checkpoint its entries are proven against. */
export interface BundleLog {
  origin: string;
  vkey: string;
  /** The signed checkpoint note, verbatim, with whatever cosignature lines the log's source gave. */
  checkpoint: string;
}

export interface MultiBundleEntry extends BundleEntry {
  /** The origin of the log that holds the entry (one of the bundle's `logs`). */
  log: string;
}

export interface MultiBundle {
  format: typeof MULTI_BUNDLE_FORMAT;
  created: string;
  logs: BundleLog[];
  subjects: BundleSubject[];
  sources: string[];
  entries: MultiBundleEntry[];
  blobs: { sha256: string; data: Buffer }[];
  /** As Bundle.timestamps, one section per log at most, each naming its log. */
  timestamps?: BundleTimestamps[];
}

/** The bundle's JSON text (documented in docs/provenance.md). */
export function formatBundle(b: Bundle | MultiBundle): string {
  const blobs = b.blobs.map((x) => ({ sha256: x.sha256, data: x.data.toString('base64') }));
  if (b.format === MULTI_BUNDLE_FORMAT) {
    const doc = {
      format: b.format,
      created: b.created,
      logs: b.logs.map((l) => ({ origin: l.origin, vkey: l.vkey, checkpoint: l.checkpoint })),
      subjects: b.subjects,
      sources: b.sources,
      entries: b.entries.map((e) => ({ log: e.log, index: e.index, data: e.data.toString('base64'), proof: e.proof })),
      blobs,
      ...timestampsField(b),
    };
    return `${JSON.stringify(doc, null, 1)}\n`;
  }
  const doc = {
    format: b.format,
    created: b.created,
    origin: b.origin,
    vkey: b.vkey,
    checkpoint: b.checkpoint,
    subjects: b.subjects,
    sources: b.sources,
    entries: b.entries.map((e) => ({ index: e.index, data: e.data.toString('base64'), proof: e.proof })),
    blobs,
    ...timestampsField(b),
  };
  return `${JSON.stringify(doc, null, 1)}\n`;
}

/** A bundle without tokens is byte for byte what it was before the field existed. */
function timestampsField(b: Bundle | MultiBundle): { timestamps?: unknown[] } {
  return b.timestamps && b.timestamps.length > 0 ? { timestamps: timestampsJson(b.timestamps) } : {};
}

function bad(message: string): FfauditError {
  return new FfauditError('BAD_INPUT', `bundle ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Only the listed keys, each present (and `optional` ones, which may be absent); an unknown key means a format we do
 * not know, so it is refused.
 */
function fields(v: unknown, what: string, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isObject(v)) throw bad(`${what} is not a JSON object`);
  for (const k of Object.keys(v)) if (!keys.includes(k) && !optional.includes(k)) throw bad(`${what} has an unknown field ${JSON.stringify(k.slice(0, 40))}`);
  for (const k of keys) if (!(k in v)) throw bad(`${what} lacks the field ${k}`);
  return v;
}

function str(v: unknown, what: string, max = 1 << 20): string {
  if (typeof v !== 'string') throw bad(`${what} is not a string`);
  if (v.length > max) throw bad(`${what} is too long`);
  return v;
}

function sha(v: unknown, what: string): string {
  if (typeof v !== 'string' || !SHA256_HEX.test(v)) throw bad(`${what} is not a lowercase hex SHA-256`);
  return v;
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} is not a list`);
  if (v.length > max) throw bad(`${what} has more than ${max} items`);
  return v;
}

function base64(v: unknown, what: string): Buffer {
  const b = decodeBase64Strict(str(v, what, 64 << 20));
  if (!b) throw bad(`${what} is not standard padded base64`);
  return b;
}

function entryIndex(v: unknown, i: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`entry ${i} index is not a non-negative integer`);
  return v;
}

/** A log name inside a message: quoted, cut short, so that a hostile origin cannot flood or break the line. */
function q(origin: string): string {
  return JSON.stringify(origin.length > 200 ? `${origin.slice(0, 199)}…` : origin);
}

/** The fields both formats share after their own: subjects, sources and blobs. */
function common(o: Record<string, unknown>): Pick<Bundle, 'created' | 'subjects' | 'sources' | 'blobs'> {
  const subjects = list(o.subjects, 'subjects', 10_000).map((s, i) => {
    const f = fields(s, `subject ${i}`, ['path', 'sha256']);
    return { path: str(f.path, `subject ${i} path`, 64 * 1024), sha256: sha(f.sha256, `subject ${i} sha256`) };
  });
  if (subjects.length === 0) throw bad('names no subject file');
  return {
    created: str(o.created, 'created', 100),
    subjects,
    sources: list(o.sources, 'sources', MAX_BUNDLE_ENTRIES).map((s, i) => sha(s, `source ${i}`)),
    blobs: list(o.blobs, 'blobs', MAX_BUNDLE_BLOBS).map((b, i) => {
      const f = fields(b, `blob ${i}`, ['sha256', 'data']);
      return { sha256: sha(f.sha256, `blob ${i} sha256`), data: base64(f.data, `blob ${i} data`) };
    }),
  };
}

/** Parses a bundle's bytes, either format. Untrusted input: throws BAD_INPUT on anything that is not exactly a format. */
export function parseBundle(bytes: Uint8Array): Bundle | MultiBundle {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('is not UTF-8 text');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('is not JSON (damaged or truncated)');
  }
  if (isObject(doc) && doc.format === MULTI_BUNDLE_FORMAT) return parseMultiBundle(doc);
  const o = fields(doc, 'document', ['format', 'created', 'origin', 'vkey', 'checkpoint', 'subjects', 'sources', 'entries', 'blobs'], ['timestamps']);
  if (o.format !== BUNDLE_FORMAT) throw bad(`format is not ${BUNDLE_FORMAT}`);
  const { created, subjects, sources, blobs } = common(o);
  const seen = new Set<number>();
  const entries = list(o.entries, 'entries', MAX_BUNDLE_ENTRIES).map((e, i) => {
    const f = fields(e, `entry ${i}`, ['index', 'data', 'proof']);
    const index = entryIndex(f.index, i);
    if (seen.has(index)) throw bad(`holds entry ${index} twice`);
    seen.add(index);
    return { index, data: base64(f.data, `entry ${index} data`), proof: str(f.proof, `entry ${index} proof`, MAX_PROOF_TEXT) };
  });
  if (entries.length === 0) throw bad('holds no entries');
  const origin = str(o.origin, 'origin', 1024);
  return {
    format: BUNDLE_FORMAT,
    created,
    origin,
    vkey: str(o.vkey, 'vkey', 2048),
    checkpoint: str(o.checkpoint, 'checkpoint', MAX_PROOF_TEXT),
    subjects,
    sources,
    entries,
    blobs,
    ...('timestamps' in o ? { timestamps: parseBundleTimestamps(o.timestamps, false, new Set([origin])) } : {}),
  };
}

/**
 * `ffaudit-bundle/v2`: every log named once, every entry in a named log and held once per log, and every log
 * holding at least one entry (a log with none proves nothing and only widens what a verifier must be given).
 */
function parseMultiBundle(doc: Record<string, unknown>): MultiBundle {
  const o = fields(doc, 'document', ['format', 'created', 'logs', 'subjects', 'sources', 'entries', 'blobs'], ['timestamps']);
  const logs = list(o.logs, 'logs', MAX_BUNDLE_LOGS).map((l, i) => {
    const f = fields(l, `log ${i}`, ['origin', 'vkey', 'checkpoint']);
    return { origin: str(f.origin, `log ${i} origin`, 1024), vkey: str(f.vkey, `log ${i} vkey`, 2048), checkpoint: str(f.checkpoint, `log ${i} checkpoint`, MAX_PROOF_TEXT) };
  });
  if (logs.length === 0) throw bad('names no log');
  const origins = new Set<string>();
  for (const l of logs) {
    if (origins.has(l.origin)) throw bad(`names the log ${q(l.origin)} twice`);
    origins.add(l.origin);
  }
  const { created, subjects, sources, blobs } = common(o);
  const seen = new Map<string, Set<number>>([...origins].map((x) => [x, new Set<number>()]));
  const entries = list(o.entries, 'entries', MAX_BUNDLE_ENTRIES).map((e, i) => {
    const f = fields(e, `entry ${i}`, ['log', 'index', 'data', 'proof']);
    const log = str(f.log, `entry ${i} log`, 1024);
    const index = entryIndex(f.index, i);
    const held = seen.get(log);
    if (!held) throw bad(`entry ${i} names the log ${q(log)}, which is not one of its logs`);
    if (held.has(index)) throw bad(`holds entry ${index} of the log ${q(log)} twice`);
    held.add(index);
    const what = `entry ${index} of the log ${q(log)}`;
    return { log, index, data: base64(f.data, `${what} data`), proof: str(f.proof, `${what} proof`, MAX_PROOF_TEXT) };
  });
  for (const [log, held] of seen) if (held.size === 0) throw bad(`holds no entry of the log ${q(log)}`);
  const timestamps = 'timestamps' in o ? { timestamps: parseBundleTimestamps(o.timestamps, true, origins) } : {};
  return { format: MULTI_BUNDLE_FORMAT, created, logs, subjects, sources, entries, blobs, ...timestamps };
}

export interface BundleNote {
  index: number;
  time: string;
  by: CustodyNote['by'];
  text: string;
  files: FileRecord[];
  /** v2 only: the origin of the log that holds the note. */
  log?: string;
}

/** A run of the bundle; `log` (v2 only) names the log that holds it. */
export type BundleRun = RunRecord & { log?: string };

export interface BundleQuorum {
  quorum: string;
  witnesses: string[];
  met: boolean;
}

/** What was checked of one log of a v2 bundle. */
export interface BundleLogVerdict {
  origin: string;
  /** The key the log's checkpoint was checked with (the one you gave for it, or with --insecure-any-key the bundle's own). */
  keyName: string | null;
  keyId: string | null;
  /** SHA-256 of the raw Ed25519 public key, hex. */
  keyFingerprint: string | null;
  checkpointSize: number | null;
  /** How many of the bundle's entries are this log's. */
  entries: number;
  /** With a policy whose quorum is not `none`: as BundleVerdict.quorum, for this log's checkpoint. */
  quorum?: BundleQuorum;
}

export interface BundleVerdict {
  ok: boolean;
  /** Every check that failed, each one sentence. */
  failures: string[];
  /** True only when the caller supplied the key (--pubkey): every signature is then checked against it, never the bundle's own. */
  keyVerified: boolean;
  /** v1: the log's origin, key and checkpoint size; null for a v2 bundle, whose logs are in `logs`. */
  origin: string | null;
  keyName: string | null;
  keyId: string | null;
  /** SHA-256 of the raw Ed25519 public key, hex. */
  keyFingerprint: string | null;
  checkpointSize: number | null;
  /** v2 only: each log, in the bundle's order. */
  logs?: BundleLogVerdict[];
  entries: number;
  blobs: number;
  /** The runs, oldest first (v2: in each log by index, the logs merged by recorded time). */
  runs: BundleRun[];
  notes: BundleNote[];
  subjects: BundleSubject[];
  sources: string[];
  /**
   * How the runs connect (docs/provenance.md, "What a bundle proves"): inputs whose producer a signed entry names
   * (`produced_by`, present in the bundle), inputs joined to an earlier bundled run by content only (v2: also a
   * run of another log that ended, by the recorded times, before the reader started), and the sources: those a
   * signed entry records as produced by no run, and those only the bundle's unsigned `sources` list calls sources.
   */
  lineage: { signedLinks: number; contentLinks: number; signedSources: string[]; unsignedSources: string[] };
  file?: { sha256: string; subject: boolean; producedBy: string[] };
  /**
   * v1, with a policy whose quorum is not `none`: the quorum, the policy's witnesses whose cosignatures on the
   * checkpoint verify (by their names in the policy), and whether they meet it. (v2: per log, in `logs`.)
   */
  quorum?: BundleQuorum;
  /** Trusted time (bundle-time.ts): each log's section that could be checked, in the bundle's order of logs. */
  time: BundleTime[];
  /**
   * The bundle's entries of each log that no token vouches for: no section, or one whose checkpoint, proof or
   * every token failed, or (with no TimestampCheck given) any section at all. Only logs with such entries.
   */
  untimed: { log: string; entries: number[] }[];
}

export type VerifierKey = Verifier & { publicKey: Buffer };

export interface VerifyBundleOptions {
  /** The log's verifier key, obtained independently of the bundle. */
  pubkey?: VerifierKey;
  /**
   * More accepted keys (several --pubkey, or a tlog-policy's logs). v1: the checkpoint must be signed by one of
   * them. v2: each log's checkpoint must be signed by one of those named after its origin.
   */
  pubkeys?: VerifierKey[];
  /** SHA-256 (hex) of the file the bundle should vouch for. */
  fileSha256?: string;
  /**
   * A c2sp.org/tlog-policy: its logs are accepted keys (the caller adds them to `pubkeys`), and its quorum of
   * witnesses must have cosigned the bundle's checkpoint (v2: every log's checkpoint).
   */
  policy?: TlogPolicy;
  /** How RFC 3161 tokens are checked; without it, a token's checkpoint and proof are checked, the token is not. */
  timestamps?: TimestampCheck;
}

function emptyVerdict(): BundleVerdict {
  return {
    ok: false,
    failures: [],
    keyVerified: false,
    origin: null,
    keyName: null,
    keyId: null,
    keyFingerprint: null,
    checkpointSize: null,
    entries: 0,
    blobs: 0,
    runs: [],
    notes: [],
    subjects: [],
    sources: [],
    lineage: { signedLinks: 0, contentLinks: 0, signedSources: [], unsignedSources: [] },
    time: [],
    untimed: [],
  };
}

export function keyFingerprint(publicKey: Uint8Array): string {
  return sha256Hex(publicKey);
}

/**
 * Verifies a bundle's bytes completely, offline, either format. Never throws for anything in the bundle: a damaged
 * or hostile bundle gives a verdict with `ok: false` and the reasons.
 */
export function verifyBundle(bytes: Uint8Array, opts: VerifyBundleOptions = {}): BundleVerdict {
  const v = emptyVerdict();
  v.keyVerified = givenKeys(opts).length > 0;
  try {
    checkBundle(normalize(parseBundle(bytes)), opts, v);
  } catch (e) {
    if (!isFfauditError(e)) throw e;
    v.failures.push(e.message);
  }
  v.ok = v.failures.length === 0;
  return v;
}

function givenKeys(opts: VerifyBundleOptions): VerifierKey[] {
  return [...(opts.pubkey ? [opts.pubkey] : []), ...(opts.pubkeys ?? [])];
}

/** Both formats as one: logs by position, each entry naming its log's position. */
interface Evidence {
  multi: boolean;
  logs: BundleLog[];
  subjects: BundleSubject[];
  sources: string[];
  entries: { log: number; index: number; data: Buffer; proof: string }[];
  blobs: { sha256: string; data: Buffer }[];
  timestamps: BundleTimestamps[];
}

function normalize(b: Bundle | MultiBundle): Evidence {
  if (b.format === BUNDLE_FORMAT) {
    const timestamps = (b.timestamps ?? []).map((t) => ({ ...t, log: b.origin }));
    return { multi: false, logs: [{ origin: b.origin, vkey: b.vkey, checkpoint: b.checkpoint }], subjects: b.subjects, sources: b.sources, entries: b.entries.map((e) => ({ ...e, log: 0 })), blobs: b.blobs, timestamps };
  }
  const pos = new Map(b.logs.map((l, i) => [l.origin, i]));
  return { multi: true, logs: b.logs, subjects: b.subjects, sources: b.sources, entries: b.entries.map((e) => ({ log: pos.get(e.log)!, index: e.index, data: e.data, proof: e.proof })), blobs: b.blobs, timestamps: b.timestamps ?? [] };
}

/** How messages name things: v1 exactly as always ("entry 3"); v2 with the log ("entry 3 of log "…""). */
interface Names {
  entry: (log: number, index: number) => string;
  run: (log: number, id: string) => string;
  /** A prefix for a log's own checks: empty for v1. */
  log: (log: number) => string;
}

function namesFor(ev: Evidence): Names {
  if (!ev.multi) return { entry: (_l, i) => `entry ${i}`, run: (_l, id) => `run ${id}`, log: () => '' };
  const o = (l: number) => q(ev.logs[l]!.origin);
  return { entry: (l, i) => `entry ${i} of log ${o(l)}`, run: (l, id) => `run ${id} of log ${o(l)}`, log: (l) => `log ${o(l)}: ` };
}

/** A checked entry: its log's position, its index there, the entry (blobs resolved) and its leaf hash. */
interface Checked {
  log: number;
  index: number;
  entry: EntryBase;
  leaf: string;
}

/** The key and checkpoint of one log; fills the verdict's key fields (v1) or returns the log's verdict (v2). */
function checkLog(ev: Evidence, at: number, opts: VerifyBundleOptions, v: BundleVerdict, names: Names): OpenedLog {
  const log = ev.logs[at]!;
  const pre = names.log(at);
  const fail = (m: string) => v.failures.push(`${pre}${m}`);
  const lv: BundleLogVerdict = { origin: log.origin, keyName: null, keyId: null, keyFingerprint: null, checkpointSize: null, entries: 0 };
  // 1. The key. The bundle's own key only proves internal consistency; the caller's key proves who signed.
  let bundleKey: VerifierKey | null = null;
  try {
    bundleKey = parseVerifierKey(log.vkey);
  } catch (e) {
    fail(`the bundle's verifier key${ev.multi ? ' for it' : ''} is malformed: ${(e as Error).message}`);
  }
  const given = givenKeys(opts);
  const same = (k: VerifierKey) => bundleKey !== null && k.name === bundleKey.name && k.publicKey.equals(bundleKey.publicKey);
  let key: VerifierKey | null;
  let accepted: VerifierKey[] | null; // the keys the checkpoint is opened with; null: none, so it is not opened
  if (!ev.multi) {
    // Several keys may be given (a key rotation, or a policy's logs): the checkpoint must be signed by one of them
    // (c2sp.org/tlog-policy: "signed by any one of the listed logs"), and the bundle's own key must be one of them.
    key = given.length > 0 ? (given.find(same) ?? given.find((k) => k.name === log.origin) ?? given[0]!) : bundleKey;
    if (given.length > 0 && bundleKey && !given.some(same)) {
      fail(`the bundle's verifier key is not ${given.length === 1 ? 'the key' : 'one of the keys'} you gave (--pubkey or --policy): the bundle was signed by someone else`);
    }
    if (key && key.name !== log.origin) fail(`the key is named ${JSON.stringify(key.name)}, not after the log's origin ${JSON.stringify(log.origin)}`);
    accepted = key ? (given.length > 0 ? given.filter((k) => k.name === log.origin) : [key]) : null;
  } else if (given.length > 0) {
    // Each log by its own key: only the keys named after its origin can vouch for its checkpoint, so a key given
    // for one log never lends its trust to another (a key is named after its log: c2sp.org/tlog-checkpoint).
    const mine = given.filter((k) => k.name === log.origin);
    key = mine.find(same) ?? mine[0] ?? null;
    if (mine.length === 0) {
      fail(`no key was given for this log (give its verifier key with --pubkey, or a policy with its log line): its checkpoint cannot be checked`);
    } else if (bundleKey && !mine.some(same)) {
      fail(`the bundle's verifier key for it is not ${mine.length === 1 ? 'the key' : 'one of the keys'} you gave (--pubkey or --policy): it was signed by someone else`);
    }
    accepted = mine.length > 0 ? mine : null;
  } else {
    key = bundleKey;
    if (key && key.name !== log.origin) fail(`the key is named ${JSON.stringify(key.name)}, not after the log's origin ${JSON.stringify(log.origin)}`);
    accepted = key ? [key] : null;
  }
  if (key) {
    lv.keyName = key.name;
    lv.keyId = key.keyId.toString('hex');
    lv.keyFingerprint = keyFingerprint(key.publicKey);
  }

  // 2. The checkpoint: c2sp.org/tlog-checkpoint, signed by the key (c2sp.org/signed-note).
  let cp: SignedCheckpoint | null = null;
  try {
    if (accepted) cp = openCheckpoint(log.checkpoint, accepted, log.origin);
    else if (!ev.multi) cp = parseSignedCheckpoint(log.checkpoint);
    lv.checkpointSize = cp ? cp.size : parseSignedCheckpoint(log.checkpoint).size;
  } catch (e) {
    fail(`checkpoint: ${(e as Error).message}`);
    try {
      lv.checkpointSize = parseSignedCheckpoint(log.checkpoint).size;
    } catch {
      // already reported
    }
  }

  // 2b. Witnesses (c2sp.org/tlog-policy): the quorum must have cosigned the checkpoint (c2sp.org/tlog-cosignature
  // lines on the same note). A witness's line that does not verify fails the bundle: a forged cosignature is not
  // merely absent. Lines of keys the policy does not list are ignored. With several logs, every log's checkpoint
  // must meet the quorum: each is a separate claim by a separate key.
  if (opts.policy && opts.policy.quorum !== 'none') {
    try {
      const w = checkpointWitnesses(opts.policy, log.checkpoint);
      for (const name of w.failed) fail(`the cosignature of witness ${JSON.stringify(name)} on the checkpoint does not verify: it was forged or altered`);
      const met = quorumMet(opts.policy, w.witnessed);
      const witnesses = opts.policy.witnesses.filter((n) => w.witnessed.has(n));
      lv.quorum = { quorum: opts.policy.quorum, witnesses, met };
      if (!met) {
        const missing = opts.policy.witnesses.filter((n) => !w.witnessed.has(n));
        fail(`the checkpoint is not cosigned by the quorum the policy requires (${JSON.stringify(opts.policy.quorum)}): ${witnesses.length === 0 ? 'no witness of the policy cosigned it' : `only ${witnesses.map((n) => JSON.stringify(n)).join(', ')} did`}; missing: ${missing.map((n) => JSON.stringify(n)).join(', ')}`);
      }
    } catch (e) {
      if (!isFfauditError(e)) throw e;
      lv.quorum = { quorum: opts.policy.quorum, witnesses: [], met: false };
      fail(`checkpoint: ${e.message}`);
    }
  }
  return { cp, lv, keys: accepted };
}

/** A log's checkpoint as checked (null when it failed), its verdict, and the keys it was opened with. */
interface OpenedLog {
  cp: SignedCheckpoint | null;
  lv: BundleLogVerdict;
  keys: VerifierKey[] | null;
}

/** The cryptographic checks: keys, checkpoint signatures, every entry's hash and inclusion proof, every blob's hash. */
function checkEvidence(ev: Evidence, opts: VerifyBundleOptions, v: BundleVerdict, names: Names): Checked[] {
  const fail = (m: string) => v.failures.push(m);
  const cps: (SignedCheckpoint | null)[] = [];
  const logVerdicts: BundleLogVerdict[] = [];
  const opened: OpenedLog[] = [];
  ev.logs.forEach((_, at) => {
    const o = checkLog(ev, at, opts, v, names);
    opened.push(o);
    cps.push(o.cp);
    logVerdicts.push(o.lv);
  });
  if (ev.multi) v.logs = logVerdicts;
  else {
    const lv = logVerdicts[0]!;
    v.keyName = lv.keyName;
    v.keyId = lv.keyId;
    v.keyFingerprint = lv.keyFingerprint;
    v.origin = lv.origin;
    v.checkpointSize = lv.checkpointSize;
    if (lv.quorum) v.quorum = lv.quorum;
  }

  // 3. Blobs: content-addressed, so each must hash to its name.
  const blobs = new Map<string, Buffer>();
  for (const x of ev.blobs) {
    if (sha256Hex(x.data) !== x.sha256) fail(`blob ${x.sha256} does not match its SHA-256 (altered)`);
    else blobs.set(x.sha256, x.data);
  }
  v.blobs = blobs.size;

  // 4. Entries: leaf hash = SHA-256(0x00 ‖ bytes) (RFC 6962 §2.1), inclusion proof (RFC 9162 §2.1.3.2) to the root
  // of the entry's own log's checkpoint.
  const good: Checked[] = [];
  const referenced = new Set<string>();
  for (const e of ev.entries) {
    const what = names.entry(e.log, e.index);
    const log = ev.logs[e.log]!;
    const cp = cps[e.log] ?? null;
    logVerdicts[e.log]!.entries++;
    let proof;
    try {
      proof = parseTlogProof(e.proof);
    } catch (err) {
      fail(`${what}: its tlog-proof is malformed: ${(err as Error).message}`);
      continue;
    }
    if (proof.checkpoint.note !== log.checkpoint) {
      fail(`${what}: its tlog-proof is against a different checkpoint than ${ev.multi ? "its log's" : "the bundle's"}`);
      continue;
    }
    if (proof.index !== e.index) {
      fail(`${what}: its tlog-proof is for entry ${proof.index}`);
      continue;
    }
    const leaf = hashLeaf(e.data);
    if (cp && !verifyInclusion(leaf, e.index, cp.size, proof.proof, cp.root)) {
      fail(`${what}: not included in the signed log (its bytes or its inclusion proof were altered)`);
      continue;
    }
    let entry: EntryBase;
    try {
      entry = parseEntry(e.data);
      for (const val of Object.values(entry)) if (isBlobRef(val)) referenced.add(val.$blob);
      entry = resolveBlobs(entry, (h) => blobs.get(h));
    } catch (err) {
      fail(`${what}: ${(err as Error).message}`);
      continue;
    }
    if (typeof entry.report_sha256 === 'string') referenced.add(entry.report_sha256);
    good.push({ log: e.log, index: e.index, entry, leaf: leaf.toString('hex') });
  }
  v.entries = ev.entries.length;
  for (const h of blobs.keys()) if (!referenced.has(h)) fail(`blob ${h} is not named by any entry in the bundle`);
  checkTime(ev, opened, opts, v, names);
  return good;
}

/**
 * 5. Trusted time (bundle-time.ts): each log's section against that log's keys and checkpoint; which entries no
 * token vouches for. v1 failures read "time-stamped checkpoint: …", v2 ones name the log first.
 */
function checkTime(ev: Evidence, opened: readonly OpenedLog[], opts: VerifyBundleOptions, v: BundleVerdict, names: Names): void {
  const covered = new Map<number, BundleTime>();
  for (const t of ev.timestamps) {
    const at = ev.logs.findIndex((l) => l.origin === t.log);
    const o = opened[at]!;
    const entries = ev.entries.filter((e) => e.log === at).map((e) => e.index);
    const r = checkLogTime(t, { origin: t.log!, cp: o.cp, keys: o.keys, entries }, opts.timestamps, (m) => v.failures.push(`${names.log(at)}${m}`));
    if (!r) continue;
    v.time.push(r);
    if (r.tokens.length > 0) covered.set(at, r);
  }
  ev.logs.forEach((l, at) => {
    const size = covered.get(at)?.size ?? 0;
    const entries = ev.entries.filter((e) => e.log === at && e.index >= size).map((e) => e.index).sort((a, b) => a - b);
    if (entries.length > 0) v.untimed.push({ log: l.origin, entries });
  });
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/**
 * Nanoseconds since the epoch of an RFC 3339 time, or null: the same reading as time/time.ts parseTimeNs, which
 * core/ may not import (it must stay checkable with SHA-256 and Ed25519 alone). Untrusted input.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;
function timeNs(text: unknown): bigint | null {
  if (typeof text !== 'string') return null;
  const m = RFC3339.exec(text);
  if (!m) return null;
  const base = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.toUpperCase() === 'Z' ? 'Z' : m[8]}`);
  if (Number.isNaN(base)) return null;
  return BigInt(base) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0') || '0');
}

/** A bundled run and the position of the log that holds it. */
interface LoggedRun {
  log: number;
  run: RunRecord;
  /** Unique in the bundle: run ids are only unique within a log. */
  key: string;
}

/**
 * Whether `p` had finished before `c` started. Inside one log the indices order them (p's end precedes c's start);
 * across logs only the recorded times can (p ended at or before c started), as the lineage walk orders them
 * (lineage/walk.ts producedBefore): so a cross-log step is only as sound as the two hosts' clocks, and a time that
 * cannot be read orders nothing.
 */
function endedBefore(p: LoggedRun, c: LoggedRun): boolean {
  const end = p.run.entries[1];
  if (end === undefined) return false;
  if (p.log === c.log) return end < c.run.entries[0]!;
  const ended = timeNs(p.run.ended_at);
  const started = timeNs(c.run.started_at);
  return ended !== null && started !== null && ended <= started;
}

/** Oldest first: by index inside each log (the log's own order), the logs merged by recorded start time (ties: bundle order). */
function oldestFirst(runs: LoggedRun[]): LoggedRun[] {
  const byLog = new Map<number, LoggedRun[]>();
  for (const r of runs) {
    const l = byLog.get(r.log) ?? [];
    l.push(r);
    byLog.set(r.log, l);
  }
  const lists = [...byLog].sort((a, b) => a[0] - b[0]).map(([, l]) => ({ l: l.sort((a, b) => a.run.entries[0]! - b.run.entries[0]!), at: 0 }));
  const ns = (r: LoggedRun) => timeNs(r.run.started_at) ?? 0n;
  const out: LoggedRun[] = [];
  for (;;) {
    let best: (typeof lists)[number] | undefined;
    for (const c of lists) if (c.at < c.l.length && (!best || ns(c.l[c.at]!) < ns(best.l[best.at]!))) best = c;
    if (!best) return out;
    out.push(best.l[best.at++]!);
  }
}

/** The story checks: runs are whole, chain by content to the subjects, and every content is accounted for. */
function checkChain(ev: Evidence, good: Checked[], opts: VerifyBundleOptions, v: BundleVerdict, names: Names): void {
  const fail = (m: string) => v.failures.push(m);
  const origin = (log: number) => ev.logs[log]!.origin;
  const starts = new Map<string, { log: number; index: number; e: RunStartEntry }>();
  const ends: { log: number; index: number; e: RunEndEntry }[] = [];
  const leaves = new Map<string, string>(); // `${log} ${index}` → leaf hash, of every entry that verified
  const at = (log: number, index: number) => `${log} ${index}`;
  const notes: { log: number; note: BundleNote }[] = [];
  for (const c of [...good].sort((a, b) => a.log - b.log || a.index - b.index)) {
    const { log, index: i, entry: e } = c;
    leaves.set(at(log, i), c.leaf);
    if (e.type === 'run.start') {
      const r = checkRunStart(e);
      if (typeof r === 'string') fail(`${names.entry(log, i)} (run.start): ${r}`);
      else starts.set(at(log, i), { log, index: i, e: r });
    } else if (e.type === 'run.end') {
      const r = checkRunEnd(e);
      if (typeof r === 'string') fail(`${names.entry(log, i)} (run.end): ${r}`);
      else ends.push({ log, index: i, e: r });
    } else if (e.type === 'custody.note') {
      const r = checkCustodyNote(e);
      if (typeof r === 'string') fail(`${names.entry(log, i)} (custody.note): ${r}`);
      else notes.push({ log, note: { index: i, time: r.time, by: r.by, text: r.text.slice(0, MAX_NOTE_TEXT), files: r.files, ...(ev.multi ? { log: origin(log) } : {}) } });
    } else {
      fail(`${names.entry(log, i)} is a ${JSON.stringify(String(e.type).slice(0, 40))} entry, which no bundle carries`);
    }
  }
  // Whole runs: each end names its start by index and run id, in its own log (src/core/run.ts).
  let runs: LoggedRun[] = [];
  const ended = new Set<string>();
  for (const { log, index: ei, e: end } of ends) {
    const start = starts.get(at(log, end.start));
    if (!start || start.e.run !== end.run || end.start >= ei) {
      fail(`${names.entry(log, ei)} ends run ${end.run}, whose start (entry ${end.start}) is not in the bundle`);
      continue;
    }
    ended.add(at(log, end.start));
    const run = runFromEntries(end.start, start.e, ei, end);
    runs.push({ log, run, key: `${log} ${run.id}` });
  }
  for (const [k, s] of starts) if (!ended.has(k)) fail(`${names.run(s.log, s.e.run)} (${names.entry(s.log, s.index)}) has no end in the bundle`);
  runs = ev.multi ? oldestFirst(runs) : runs.sort((a, b) => a.run.entries[0]! - b.run.entries[0]!);
  v.runs = runs.map((r) => (ev.multi ? { ...r.run, log: origin(r.log) } : r.run));
  v.notes = notes.map((n) => n.note);
  v.subjects = ev.subjects;
  v.sources = ev.sources;

  // The lineage of the subjects: the runs that produced a subject, or an input of such a run (the others in a
  // bundle read a subject: its later uses, whose own inputs are not part of its story).
  const wanted = new Set(ev.subjects.map((s) => s.sha256));
  const connected = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of runs) {
      if (connected.has(r.key) || !r.run.outputs.some((o) => o.sha256 !== null && wanted.has(o.sha256))) continue;
      connected.add(r.key);
      for (const f of r.run.inputs) if (f.sha256) wanted.add(f.sha256);
      grew = true;
    }
  }

  const producedBefore = (h: string, c: LoggedRun, otherLogOnly = false) =>
    runs.some((p) => (!otherLogOnly || p.log !== c.log) && endedBefore(p, c) && p.run.outputs.some((o) => o.sha256 === h));

  // Signed links: a run.end that names, for an input, the run.end that produced it (log index and leaf hash) makes
  // that step part of what the log signed; a lineage without it has a step cut out (docs/provenance.md). The link
  // names an entry of the reading run's own log: a producer in another log is joined by content (below).
  const sources = new Set(ev.sources);
  const signedSources = new Set<string>();
  const linked = new Set<string>(); // `${run key} ${input position}`: accounted for by a signed entry
  let signedLinks = 0;
  for (const r of runs) {
    const name = names.run(r.log, r.run.id);
    r.run.inputs.forEach((input, k) => {
      const link: unknown = input.produced_by;
      if (link === undefined || input.sha256 === null) return;
      if (link === 'none') {
        // "none" says that nothing in the reader's own log produced the bytes; with several logs, a run of another
        // log that ended before the reader started may have (a file carried from one host to another).
        if (ev.multi && producedBefore(input.sha256, r, true)) return;
        signedSources.add(input.sha256);
        linked.add(`${r.key} ${k}`);
        return;
      }
      if (link === 'unknown') return;
      const l = link as Record<string, unknown>;
      if (typeof l !== 'object' || l === null || !Number.isSafeInteger(l.index) || typeof l.leaf !== 'string' || !SHA256_HEX.test(l.leaf) || Object.keys(l).length !== 2) {
        fail(`${name}: the producer it records for ${input.path} is malformed`);
        return;
      }
      const idx = l.index as number;
      const leaf = leaves.get(at(r.log, idx));
      if (leaf === undefined && !connected.has(r.key) && !wanted.has(input.sha256)) {
        // A later use of a subject: the producers of its other inputs are named by its signed entry, outside the
        // subject's story. (The producer of a subject, or of anything in its lineage, must be in the bundle.)
        linked.add(`${r.key} ${k}`);
        return;
      }
      if (leaf !== l.leaf) {
        fail(`${name} read ${input.path} (sha256 ${input.sha256}), which its signed entry says ${names.entry(r.log, idx)} (leaf ${l.leaf}) produced, and that entry is not in the bundle: a step of the lineage was cut out`);
        return;
      }
      const producer = runs.find((p) => p.log === r.log && p.run.entries[1] === idx);
      if (!producer || idx >= r.run.entries[0]! || !producer.run.outputs.some((o) => o.sha256 === input.sha256)) {
        fail(`${name}: ${names.entry(r.log, idx)}, which it records as the producer of ${input.path}, is not a run that wrote these bytes before it started`);
        return;
      }
      linked.add(`${r.key} ${k}`);
      signedLinks++;
    });
  }

  // Chain by content: every hashed input was produced by a run that ended before this one started, or is a source.
  let contentLinks = 0;
  const unsignedSources = new Set<string>();
  for (const r of runs) {
    r.run.inputs.forEach((input, k) => {
      if (input.sha256 === null || linked.has(`${r.key} ${k}`)) return;
      if (producedBefore(input.sha256, r)) contentLinks++;
      else if (sources.has(input.sha256)) unsignedSources.add(input.sha256);
      else fail(`${names.run(r.log, r.run.id)} read ${input.path} (sha256 ${input.sha256}), which no earlier run in the bundle produced and the bundle does not name as a source`);
    });
  }
  for (const s of sources) if (!signedSources.has(s)) unsignedSources.add(s);
  v.lineage = { signedLinks, contentLinks, signedSources: sortedUnique(signedSources), unsignedSources: sortedUnique(unsignedSources) };
  const inputs = new Set(runs.flatMap((r) => r.run.inputs.map((f) => f.sha256)).filter((h): h is string => h !== null));
  for (const s of sources) if (!inputs.has(s) && !ev.subjects.some((x) => x.sha256 === s)) fail(`source ${s} is read by no run in the bundle`);

  // Every run belongs to the story of a subject: it produced a subject, or an input of a run that does, or read a subject.
  for (const r of runs) {
    if (connected.has(r.key)) continue;
    if (r.run.inputs.some((f) => f.sha256 !== null && ev.subjects.some((s) => s.sha256 === f.sha256))) continue;
    fail(`${names.run(r.log, r.run.id)} is not part of the lineage of any file the bundle names`);
  }
  // Only signed entries make the story: the subject list itself is unsigned, so a subject counts only when a run
  // read or produced it, or a custody note names it.
  const story = new Set(runs.flatMap((r) => [...r.run.inputs, ...r.run.outputs].map((f) => f.sha256)).filter((h): h is string => h !== null));
  // A note belongs when it names content of the lineage or a subject (the note is signed; this only checks relevance).
  for (const { log, note: n } of notes) {
    if (!n.files.some((f) => f.sha256 !== null && (story.has(f.sha256) || wanted.has(f.sha256)))) fail(`custody note ${n.index}${ev.multi ? ` of log ${q(origin(log))}` : ''} names no content in the bundle's lineage`);
  }
  for (const s of ev.subjects) {
    if (!story.has(s.sha256) && !notes.some((n) => n.note.files.some((f) => f.sha256 === s.sha256))) fail(`subject ${s.path} (sha256 ${s.sha256}) is named by no entry in the bundle`);
  }

  if (opts.fileSha256 !== undefined) {
    const h = opts.fileSha256.toLowerCase();
    const subject = ev.subjects.some((s) => s.sha256 === h);
    const producedBy = runs.filter((r) => r.run.outputs.some((o) => o.sha256 === h)).map((r) => r.run.id);
    v.file = { sha256: h, subject, producedBy };
    if (!subject) fail(`the file's SHA-256 (${h}) is not one this bundle vouches for: it is not the file the bundle was made for (altered, or another file)`);
  }
  v.sources = sortedUnique(ev.sources);
}

function checkBundle(ev: Evidence, opts: VerifyBundleOptions, v: BundleVerdict): void {
  const names = namesFor(ev);
  checkChain(ev, checkEvidence(ev, opts, v, names), opts, v, names);
}

/** Only the cryptographic part, for entries that need not form a chain (an activity report's runs). */
export function verifyEvidence(b: Bundle | MultiBundle, pubkey?: VerifierKey, timestamps?: TimestampCheck): BundleVerdict {
  const v = emptyVerdict();
  try {
    const ev = normalize(b);
    checkEvidence(ev, { ...(pubkey ? { pubkey } : {}), ...(timestamps ? { timestamps } : {}) }, v, namesFor(ev));
  } catch (e) {
    if (!isFfauditError(e)) throw e;
    v.failures.push(e.message);
  }
  v.ok = v.failures.length === 0;
  return v;
}
