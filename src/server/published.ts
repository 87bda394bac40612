/**
 * What the witness published, kept outside its database, so that a server whose database was restored from an older
 * backup is not led to cosign a fork (issue "A restored server must not be fooled"). tlog-witness §add-checkpoint
 * asks a witness to remember only the latest checkpoint it cosigned per log; a restored database forgets the latest
 * ones, and the log (or whoever holds its key) could then get a second, different checkpoint of a size already
 * cosigned. With `serve --published DIR`, every cosignature also writes the latest cosigned note of that log to
 * DIR/<hex sha256(origin)>/checkpoint (a temporary file, then a rename); at start, a host whose database state is
 * behind that note (or at its size with another root) is held: nothing below the published state is cosigned until
 * `ffaudit serve hosts resolve NAME` imports the published checkpoint as the witness state.
 *
 * DIR belongs on storage the database's backups do not cover (another disk, a WORM bucket mounted as files): a
 * copy restored together with the database would remember no more than the database does.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSignedCheckpoint } from '../core/checkpoint.js';
import { makeCosignatureVerifier, verifiedCosignatures, type Cosigner } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { checkNote, parseVerifierKey } from '../core/note.js';
import type { Db } from './db/pool.js';
import { originHash, type HostRow } from './hosts.js';
import { noteOf, verifiedLogLines } from './log-note.js';

/** A published note is one checkpoint and a few signature lines; anything larger is not ours. */
const MAX_PUBLISHED_BYTES = 64 * 1024;

export interface PublishedCheckpoint {
  size: number;
  root: Buffer;
  note: string;
}

export function publishedPath(dir: string, origin: string): string {
  return join(dir, originHash(origin).toString('hex'), 'checkpoint');
}

/**
 * Reads the note published for `origin` and checks it: the log's signature with `vkey` and our witness cosignature.
 * Undefined when nothing was published; BAD_INPUT (one line) when the file is there but is not such a note.
 */
export async function readPublished(dir: string, origin: string, vkey: string, witness: Pick<Cosigner, 'name' | 'publicKey'>): Promise<PublishedCheckpoint | undefined> {
  const path = publishedPath(dir, origin);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FfauditError('IO', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes.length > MAX_PUBLISHED_BYTES) throw new FfauditError('BAD_INPUT', `${path}: larger than a published checkpoint can be`);
  const note = bytes.toString('utf8');
  let cp;
  try {
    cp = parseSignedCheckpoint(note);
  } catch (e) {
    throw new FfauditError('BAD_INPUT', `${path}: not a signed checkpoint (${(e as Error).message})`);
  }
  if (cp.origin !== origin) throw new FfauditError('BAD_INPUT', `${path}: the checkpoint is of another log (${JSON.stringify(cp.origin)})`);
  if (checkNote(cp.parsed, [parseVerifierKey(vkey)]) !== 'ok') throw new FfauditError('BAD_INPUT', `${path}: the log's signature does not verify`);
  if (verifiedCosignatures(note, [makeCosignatureVerifier(witness.name, witness.publicKey)]).length === 0) {
    throw new FfauditError('BAD_INPUT', `${path}: no cosignature of this server's witness key (${witness.name}) verifies`);
  }
  return { size: cp.size, root: cp.root, note };
}

/** The last note each (directory, origin) was published with by this process, so a slower, older write never follows a newer one. */
const lastWritten = new Map<string, { epoch: number; size: number }>();

/**
 * Publishes `note` (size `size`, of the host's `epoch`) as the latest cosigned checkpoint of `origin`: written to a
 * temporary file in the same directory and renamed over the old one, so a reader sees a whole note or the previous
 * one. Requests answered at once may reach this in either order; a note older than the one this process last
 * published for the same epoch is not written. It is written after the database commits, so it never runs ahead of
 * what the database holds; a crash between the two, or two processes finishing in the other order, only leaves it
 * behind (a weaker tripwire until the next cosignature, never a false hold).
 */
