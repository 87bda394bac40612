/**
 * c2sp.org/tlog-policy: which logs and witnesses a verifier accepts for a checkpoint, and the quorum of witnesses
 * whose cosignatures it needs. The file is untrusted text; everything the specification requires is checked.
 * Witness keys are cosigner keys of either type c2sp.org/tlog-cosignature defines: Ed25519 (0x04), and ML-DSA-44
 * (0x06) when the caller brings that primitive; checkpointWitnesses checks a checkpoint's cosignatures against them
 * and quorumMet applies the rule.
 */
import { COSIGNATURE_TYPE, ML_DSA_44_COSIGNATURE_TYPE, parseCosignerVkey, type CosignatureOptions, type CosignatureVerifier } from './cosignature.js';
import { FfauditError } from './errors.js';
import { computeKeyId, decodeBase64Strict, ED25519_TYPE, isValidKeyName, parseNote, parseVerifierKey, type Verifier } from './note.js';
/** Bounds on hostile input, well above the 32 logs, witnesses and groups the specification asks to support. */
const MAX_LINES = 10_000;
const MAX_ITEMS = 1_000;

export interface TlogPolicy {
  /** The logs: a checkpoint signed by any one of them is accepted (Ed25519 keys, named after the log's origin). */
  logs: (Verifier & { publicKey: Buffer })[];
  /** Witness names, in the order defined. */
  witnesses: string[];
  /** Group names, in the order defined. */
  groups: string[];
  /** The quorum: `none`, or a witness or group name. */
  quorum: string;
  /** Each witness's cosigner key, by its name in the policy. */
  witnessKeys: Map<string, CosignatureVerifier>;
  /** Each group's rule: at least `threshold` of its members (witnesses or earlier groups) have witnessed. */
  groupRules: Map<string, { threshold: number; members: string[] }>;
}

function bad(line: number, message: string): FfauditError {
  return new FfauditError('BAD_INPUT', `policy line ${line}: ${message}`);
}

/** A vkey's underlying key bytes (type byte and key), for the duplicate rule; any signature type. */
function vkeyBytes(token: string, line: number): Buffer {
  const [name, idHex, keyB64, ...rest] = token.split('+');
  if (name === undefined || idHex === undefined || keyB64 === undefined) throw bad(line, 'a vkey is name+keyid+base64(key)');
  // The base64 may hold '+': rejoin what follows the key ID.
  const key = decodeBase64Strict([keyB64, ...rest].join('+'));
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(idHex) || !key || key.length < 2) throw bad(line, 'malformed vkey');
  if (computeKeyId(name, key[0]!, key.subarray(1)).toString('hex') !== idHex) throw bad(line, 'the vkey ID does not match its key');
  return key;
}

/**
 * Parses a policy file's bytes (octets; names are opaque byte strings, compared as such). An ML-DSA-44 witness key
 * needs `opts.mlDsa44`; without it such a line is refused rather than never counted.
 */
