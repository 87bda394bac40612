/**
 * Evidence bundles (`ffaudit-bundle/v1`): one self-contained JSON file holding, for the lineage of one or more
 * files, every entry's exact bytes, a c2sp.org/tlog-proof for each against ONE signed checkpoint, that
 * checkpoint, and the log's verifier key, so that anyone can check the story offline. docs/provenance.md
 * documents every field; this module parses (hostile input: every byte may be an attacker's) and verifies.
 */
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
/** Bounds that keep a hostile bundle from costing more than a real one could. */
export const MAX_BUNDLE_ENTRIES = 1_000_000;
export const MAX_BUNDLE_BLOBS = 100_000;
const MAX_PROOF_TEXT = 16 * 1024;
const MAX_NOTE_TEXT = 64 * 1024;

export interface BundleSubject {
  path: string;
  sha256: string;
}

export interface BundleEntry {
  index: number;
  data: Buffer;
  /** c2sp.org/tlog-proof@v1 text for this entry against the bundle's checkpoint. */
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
}

/** The bundle's JSON text (documented in docs/provenance.md). */
export function formatBundle(b: Bundle): string {
  const doc = {
    format: b.format,
    created: b.created,
    origin: b.origin,
    vkey: b.vkey,
    checkpoint: b.checkpoint,
    subjects: b.subjects,
    sources: b.sources,
    entries: b.entries.map((e) => ({ index: e.index, data: e.data.toString('base64'), proof: e.proof })),
    blobs: b.blobs.map((x) => ({ sha256: x.sha256, data: x.data.toString('base64') })),
  };
  return `${JSON.stringify(doc, null, 1)}\n`;
}

