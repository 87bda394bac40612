/**
 * The witnesses a ledger asks for cosignatures (c2sp.org/tlog-witness), and the quorum of them its checkpoints need,
 * kept in the ledger's config.json beside `server`:
 *   { "witnesses": [{ "name": "w1", "url": "https://w1.example", "vkey": "<cosigner vkey>" }, …], "quorum": 2 }
 * `url` is the witness's submission prefix (tlog-witness §HTTP Interface: add-checkpoint is POSTed below it); `vkey`
 * its cosigner key (c2sp.org/tlog-cosignature); `quorum` is k of the listed witnesses, "all" or "any", and absent
 * means nothing is enforced. The joined team server's witness may be listed too (by its key): the ordinary push
 * brings its cosignature.
 *
 * From these the ledger's c2sp.org/tlog-policy is derived exactly (policyText): a `log` line with the ledger's key,
 * one `witness` line per witness with its URL, one group and the `quorum` line, so the same file can be handed to
 * `verify-bundle --policy` by someone who never saw the config. The config is as untrusted as the folder it lives in
 * (server-config.ts): a policy obtained independently (`verify --policy FILE`) is what holds against whoever can
 * rewrite both.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCosignerVkey, type CosignatureVerifier } from '../core/cosignature.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';
import { FfauditError } from '../core/errors.js';
import { CONFIG_FILE } from './location.js';
import { writeFileAtomically } from './safe-files.js';

/** tlog-policy §Implementation limits: "at least up to 32 … witnesses"; more is refused rather than half-used. */
export const MAX_WITNESSES = 32;
/** The group the derived policy defines over every witness; no witness may take its name (one namespace). */
export const QUORUM_GROUP = 'witnesses';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export type Quorum = number | 'all' | 'any';

export interface ConfiguredWitness {
  /** Its name in the config and in the derived policy. */
  name: string;
  /** Its submission prefix (no trailing slash). */
  url: string;
  vkey: string;
  verifier: CosignatureVerifier;
}

export interface WitnessSettings {
  witnesses: ConfiguredWitness[];
  /** Undefined: no quorum is enforced (the policy says `quorum none`). */
  quorum: Quorum | undefined;
}

const bad = (field: string, why: string) => new FfauditError('BAD_INPUT', `${field}: ${why}`);

/** A witness name: one word the policy can carry, not a name tlog-policy or the derived policy reserves. */
export function checkWitnessName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw bad(field, "letters, digits, '.', '_' and '-' only, at most 63, starting with a letter or digit");
  if (name === 'none' || name === QUORUM_GROUP) throw bad(field, `${JSON.stringify(name)} is reserved by the policy`);
  return name;
}