export function parseTlogPolicy(bytes: Uint8Array, opts: CosignatureOptions = {}): TlogPolicy {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c !== 0x09 && c !== 0x0a && (c < 0x20 || c === 0x7f)) throw new FfauditError('BAD_INPUT', `policy: control character 0x${c.toString(16).padStart(2, '0')} at byte ${i}`);
  }
  // latin1 maps each octet to one character, so names compare as their exact bytes; vkeys are decoded as UTF-8.
  const lines = Buffer.from(bytes).toString('latin1').split('\n');
  if (lines.length > MAX_LINES) throw new FfauditError('BAD_INPUT', `policy: more than ${MAX_LINES} lines`);
  const logs: TlogPolicy['logs'] = [];
  const keys: Buffer[] = [];
  const witnesses: string[] = [];
  const groups: string[] = [];
  const witnessKeys = new Map<string, CosignatureVerifier>();
  const groupRules = new Map<string, { threshold: number; members: string[] }>();
  const defined = new Set<string>();
  let quorum: string | undefined;
  const unique = (key: Buffer, line: number, what: string) => {
    if (keys.some((k) => k.subarray(1).equals(key.subarray(1)))) throw bad(line, `duplicate ${what}: the same public key is listed twice`);
    keys.push(key);
  };
  const define = (name: string, line: number) => {
    if (name === 'none' || defined.has(name)) throw bad(line, `the name ${JSON.stringify(name)} is ${name === 'none' ? 'reserved' : 'already defined'}`);
    if (defined.size >= MAX_ITEMS) throw bad(line, `more than ${MAX_ITEMS} witnesses and groups`);
    defined.add(name);
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    const t = raw.split(/[ \t]+/).filter((x) => x !== '');
    if (t.length === 0 || t[0]!.startsWith('#')) return;
    const [word, ...args] = t as [string, ...string[]];
    switch (word) {
      case 'log': {
        if (args.length < 1 || args.length > 2) throw bad(n, 'log <vkey> [<url>]');
        const key = vkeyBytes(Buffer.from(args[0]!, 'latin1').toString('utf8'), n);
        if (key[0] !== ED25519_TYPE) throw bad(n, 'the log key is not an Ed25519 (type 0x01) key: checkpoints of this log cannot be checked with it');
        unique(key, n, 'log');
        if (logs.length >= MAX_ITEMS) throw bad(n, `more than ${MAX_ITEMS} logs`);
        logs.push(parseVerifierKey(Buffer.from(args[0]!, 'latin1').toString('utf8')));
        break;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) throw bad(n, 'witness <name> <vkey> [<url>]');
        const text = Buffer.from(args[1]!, 'latin1').toString('utf8');
        const key = vkeyBytes(text, n);
        // tlog-policy §Public key representation: a witness key has a type tlog-cosignature assigns (0x04 Ed25519,
        // 0x06 ML-DSA-44); any other is refused rather than never counted.
        if (key[0] !== COSIGNATURE_TYPE && key[0] !== ML_DSA_44_COSIGNATURE_TYPE) throw bad(n, 'the witness key is not an Ed25519 (type 0x04) or ML-DSA-44 (type 0x06) cosigner key');
        if (key[0] === ML_DSA_44_COSIGNATURE_TYPE && !opts.mlDsa44) throw bad(n, 'the witness key is an ML-DSA-44 (type 0x06) cosigner key, which cannot be checked here');
        unique(key, n, 'witness');
        define(args[0]!, n);
        witnesses.push(args[0]!);
        let verifier: CosignatureVerifier;
        try {
          verifier = parseCosignerVkey(text, opts);
        } catch (e) {
          throw bad(n, (e as Error).message);
        }
        witnessKeys.set(args[0]!, verifier);
        break;
      }
      case 'group': {
        if (args.length < 3) throw bad(n, 'group <name> all|any|<k> <name>...');
        const [name, k, ...members] = args as [string, string, ...string[]];
        if (new Set(members).size !== members.length) throw bad(n, 'a group lists a member more than once');
        for (const m of members) if (!defined.has(m)) throw bad(n, `the group member ${JSON.stringify(m)} is not defined on an earlier line`);
        if (k !== 'all' && k !== 'any') {
          if (!/^[1-9][0-9]{0,5}$/.test(k) || Number(k) > members.length) throw bad(n, `the threshold ${JSON.stringify(k)} is not all, any or a number from 1 to ${members.length}`);
        }
        define(name, n);
        groups.push(name);
        groupRules.set(name, { threshold: k === 'all' ? members.length : k === 'any' ? 1 : Number(k), members });
        break;
      }
      case 'quorum':
        if (args.length !== 1) throw bad(n, 'quorum <name>');
        if (quorum !== undefined) throw bad(n, 'a second quorum line');
        if (args[0] !== 'none' && !defined.has(args[0]!)) throw bad(n, `the quorum ${JSON.stringify(args[0])} is not defined on an earlier line`);
        quorum = args[0]!;
        break;
      default:
        throw bad(n, `unknown line type ${JSON.stringify(word.slice(0, 40))}`);
    }
  });
  if (quorum === undefined) throw new FfauditError('BAD_INPUT', 'policy: no quorum line (a policy without witnesses says `quorum none`)');
  return { logs, witnesses, groups, quorum, witnessKeys, groupRules };
}

/**
 * Which of the policy's witnesses cosigned a checkpoint note (c2sp.org/tlog-cosignature, over the note's text),
 * and which signature lines of theirs failed. Lines of keys the policy does not list are ignored (signed-note:
 * "verifiers MUST ignore signatures from unknown keys"); one that matches a witness's name and key ID and does not
 * verify is reported (signed-note: a failing known signature SHOULD reject the whole note). Untrusted note.
 */
export function checkpointWitnesses(policy: TlogPolicy, note: string): { witnessed: Set<string>; failed: string[] } {
  const parsed = parseNote(note);
  const witnessed = new Set<string>();
  const failed: string[] = [];
  for (const sig of parsed.signatures) {
    for (const [name, key] of policy.witnessKeys) {
      if (key.name !== sig.name || !key.keyId.equals(sig.keyId)) continue;
      if (key.verify(parsed.text, sig.signature) === undefined) failed.push(name);
      else witnessed.add(name);
    }
  }
  return { witnessed, failed };
}

/**
 * Whether the witnesses that cosigned meet the policy's quorum (tlog-policy §Defining a witness group: a group
 * has witnessed when at least k of its n members have, each member a witness or an earlier group). `none` needs
 * no one.
 */
export function quorumMet(policy: TlogPolicy, witnessed: ReadonlySet<string>): boolean {
  // Groups only name earlier definitions, so the recursion ends; each is computed once.
  const memo = new Map<string, boolean>();
  const met = (name: string): boolean => {
    if (witnessed.has(name)) return true;
    const rule = policy.groupRules.get(name);
    if (!rule) return false;
    let v = memo.get(name);
    if (v === undefined) {
      v = rule.members.filter(met).length >= rule.threshold;
      memo.set(name, v);
    }
    return v;
  };
  return policy.quorum === 'none' || met(policy.quorum);
}
