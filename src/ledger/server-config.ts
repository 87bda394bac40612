/**
 * The `server` section of a ledger's config.json, written by `ffaudit join`:
 *   { "server": { "url": "https://audit.example", "host": "NAME", "witness": "<vkey>", "mirror": "<vkey>",
 *                 "witness_ml_dsa44": "<vkey>", "push": "sync" } }
 * `witness` and `mirror` are the server's two Ed25519 cosigner keys (c2sp.org/tlog-cosignature vkeys, type 0x04,
 * distinct keys as the specification requires of two cosigners); `witness_ml_dsa44` is optional, the witness's
 * ML-DSA-44 key (type 0x06, same name as `witness`), given by servers that have one: its cosignatures are then
 * checked and kept too. `push` is optional ("sync": a run waits for the server's cosignature of its end; anything
 * else: pushes run in the background). No token or secret is ever kept here.
 *
 * The config lives in the ledger's folder, which whoever can rewrite the ledger can rewrite too: cosignatures
 * checked against these keys catch a restored backup or a rewrite that left the config alone; for proof against
 * someone who controls the folder, the server's keys must come from elsewhere (docs: `verify --trusted URL`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COSIGNATURE_TYPE, ML_DSA_44_COSIGNATURE_TYPE, type CosignatureVerifier } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { CONFIG_FILE } from './location.js';
import { writeFileAtomically } from './safe-files.js';
import { cosignerVkey } from './witness-config.js';

export interface ServerConfig {
  url: string;
  host: string;
  /** The witness cosigner's vkey. */
  witness: string;
  /** The mirror cosigner's vkey. */
  mirror: string;
  /** The witness's ML-DSA-44 vkey (config `witness_ml_dsa44`), when the server gave one. */
  witnessMlDsa44?: string | undefined;
  /** "sync": a captured run waits for the cosignature of its end entry (FFAUDIT_PUSH=sync does the same). */
  push?: 'sync' | undefined;
}

/** The server section of a parsed config, or undefined when there is none or it is incomplete. */
export function serverConfigOf(config: Readonly<Record<string, unknown>>): ServerConfig | undefined {
  const s = config.server;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return undefined;
  const o = s as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const url = str(o.url);
  const witness = str(o.witness);
  const mirror = str(o.mirror);
  if (url === undefined || witness === undefined || mirror === undefined) return undefined;
  const pq = str(o.witness_ml_dsa44);
  return { url, host: str(o.host) ?? '', witness, mirror, ...(pq !== undefined ? { witnessMlDsa44: pq } : {}), ...(o.push === 'sync' ? { push: 'sync' as const } : {}) };
}

/** The server section of the config.json in `dir` (read fresh: another process may have joined since). */
export function readServerConfig(dir: string): ServerConfig | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return serverConfigOf(parsed as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/**
 * The server's cosigner keys, witness first; KEY when the config holds a malformed or wrong-type key. Parsing an
 * ML-DSA-44 key loads nothing: the primitive is loaded when a cosignature is checked with it.
 */
export function serverVerifiers(s: ServerConfig): { witness: CosignatureVerifier; mirror: CosignatureVerifier; witnessMlDsa44?: CosignatureVerifier } {
  const parse = (what: string, text: string, type: number) => {
    let v: CosignatureVerifier;
    try {
      v = cosignerVkey(text);
    } catch (e) {
      throw new FfauditError('KEY', `the ledger's config holds a malformed ${what} key for the server ${s.url} (${(e as Error).message}): run ffaudit join again`);
    }
    if (v.type !== type) throw new FfauditError('KEY', `the ledger's config holds a ${what} key for the server ${s.url} of type 0x0${v.type}, not 0x0${type}: run ffaudit join again`);
    return v;
  };
  const witness = parse('witness', s.witness, COSIGNATURE_TYPE);
  const mirror = parse('mirror', s.mirror, COSIGNATURE_TYPE);
  // c2sp.org/tlog-cosignature: two cosigners with distinct statements MUST use distinct keys; the same key under
  // both names would make a witness cosignature count as the mirror's.
  if (witness.publicKey.equals(mirror.publicKey)) throw new FfauditError('KEY', `the server ${s.url} gave one key for both its witness and its mirror: they must be distinct`);
  if (s.witnessMlDsa44 === undefined) return { witness, mirror };
  const pq = parse('witness_ml_dsa44', s.witnessMlDsa44, ML_DSA_44_COSIGNATURE_TYPE);
  // The witness's second key: its statement is the witness's, so it carries the witness's name.
  if (pq.name !== witness.name) throw new FfauditError('KEY', `the ledger's config holds a witness_ml_dsa44 key for the server ${s.url} named ${JSON.stringify(pq.name)}, not ${JSON.stringify(witness.name)} as its witness`);
  return { witness, mirror, witnessMlDsa44: pq };
}

/**
 * Writes the server section into the config.json in `dir`, keeping every other setting; the file is replaced
 * whole (safe-files.ts), never edited in place or written through a link.
 */
export function writeServerConfig(dir: string, server: ServerConfig): void {
  const path = join(dir, CONFIG_FILE);
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) config = parsed as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && code !== 'ENOENT') throw new FfauditError('IO', `cannot read ${path}: ${code}`);
    // absent or damaged: a damaged config only loses settings, and this one is written whole
  }
  const previous = typeof config.server === 'object' && config.server !== null ? (config.server as Record<string, unknown>) : {};
  config.server = {
    ...(previous.push === 'sync' ? { push: 'sync' } : {}),
    url: server.url,
    host: server.host,
    witness: server.witness,
    mirror: server.mirror,
    ...(server.witnessMlDsa44 !== undefined ? { witness_ml_dsa44: server.witnessMlDsa44 } : {}),
    ...(server.push ? { push: server.push } : {}),
  };
  try {
    writeFileAtomically(path, `${JSON.stringify(config, null, 2)}\n`, 0o644);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}