/** A witness's submission prefix as kept: http(s), no credentials, query or fragment, no trailing slash. */
export function witnessUrl(given: unknown, field = 'url'): string {
  let u: URL;
  try {
    if (typeof given !== 'string' || given.length > 2048) throw new Error('not a string');
    u = new URL(given);
  } catch {
    throw bad(field, 'not a URL (https://WITNESS)');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(field, 'a witness is reached over https:// (or http://)');
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') throw bad(field, 'no credentials, query or fragment');
  // The policy line is split on whitespace: a URL holding any would not survive it (the URL parser escapes spaces).
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

/** Parsed cosigner keys by their text: the config is read at every step of a push, and a key costs a KeyObject. */
const parsedKeys = new Map<string, CosignatureVerifier>();

/** parseCosignerVkey, remembered per text (bounded); what it throws, it throws every time. */
export function cosignerVkey(text: string): CosignatureVerifier {
  let v = parsedKeys.get(text);
  if (!v) {
    v = parseCosignerVkey(text, { mlDsa44 });
    if (parsedKeys.size >= 256) parsedKeys.clear();
    parsedKeys.set(text, v);
  }
  return v;
}

/** A cosigner vkey, through core's parser (every cosignature type it knows). */
export function witnessVkey(given: unknown, field = 'vkey'): CosignatureVerifier {
  if (typeof given !== 'string') throw bad(field, 'a cosigner verifier key (name+keyid+key)');
  try {
    return cosignerVkey(given);
  } catch (e) {
    throw bad(field, (e as Error).message);
  }
}

/** A quorum over `n` witnesses: k from 1 to n, "all" or "any". */
export function parseQuorum(q: unknown, n: number, field = `${CONFIG_FILE}: quorum`): Quorum | undefined {
  if (q === undefined) return undefined;
  if (n === 0) throw bad(field, 'set, but no witness is listed');
  if (q === 'all' || q === 'any') return q;
  if (typeof q === 'number' && Number.isInteger(q) && q >= 1 && q <= n) return q;
  throw bad(field, `"all", "any" or a number from 1 to ${n} (the witnesses listed)`);
}

/** The witnesses and quorum of a parsed config, checked strictly: BAD_INPUT naming the field at fault. */
export function witnessSettingsOf(config: Readonly<Record<string, unknown>>): WitnessSettings {
  const list = config.witnesses ?? [];
  if (!Array.isArray(list)) throw bad(`${CONFIG_FILE}: witnesses`, 'a list of {"name", "url", "vkey"}');
  if (list.length > MAX_WITNESSES) throw bad(`${CONFIG_FILE}: witnesses`, `more than ${MAX_WITNESSES} witnesses`);
  const witnesses: ConfiguredWitness[] = [];
  list.forEach((w: unknown, i) => {
    const at = `${CONFIG_FILE}: witnesses[${i}]`;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) throw bad(at, 'an object {"name", "url", "vkey"}');
    const extra = Object.keys(w).filter((k) => k !== 'name' && k !== 'url' && k !== 'vkey');
    if (extra.length > 0) throw bad(`${at}.${extra[0]!}`, 'unknown field');
    const o = w as Record<string, unknown>;
    const name = checkWitnessName(o.name, `${at}.name`);
    const url = witnessUrl(o.url, `${at}.url`);
    const verifier = witnessVkey(o.vkey, `${at}.vkey`);
    // tlog-policy: duplicate witnesses (the same public key) are not allowed; names are the policy's identifiers; and
    // a key name shared by two keys would make "the size this witness last cosigned" ambiguous.
    for (const other of witnesses) {
      if (other.name === name) throw bad(`${at}.name`, `${JSON.stringify(name)} is listed twice`);
      if (other.verifier.publicKey.equals(verifier.publicKey)) throw bad(`${at}.vkey`, `the same key as witness ${other.name}`);
      if (other.verifier.name === verifier.name) throw bad(`${at}.vkey`, `the same key name as witness ${other.name}`);
      if (other.url === url) throw bad(`${at}.url`, `the same URL as witness ${other.name}`);
    }
    witnesses.push({ name, url, vkey: (o.vkey as string).trim(), verifier });
  });
  return { witnesses, quorum: parseQuorum(config.quorum, witnesses.length) };
}

/** The parsed config.json in `dir`, or {} when there is none or it is not a JSON object (it only loses settings). */
function readConfig(dir: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The witness settings of the ledger in `dir`, read fresh (another process may have changed them). */
export function readWitnessSettings(dir: string): WitnessSettings {
  return witnessSettingsOf(readConfig(dir));
}

/**
 * Writes the witnesses and quorum into config.json in `dir`, keeping every other setting; checked as a reader would
 * check them before anything is written, and the file replaced whole (safe-files.ts).
 */
export function writeWitnessSettings(dir: string, s: { witnesses: readonly { name: string; url: string; vkey: string }[]; quorum: Quorum | undefined }): void {
  const config = readConfig(dir);
  config.witnesses = s.witnesses.map((w) => ({ name: w.name, url: w.url, vkey: w.vkey }));
  if (s.quorum === undefined) delete config.quorum;
  else config.quorum = s.quorum;
  if (s.witnesses.length === 0) delete config.witnesses;
  witnessSettingsOf(config);
  const path = join(dir, CONFIG_FILE);
  try {
    writeFileAtomically(path, `${JSON.stringify(config, null, 2)}\n`, 0o644);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** The quorum rule in words: "2 of w1, w2, w3", "all of …", "any of …". */
export function quorumRule(s: WitnessSettings): string | undefined {
  if (s.quorum === undefined) return undefined;
  return `${s.quorum} of ${s.witnesses.map((w) => w.name).join(', ')}`;
}

/**
 * The ledger's c2sp.org/tlog-policy: the log (its vkey, whose name is the origin, as §Defining a log requires), each
 * witness with its URL (the submission prefix §Defining a witness recommends), and the quorum as one group over all
 * of them (§Defining a witness group: k, `all` or `any`); `quorum none` when the config sets no quorum.
 */
export function policyText(logVkey: string, origin: string, s: WitnessSettings): string {
  const lines = [`# c2sp.org/tlog-policy of the ffaudit log ${origin}, derived from its ledger's config (ffaudit policy)`, `log ${logVkey}`];
  for (const w of s.witnesses) lines.push(`witness ${w.name} ${w.vkey} ${w.url}`);
  if (s.quorum === undefined) lines.push('quorum none');
  else lines.push(`group ${QUORUM_GROUP} ${s.quorum} ${s.witnesses.map((w) => w.name).join(' ')}`, `quorum ${QUORUM_GROUP}`);
  return `${lines.join('\n')}\n`;
}
