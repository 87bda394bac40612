/**
 * TEST HELPERS: a team server's two cosigners (witness and mirror, distinct Ed25519 keys as c2sp.org/tlog-cosignature
 * requires), joining a ledger to them (the config `ffaudit join` writes), and cosigning a checkpoint as the server
 * would. Only tests import this module.
 */
import { randomBytes } from 'node:crypto';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { cosignerVkey, formatCosignerVkey, makeCosigner, makeMlDsaCosigner, type Cosigner } from '../core/cosignature.js';
import { writeServerConfig, type ServerConfig } from '../ledger/server-config.js';
import { mlDsa44 } from '../pq/ml-dsa44.js';

export interface TestServerKeys {
  url: string;
  host: string;
  witness: Cosigner;
  mirror: Cosigner;
  /** With `mlDsa44`: the witness's ML-DSA-44 cosigner, named as `witness`, and in `config`. */
  witnessMlDsa44?: Cosigner;
  config: ServerConfig;
}

/**
 * Two fresh cosigners named `NAME/witness` and `NAME/mirror`, as `ffaudit serve init --name NAME` makes them; with
 * `mlDsa44`, the witness's ML-DSA-44 key as well.
 */
export function serverKeys(name = 'audit.example', url = `https://${name}`, host = 'host-1', opts: { mlDsa44?: boolean } = {}): TestServerKeys {
  const witness = makeCosigner(`${name}/witness`, randomBytes(32));
  const mirror = makeCosigner(`${name}/mirror`, randomBytes(32));
  const pq = opts.mlDsa44 ? makeMlDsaCosigner(`${name}/witness`, randomBytes(32), mlDsa44) : undefined;
  return {
    url,
    host,
    witness,
    mirror,
    ...(pq ? { witnessMlDsa44: pq } : {}),
    config: { url, host, witness: formatCosignerVkey(witness.name, witness.publicKey), mirror: formatCosignerVkey(mirror.name, mirror.publicKey), ...(pq ? { witnessMlDsa44: cosignerVkey(pq) } : {}) },
  };
}

/** Writes the server section into the ledger's config, as `ffaudit join` does. */
export function joinServer(ledgerDir: string, keys: TestServerKeys, extra: Partial<ServerConfig> = {}): void {
  writeServerConfig(ledgerDir, { ...keys.config, ...extra });
}

/** The cosignature line `cosigner` makes on a signed checkpoint note (over its note text), at `timestamp`. */
export function cosign(cosigner: Cosigner, checkpointNote: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return cosigner.cosign(parseSignedCheckpoint(checkpointNote).parsed.text, timestamp);
}