export async function writePublished(dir: string, origin: string, epoch: number, size: number, note: string): Promise<void> {
  const key = `${dir}\0${origin}`;
  const last = lastWritten.get(key);
  if (last && last.epoch === epoch && last.size > size) return;
  lastWritten.set(key, { epoch, size });
  const path = publishedPath(dir, origin);
  const folder = join(path, '..');
  const tmp = join(folder, `.checkpoint.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(folder, { recursive: true, mode: 0o755 });
    await writeFile(tmp, note, { mode: 0o644, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FfauditError('IO', `cannot publish ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

interface HostState {
  host: HostRow;
  size: number | null;
  root: Buffer | null;
  note: string | null;
}

/**
 * How the database's witness state of a host compares with the checkpoint published for it: 'hold' (with the
 * reason) when it is behind, or at the same size with another root; 'set-aside' when the published checkpoint is
 * history the database cosigned under an earlier epoch (an administrator's hosts reset, not a restored database);
 * 'behind' when the published copy lags (a lost write, or DIR is new); else 'same'.
 */
async function compare(db: Db, s: HostState, p: PublishedCheckpoint): Promise<{ hold: string } | 'set-aside' | 'behind' | 'same'> {
  const { rows } = await db.pool.query<{ epoch: number }>("SELECT epoch FROM cosigned WHERE host_id = $1 AND role = 'witness' AND size = $2 AND root = $3", [
    s.host.id,
    p.size,
    p.root,
  ]);
  if (rows.some((r) => r.epoch < s.host.epoch)) return 'set-aside';
  const have = s.size ?? 0;
  const resolve = `cosigning below it is refused until \`ffaudit serve hosts resolve ${s.host.name}\``;
  if (p.size > have) {
    return { hold: `the database's witness state (size ${have}) is behind the checkpoint this server published (size ${p.size}): restored from an older backup? ${resolve}` };
  }
  if (p.size === have && s.root && !s.root.equals(p.root)) {
    return { hold: `the database's witness state (size ${have}) has another root than the checkpoint this server published at that size: ${resolve}` };
  }
  return p.size < have ? 'behind' : 'same';
}

async function hostStates(db: Db): Promise<HostState[]> {
  const { rows } = await db.pool.query<HostRow & { w_size: number | null; w_root: Buffer | null; w_note: string | null }>(
    `SELECT h.*, w.size AS w_size, w.root AS w_root, w.note AS w_note
       FROM hosts h LEFT JOIN witness_state w ON w.host_id = h.id AND w.epoch = h.epoch
      WHERE h.origin IS NOT NULL
      ORDER BY h.name`,
  );
  return rows.map((r) => ({ host: r, size: r.w_size, root: r.w_root, note: r.w_note }));
}

/**
 * At start: compares each enrolled host's witness state with what DIR holds. A host behind it is held (hosts.hold,
 * one line, logged); where the published copy is behind (or of a set-aside history, or missing), the database's
 * state is published again. Returns the names held.
 */
export async function checkPublished(db: Db, dir: string, witness: Pick<Cosigner, 'name' | 'publicKey'>, log: (line: string) => void): Promise<string[]> {
  const held: string[] = [];
  for (const s of await hostStates(db)) {
    const origin = s.host.origin!;
    if (s.host.hold) {
      held.push(s.host.name);
      log(`host ${s.host.name} is held: ${s.host.hold}`);
      continue;
    }
    let p: PublishedCheckpoint | undefined;
    try {
      p = await readPublished(dir, origin, s.host.vkey!, witness);
    } catch (e) {
      // Not ours, or damaged: it proves nothing either way, and a stranger able to write there must not be able to
      // stop the witness. Said at start; the next cosignature replaces it.
      log(`published: host ${s.host.name}: ignored: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const verdict = p ? await compare(db, s, p) : 'behind';
    if (typeof verdict === 'object') {
      await db.pool.query('UPDATE hosts SET hold = $2 WHERE id = $1 AND hold IS NULL', [s.host.id, verdict.hold]);
      held.push(s.host.name);
      log(`host ${s.host.name} is held: ${verdict.hold}`);
    } else if (verdict !== 'same' && s.note && s.size !== null) {
      await writePublished(dir, origin, s.host.epoch, s.size, s.note).catch((e: Error) => log(`published: host ${s.host.name}: ${e.message}`));
    }
  }
  return held;
}

/**
 * Lifts a hold: the published checkpoint (its log signature and our witness cosignature checked again) becomes the
 * host's witness state, so the next add-checkpoint must extend it (tlog-witness: old size = the latest cosigned
 * size). It is recorded as cosigned and as a mirror pending checkpoint, as add-checkpoint would have. A database
 * already at or past the published state only loses the hold.
 */
export async function resolveHold(db: Db, name: string, dir: string, witness: Pick<Cosigner, 'name' | 'publicKey'>): Promise<{ size: number; imported: boolean }> {
  return db.tx(async (c) => {
    const { rows } = await c.query<HostRow>('SELECT * FROM hosts WHERE name = $1 FOR UPDATE', [name]);
    const host = rows[0];
    if (!host) throw new FfauditError('NOT_FOUND', `no host named ${JSON.stringify(name)}`);
    if (!host.hold) throw new FfauditError('USAGE', `host ${name} is not held`);
    const p = await readPublished(dir, host.origin!, host.vkey!, witness);
    if (!p) throw new FfauditError('NOT_FOUND', `nothing published for host ${name} in ${dir} (${publishedPath(dir, host.origin!)})`);
    const { rows: ws } = await c.query<{ epoch: number; size: number; root: Buffer }>('SELECT epoch, size, root FROM witness_state WHERE host_id = $1', [host.id]);
    const w = ws[0] && ws[0].epoch === host.epoch ? ws[0] : undefined;
    const imported = !w || p.size > w.size;
    if (!imported && p.size === w.size && !w.root.equals(p.root)) {
      throw new FfauditError('CONFLICT', `host ${name}: the database and the published checkpoint hold two roots for size ${p.size}; look at both before choosing (hosts reset sets the history aside)`);
    }
    if (imported) {
      const { rows: other } = await c.query(
        "SELECT 1 FROM cosigned WHERE host_id = $1 AND epoch = $2 AND role = 'witness' AND size = $3 AND root <> $4",
        [host.id, host.epoch, p.size, p.root],
      );
      if (other.length > 0) {
        throw new FfauditError('CONFLICT', `host ${name}: the trail and the published checkpoint hold two roots for size ${p.size}; look at both before choosing (hosts reset sets the history aside)`);
      }
      const parsed = parseSignedCheckpoint(p.note).parsed;
      const logNote = noteOf(parsed.text, verifiedLogLines(parsed, parseVerifierKey(host.vkey!)));
      await c.query(
        `INSERT INTO witness_state (host_id, epoch, size, root, note) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (host_id) DO UPDATE SET epoch = EXCLUDED.epoch, size = EXCLUDED.size, root = EXCLUDED.root, note = EXCLUDED.note, updated_at = now()`,
        [host.id, host.epoch, p.size, p.root, p.note],
      );
      await c.query("INSERT INTO cosigned (host_id, epoch, role, size, root, note) VALUES ($1, $2, 'witness', $3, $4, $5) ON CONFLICT DO NOTHING", [host.id, host.epoch, p.size, p.root, p.note]);
      await c.query('INSERT INTO pending_checkpoints (host_id, epoch, size, root, note) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [host.id, host.epoch, p.size, p.root, logNote]);
    }
    await c.query('UPDATE hosts SET hold = NULL WHERE id = $1', [host.id]);
    return { size: p.size, imported };
  });
}