function bad(message: string): FfauditError {
  return new FfauditError('BAD_INPUT', `bundle ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Only the listed keys, each present; an unknown key means a format we do not know, so it is refused. */
function fields(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw bad(`${what} is not a JSON object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw bad(`${what} has an unknown field ${JSON.stringify(k.slice(0, 40))}`);
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

/** Parses a bundle's bytes. Untrusted input: throws BAD_INPUT on anything that is not exactly the format. */
export function parseBundle(bytes: Uint8Array): Bundle {
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
  const o = fields(doc, 'document', ['format', 'created', 'origin', 'vkey', 'checkpoint', 'subjects', 'sources', 'entries', 'blobs']);
  if (o.format !== BUNDLE_FORMAT) throw bad(`format is not ${BUNDLE_FORMAT}`);
  const subjects = list(o.subjects, 'subjects', 10_000).map((s, i) => {
    const f = fields(s, `subject ${i}`, ['path', 'sha256']);
    return { path: str(f.path, `subject ${i} path`, 64 * 1024), sha256: sha(f.sha256, `subject ${i} sha256`) };
  });
  if (subjects.length === 0) throw bad('names no subject file');
  const seen = new Set<number>();
  const entries = list(o.entries, 'entries', MAX_BUNDLE_ENTRIES).map((e, i) => {
    const f = fields(e, `entry ${i}`, ['index', 'data', 'proof']);
    if (typeof f.index !== 'number' || !Number.isSafeInteger(f.index) || f.index < 0) throw bad(`entry ${i} index is not a non-negative integer`);
    if (seen.has(f.index)) throw bad(`holds entry ${f.index} twice`);
    seen.add(f.index);
    return { index: f.index, data: base64(f.data, `entry ${f.index} data`), proof: str(f.proof, `entry ${f.index} proof`, MAX_PROOF_TEXT) };
  });
  if (entries.length === 0) throw bad('holds no entries');
  const blobs = list(o.blobs, 'blobs', MAX_BUNDLE_BLOBS).map((b, i) => {
    const f = fields(b, `blob ${i}`, ['sha256', 'data']);
    return { sha256: sha(f.sha256, `blob ${i} sha256`), data: base64(f.data, `blob ${i} data`) };
  });
  return {
    format: BUNDLE_FORMAT,
    created: str(o.created, 'created', 100),
    origin: str(o.origin, 'origin', 1024),
    vkey: str(o.vkey, 'vkey', 2048),
    checkpoint: str(o.checkpoint, 'checkpoint', MAX_PROOF_TEXT),
    subjects,
    sources: list(o.sources, 'sources', MAX_BUNDLE_ENTRIES).map((s, i) => sha(s, `source ${i}`)),
    entries,
    blobs,
  };
}

export interface BundleNote {
  index: number;
  time: string;
  by: CustodyNote['by'];
  text: string;
  files: FileRecord[];
}

export interface BundleVerdict {
  ok: boolean;
  /** Every check that failed, each one sentence. */
  failures: string[];
  /** True only when the caller supplied the key (--pubkey): every signature is then checked against it, never the bundle's own. */
  keyVerified: boolean;
  origin: string | null;
  keyName: string | null;
  keyId: string | null;
  /** SHA-256 of the raw Ed25519 public key, hex. */
  keyFingerprint: string | null;
  checkpointSize: number | null;
  entries: number;
  blobs: number;
  /** The runs, oldest first. */
  runs: RunRecord[];
  notes: BundleNote[];
  subjects: BundleSubject[];
  sources: string[];
  /**
   * How the runs connect (docs/provenance.md, "What a bundle proves"): inputs whose producer a signed entry names
   * (`produced_by`, present in the bundle), inputs joined to an earlier bundled run by content only, and the
   * sources: those a signed entry records as produced by no run, and those only the bundle's unsigned `sources`
   * list calls sources.
   */
  lineage: { signedLinks: number; contentLinks: number; signedSources: string[]; unsignedSources: string[] };
  file?: { sha256: string; subject: boolean; producedBy: string[] };
  /**
   * With a policy whose quorum is not `none`: the quorum, the policy's witnesses whose cosignatures on the
   * checkpoint verify (by their names in the policy), and whether they meet it.
   */
  quorum?: { quorum: string; witnesses: string[]; met: boolean };
}

export type VerifierKey = Verifier & { publicKey: Buffer };

export interface VerifyBundleOptions {
  /** The log's verifier key, obtained independently of the bundle. */
  pubkey?: VerifierKey;
  /** More accepted keys (several --pubkey, or a tlog-policy's logs): the checkpoint must be signed by one of them. */
  pubkeys?: VerifierKey[];
  /** SHA-256 (hex) of the file the bundle should vouch for. */
  fileSha256?: string;
  /**
   * A c2sp.org/tlog-policy: its logs are accepted keys (the caller adds them to `pubkeys`), and its quorum of
   * witnesses must have cosigned the bundle's checkpoint (the cosignature lines it carries).
   */
  policy?: TlogPolicy;
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
  };
}

export function keyFingerprint(publicKey: Uint8Array): string {
  return sha256Hex(publicKey);
}

/**
 * Verifies a bundle's bytes completely, offline. Never throws for anything in the bundle: a damaged or hostile
 * bundle gives a verdict with `ok: false` and the reasons.
 */
export function verifyBundle(bytes: Uint8Array, opts: VerifyBundleOptions = {}): BundleVerdict {
  const v = emptyVerdict();
  v.keyVerified = givenKeys(opts).length > 0;
  try {
    checkBundle(parseBundle(bytes), opts, v);
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

/** The cryptographic checks: key, checkpoint signature, every entry's hash and inclusion proof, every blob's hash. */
function checkEvidence(b: Bundle, opts: VerifyBundleOptions, v: BundleVerdict): { cp: SignedCheckpoint | null; good: Map<number, EntryBase>; leaves: Map<number, string> } {
  const fail = (m: string) => v.failures.push(m);
  // 1. The key. The bundle's own key only proves internal consistency; the caller's key proves who signed.
  let bundleKey: (Verifier & { publicKey: Buffer }) | null = null;
  try {
    bundleKey = parseVerifierKey(b.vkey);
  } catch (e) {
    fail(`the bundle's verifier key is malformed: ${(e as Error).message}`);
  }
  // Several keys may be given (a key rotation, or a policy's logs): the checkpoint must be signed by one of them
  // (c2sp.org/tlog-policy: "signed by any one of the listed logs"), and the bundle's own key must be one of them.
  const given = givenKeys(opts);
  const same = (k: VerifierKey) => bundleKey !== null && k.name === bundleKey.name && k.publicKey.equals(bundleKey.publicKey);
  const key = given.length > 0 ? (given.find(same) ?? given.find((k) => k.name === b.origin) ?? given[0]!) : bundleKey;
  if (key) {
    v.keyName = key.name;
    v.keyId = key.keyId.toString('hex');
    v.keyFingerprint = keyFingerprint(key.publicKey);
  }
  if (given.length > 0 && bundleKey && !given.some(same)) {
    fail(`the bundle's verifier key is not ${given.length === 1 ? 'the key' : 'one of the keys'} you gave (--pubkey or --policy): the bundle was signed by someone else`);
  }
  if (key && key.name !== b.origin) fail(`the key is named ${JSON.stringify(key.name)}, not after the log's origin ${JSON.stringify(b.origin)}`);
  v.origin = b.origin;

  // 2. The checkpoint: c2sp.org/tlog-checkpoint, signed by the key (c2sp.org/signed-note).
  let cp: SignedCheckpoint | null = null;
  try {
    cp = key ? openCheckpoint(b.checkpoint, given.length > 0 ? given.filter((k) => k.name === b.origin) : [key], b.origin) : parseSignedCheckpoint(b.checkpoint);
    v.checkpointSize = cp.size;
  } catch (e) {
    fail(`checkpoint: ${(e as Error).message}`);
    try {
      v.checkpointSize = parseSignedCheckpoint(b.checkpoint).size;
    } catch {
      // already reported
    }
  }

  // 2b. Witnesses (c2sp.org/tlog-policy): the quorum must have cosigned the checkpoint (c2sp.org/tlog-cosignature
  // lines on the same note). A witness's line that does not verify fails the bundle: a forged cosignature is not
  // merely absent. Lines of keys the policy does not list are ignored.
  if (opts.policy && opts.policy.quorum !== 'none') {
    try {
      const w = checkpointWitnesses(opts.policy, b.checkpoint);
      for (const name of w.failed) fail(`the cosignature of witness ${JSON.stringify(name)} on the checkpoint does not verify: it was forged or altered`);
      const met = quorumMet(opts.policy, w.witnessed);
      const witnesses = opts.policy.witnesses.filter((n) => w.witnessed.has(n));
      v.quorum = { quorum: opts.policy.quorum, witnesses, met };
      if (!met) {
        fail(`the checkpoint is not cosigned by the quorum the policy requires (${JSON.stringify(opts.policy.quorum)}): ${witnesses.length === 0 ? 'no witness of the policy cosigned it' : `only ${witnesses.map((n) => JSON.stringify(n)).join(', ')} did`}`);
      }
    } catch (e) {
      if (!isFfauditError(e)) throw e;
      v.quorum = { quorum: opts.policy.quorum, witnesses: [], met: false };
      fail(`checkpoint: ${e.message}`);
    }
  }

  // 3. Blobs: content-addressed, so each must hash to its name.
  const blobs = new Map<string, Buffer>();
  for (const x of b.blobs) {
    if (sha256Hex(x.data) !== x.sha256) fail(`blob ${x.sha256} does not match its SHA-256 (altered)`);
    else blobs.set(x.sha256, x.data);
  }
  v.blobs = blobs.size;

  // 4. Entries: leaf hash = SHA-256(0x00 ‖ bytes) (RFC 6962 §2.1), inclusion proof (RFC 9162 §2.1.3.2) to the root.
  const good = new Map<number, EntryBase>();
  const leaves = new Map<number, string>();
  const referenced = new Set<string>();
  for (const e of b.entries) {
    let proof;
    try {
      proof = parseTlogProof(e.proof);
    } catch (err) {
      fail(`entry ${e.index}: its tlog-proof is malformed: ${(err as Error).message}`);
      continue;
    }
    if (proof.checkpoint.note !== b.checkpoint) {
      fail(`entry ${e.index}: its tlog-proof is against a different checkpoint than the bundle's`);
      continue;
    }
    if (proof.index !== e.index) {
      fail(`entry ${e.index}: its tlog-proof is for entry ${proof.index}`);
      continue;
    }
    const leaf = hashLeaf(e.data);
    if (cp && !verifyInclusion(leaf, e.index, cp.size, proof.proof, cp.root)) {
      fail(`entry ${e.index}: not included in the signed log (its bytes or its inclusion proof were altered)`);
      continue;
    }
    let entry: EntryBase;
    try {
      entry = parseEntry(e.data);
      for (const val of Object.values(entry)) if (isBlobRef(val)) referenced.add(val.$blob);
      entry = resolveBlobs(entry, (h) => blobs.get(h));
    } catch (err) {
      fail(`entry ${e.index}: ${(err as Error).message}`);
      continue;
    }
    if (typeof entry.report_sha256 === 'string') referenced.add(entry.report_sha256);
    good.set(e.index, entry);
    leaves.set(e.index, leaf.toString('hex'));
  }
  v.entries = b.entries.length;
  for (const h of blobs.keys()) if (!referenced.has(h)) fail(`blob ${h} is not named by any entry in the bundle`);
  return { cp, good, leaves };
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/** The story checks: runs are whole, chain by content to the subjects, and every content is accounted for. */
function checkChain(b: Bundle, good: Map<number, EntryBase>, leaves: Map<number, string>, opts: VerifyBundleOptions, v: BundleVerdict): void {
  const fail = (m: string) => v.failures.push(m);
  const starts = new Map<number, RunStartEntry>();
  const ends = new Map<number, RunEndEntry>();
  for (const [i, e] of [...good].sort((a, b2) => a[0] - b2[0])) {
    if (e.type === 'run.start') {
      const r = checkRunStart(e);
      if (typeof r === 'string') fail(`entry ${i} (run.start): ${r}`);
      else starts.set(i, r);
    } else if (e.type === 'run.end') {
      const r = checkRunEnd(e);
      if (typeof r === 'string') fail(`entry ${i} (run.end): ${r}`);
      else ends.set(i, r);
    } else if (e.type === 'custody.note') {
      const r = checkCustodyNote(e);
      if (typeof r === 'string') fail(`entry ${i} (custody.note): ${r}`);
      else v.notes.push({ index: i, time: r.time, by: r.by, text: r.text.slice(0, MAX_NOTE_TEXT), files: r.files });
    } else {
      fail(`entry ${i} is a ${JSON.stringify(String(e.type).slice(0, 40))} entry, which no bundle carries`);
    }
  }
  // Whole runs: each end names its start by index and run id (src/core/run.ts).
  const runs: RunRecord[] = [];
  const ended = new Set<number>();
  for (const [ei, end] of ends) {
    const start = starts.get(end.start);
    if (!start || start.run !== end.run || end.start >= ei) {
      fail(`entry ${ei} ends run ${end.run}, whose start (entry ${end.start}) is not in the bundle`);
      continue;
    }
    ended.add(end.start);
    runs.push(runFromEntries(end.start, start, ei, end));
  }
  for (const [si, start] of starts) if (!ended.has(si)) fail(`run ${start.run} (entry ${si}) has no end in the bundle`);
  runs.sort((a, b2) => a.entries[0]! - b2.entries[0]!);
  v.runs = runs;
  v.subjects = b.subjects;
  v.sources = b.sources;

  // The lineage of the subjects: the runs that produced a subject, or an input of such a run (the others in a
  // bundle read a subject: its later uses, whose own inputs are not part of its story).
  const wanted = new Set(b.subjects.map((s) => s.sha256));
  const connected = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of runs) {
      if (connected.has(r.id) || !r.outputs.some((o) => o.sha256 !== null && wanted.has(o.sha256))) continue;
      connected.add(r.id);
      for (const f of r.inputs) if (f.sha256) wanted.add(f.sha256);
      grew = true;
    }
  }

  // Signed links: a run.end that names, for an input, the run.end that produced it (log index and leaf hash) makes
  // that step part of what the log signed; a lineage without it has a step cut out (docs/provenance.md).
  const sources = new Set(b.sources);
  const signedSources = new Set<string>();
  const linked = new Set<string>(); // `${run id} ${input position}`: accounted for by a signed entry
  let signedLinks = 0;
  for (const r of runs) {
    r.inputs.forEach((input, k) => {
      const link: unknown = input.produced_by;
      if (link === undefined || input.sha256 === null) return;
      if (link === 'none') {
        signedSources.add(input.sha256);
        linked.add(`${r.id} ${k}`);
        return;
      }
      if (link === 'unknown') return;
      const l = link as Record<string, unknown>;
      if (typeof l !== 'object' || l === null || !Number.isSafeInteger(l.index) || typeof l.leaf !== 'string' || !SHA256_HEX.test(l.leaf) || Object.keys(l).length !== 2) {
        fail(`run ${r.id}: the producer it records for ${input.path} is malformed`);
        return;
      }
      const at = l.index as number;
      if (!leaves.has(at) && !connected.has(r.id) && !wanted.has(input.sha256)) {
        // A later use of a subject: the producers of its other inputs are named by its signed entry, outside the
        // subject's story. (The producer of a subject, or of anything in its lineage, must be in the bundle.)
        linked.add(`${r.id} ${k}`);
        return;
      }
      if (leaves.get(at) !== l.leaf) {
        fail(`run ${r.id} read ${input.path} (sha256 ${input.sha256}), which its signed entry says entry ${at} (leaf ${l.leaf}) produced, and that entry is not in the bundle: a step of the lineage was cut out`);
        return;
      }
      const producer = runs.find((p) => p.entries[1] === at);
      if (!producer || at >= r.entries[0]! || !producer.outputs.some((o) => o.sha256 === input.sha256)) {
        fail(`run ${r.id}: entry ${at}, which it records as the producer of ${input.path}, is not a run that wrote these bytes before it started`);
        return;
      }
      linked.add(`${r.id} ${k}`);
      signedLinks++;
    });
  }

  // Chain by content: every hashed input was produced by a run that ended before this one started, or is a source.
  const producedBefore = (h: string, before: number) => runs.some((r) => r.entries[1]! < before && r.outputs.some((o) => o.sha256 === h));
  let contentLinks = 0;
  const unsignedSources = new Set<string>();
  for (const r of runs) {
    r.inputs.forEach((input, k) => {
      if (input.sha256 === null || linked.has(`${r.id} ${k}`)) return;
      if (producedBefore(input.sha256, r.entries[0]!)) contentLinks++;
      else if (sources.has(input.sha256)) unsignedSources.add(input.sha256);
      else fail(`run ${r.id} read ${input.path} (sha256 ${input.sha256}), which no earlier run in the bundle produced and the bundle does not name as a source`);
    });
  }
  for (const s of sources) if (!signedSources.has(s)) unsignedSources.add(s);
  v.lineage = { signedLinks, contentLinks, signedSources: sortedUnique(signedSources), unsignedSources: sortedUnique(unsignedSources) };
  const inputs = new Set(runs.flatMap((r) => r.inputs.map((f) => f.sha256)).filter((h): h is string => h !== null));
  for (const s of sources) if (!inputs.has(s) && !b.subjects.some((x) => x.sha256 === s)) fail(`source ${s} is read by no run in the bundle`);

  // Every run belongs to the story of a subject: it produced a subject, or an input of a run that does, or read a subject.
  for (const r of runs) {
    if (connected.has(r.id)) continue;
    if (r.inputs.some((f) => f.sha256 !== null && b.subjects.some((s) => s.sha256 === f.sha256))) continue;
    fail(`run ${r.id} is not part of the lineage of any file the bundle names`);
  }
  // Only signed entries make the story: the subject list itself is unsigned, so a subject counts only when a run
  // read or produced it, or a custody note names it.
  const story = new Set(runs.flatMap((r) => [...r.inputs, ...r.outputs].map((f) => f.sha256)).filter((h): h is string => h !== null));
  // A note belongs when it names content of the lineage or a subject (the note is signed; this only checks relevance).
  for (const n of v.notes) {
    if (!n.files.some((f) => f.sha256 !== null && (story.has(f.sha256) || wanted.has(f.sha256)))) fail(`custody note ${n.index} names no content in the bundle's lineage`);
  }
  for (const s of b.subjects) {
    if (!story.has(s.sha256) && !v.notes.some((n) => n.files.some((f) => f.sha256 === s.sha256))) fail(`subject ${s.path} (sha256 ${s.sha256}) is named by no entry in the bundle`);
  }

  if (opts.fileSha256 !== undefined) {
    const h = opts.fileSha256.toLowerCase();
    const subject = b.subjects.some((s) => s.sha256 === h);
    const producedBy = runs.filter((r) => r.outputs.some((o) => o.sha256 === h)).map((r) => r.id);
    v.file = { sha256: h, subject, producedBy };
    if (!subject) fail(`the file's SHA-256 (${h}) is not one this bundle vouches for: it is not the file the bundle was made for (altered, or another file)`);
  }
  v.sources = sortedUnique(b.sources);
}

function checkBundle(b: Bundle, opts: VerifyBundleOptions, v: BundleVerdict): void {
  const { good, leaves } = checkEvidence(b, opts, v);
  checkChain(b, good, leaves, opts, v);
}

/** Only the cryptographic part, for entries that need not form a chain (an activity report's runs). */
export function verifyEvidence(b: Bundle, pubkey?: Verifier & { publicKey: Buffer }): BundleVerdict {
  const v = emptyVerdict();
  try {
    checkEvidence(b, pubkey ? { pubkey } : {}, v);
  } catch (e) {
    if (!isFfauditError(e)) throw e;
    v.failures.push(e.message);
  }
  v.ok = v.failures.length === 0;
  return v;
}
