/**
 * TEST HELPER: a small team server on node:http that answers as the specifications say, for the push client's
 * tests: POST /join, POST /add-checkpoint (c2sp.org/tlog-witness, with the mirror's pending checkpoint set by the
 * same request, tlog-mirror §add-checkpoint), POST /add-entries (c2sp.org/tlog-mirror: gzip, packages checked with
 * their subtree consistency proofs, 202/409 with mirror-info, 200 with the mirror's cosignature), PUT /blobs and
 * GET /witness/<origin hash>/checkpoint. One log, state in memory. Every request is recorded (body decoded), and
 * `faults` answers the next requests otherwise (a status, a dropped connection) to test retries. It checks what
 * the client sends with core/'s own parsers and verifiers; the real server (src/server/) is tested on its own.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { formatCosignerVkey } from '../core/cosignature.js';
import { hashLeaf, verifyConsistency } from '../core/merkle.js';
import { AddEntriesParser, formatMirrorInfo, MIRROR_INFO_CONTENT_TYPE } from '../core/mirror-protocol.js';
import { parseVerifierKey, type Verifier } from '../core/note.js';
import { verifySubtreeConsistency } from '../core/subtree.js';
import { formatTlogSize, parseAddCheckpoint, TLOG_SIZE_CONTENT_TYPE } from '../core/witness-protocol.js';
import { namedBlobs } from '../ledger/blob.js';
import { serverKeys, type TestServerKeys } from './cosigners.js';
import { naiveRoot } from './fixtures.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The body as sent (before any decoding). */
  raw: Buffer;
  /** The body decoded (gunzipped when Content-Encoding: gzip). */
  body: Buffer;
  status: number;
  /** When it arrived (Date.now()). */
  at: number;
}

/** What to do with the next request instead of answering it: an answer, or closing the connection. */
export type Fault = { status: number; body?: string; type?: string } | 'drop';

export interface TestTlogServer {
  url: string;
  keys: TestServerKeys;
  requests: RecordedRequest[];
  /** Consumed one per request, before any handling, in order (a request matching `when`, if given). */
  faults: { fault: Fault; when?: (method: string, path: string) => boolean }[];
  /** The join token the server takes once. */
  token: string;
  /** Enrols a log directly (as a join would). */
  enrol(origin: string, vkey: string): void;
  /** The log's state, for checks. */
  log(): LogState | undefined;
  /** At most this many packages per add-entries request are taken, then 202 (a mirror that commits little by little). */
  packagesPerRequest: number;
  /** Makes the log unknown (404), as `serve hosts disable` does. */
  disabled: boolean;
  /** Until this time (Date.now()), every request is answered 503: the server is away. */
  awayUntil: number;
  close(): Promise<void>;
}

export interface LogState {
  origin: string;
  verifier: Verifier;
  witness: { size: number; root: Buffer; note: string } | undefined;
  /** Pending checkpoints by size (tlog-mirror: several are accepted as upload_end). */
  pending: Map<number, SignedCheckpoint>;
  /** Mirrored entries [0, entries.length). */
  entries: Buffer[];
  mirror: { size: number; note: string } | undefined;
  blobs: Map<string, Buffer>;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export async function startTlogServer(opts: { name?: string } = {}): Promise<TestTlogServer> {
  let state: LogState | undefined;
  const requests: RecordedRequest[] = [];
  const faults: TestTlogServer['faults'] = [];
  const token = `ffaudit-join-test-${sha256(String(Math.random())).toString('hex').slice(0, 16)}`;
  let tokenUsed = false;
  const now = () => Math.floor(Date.now() / 1000);

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = (req.url ?? '').split('?')[0]!;
      const method = req.method ?? '';
      let body = raw;
      const rec: RecordedRequest = { method, path, headers: req.headers, raw, body, status: 0, at: Date.now() };
      requests.push(rec);
      const send = (status: number, text: string, type = 'text/plain; charset=utf-8') => {
        rec.status = status;
        res.writeHead(status, { 'content-type': type });
        res.end(text);
      };
      if (Date.now() < t.awayUntil) return send(503, 'away\n');
      const at = faults.findIndex((f) => !f.when || f.when(method, path));
      if (at >= 0) {
        const [{ fault }] = faults.splice(at, 1) as [{ fault: Fault }];
        if (fault === 'drop') {
          rec.status = -1;
          req.socket.destroy();
          return;
        }
        return send(fault.status, fault.body ?? 'injected\n', fault.type);
      }
      try {
        if (req.headers['content-encoding'] === 'gzip') body = rec.body = gunzipSync(raw);
        handle(method, path, body, send);
      } catch (e) {
        send(400, `${(e as Error).message.split('\n')[0]}\n`);
      }
    });
  });

  const t: TestTlogServer = {
    url: '',
    keys: serverKeys(opts.name ?? 'audit.example'),
    requests,
    faults,
    token,
    packagesPerRequest: Infinity,
    disabled: false,
    awayUntil: 0,
    enrol(origin, vkey) {
      state = { origin, verifier: parseVerifierKey(vkey), witness: undefined, pending: new Map(), entries: [], mirror: undefined, blobs: new Map() };
    },
    log: () => state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  const known = (originHashOrOrigin: string, byHash: boolean) =>
    state && !t.disabled && (byHash ? sha256(state.origin).toString('hex') === originHashOrOrigin : state.origin === originHashOrOrigin) ? state : undefined;

  function handle(method: string, path: string, body: Buffer, send: (s: number, t: string, type?: string) => void): void {
    if (method === 'POST' && path === '/join') {
      const { token: tk, origin, vkey } = JSON.parse(body.toString('utf8')) as Record<string, string>;
      if (tk !== token || tokenUsed) return send(403, 'the token is not valid\n');
      if (state && state.origin === origin) return send(409, 'origin already enrolled by another host\n');
      tokenUsed = true;
      t.enrol(origin!, vkey!);
      const k = t.keys;
      return send(200, JSON.stringify({ host: k.host, witness: formatCosignerVkey(k.witness.name, k.witness.publicKey), mirror: formatCosignerVkey(k.mirror.name, k.mirror.publicKey) }), 'application/json');
    }
    if (method === 'POST' && path === '/add-checkpoint') {
      // tlog-witness §add-checkpoint, in its order of checks.
      const r = parseAddCheckpoint(body);
      const origin = r.checkpoint.slice(0, r.checkpoint.indexOf('\n'));
      const log = known(origin, false);
      if (!log) return send(404, 'unknown log\n');
      let cp: SignedCheckpoint;
      try {
        cp = openCheckpoint(r.checkpoint, [log.verifier], log.origin);
      } catch {
        return send(403, 'no trusted signature\n');
      }
      if (r.oldSize > cp.size) return send(400, 'old size is larger than the checkpoint\n');
      const held = log.witness?.size ?? 0;
      if (r.oldSize !== held) return send(409, formatTlogSize(held), TLOG_SIZE_CONTENT_TYPE);
      if (r.oldSize === cp.size) {
        if (log.witness && !log.witness.root.equals(cp.root)) return send(409, formatTlogSize(held), TLOG_SIZE_CONTENT_TYPE);
      } else if (r.oldSize > 0 && !verifyConsistency(r.oldSize, cp.size, r.proof, log.witness!.root, cp.root)) {
        return send(422, 'the consistency proof does not verify\n');
      } else if (r.oldSize === 0 && r.proof.length > 0) {
        return send(400, 'a proof from size 0\n');
      }
      log.witness = { size: cp.size, root: cp.root, note: r.checkpoint };
      log.pending.set(cp.size, cp);
      return send(200, t.keys.witness.cosign(cp.parsed.text, now()));
    }
    if (method === 'POST' && path === '/add-entries') {
      const p = new AddEntriesParser();
      p.push(body);
      const h = p.header();
      if (!h) return send(400, 'truncated header\n');
      const log = known(h.origin, false);
      if (!log) return send(404, 'unknown log\n');
      const next = () => log.entries.length;
      const latest = Math.max(0, ...log.pending.keys());
      const info = (size: number) => formatMirrorInfo({ size, next: next(), ticket: Buffer.from(`ticket-${size}`) });
      const pending = log.pending.get(h.uploadEnd);
      if (!pending || h.uploadEnd < (log.mirror?.size ?? 0)) return send(409, info(latest), MIRROR_INFO_CONTENT_TYPE);
      if (h.uploadStart > next()) return send(409, info(h.uploadEnd), MIRROR_INFO_CONTENT_TYPE);
      let taken = 0;
      for (let pkg = p.nextPackage(); pkg; pkg = p.nextPackage()) {
        const { range, entries, proof } = pkg;
        // The subtree hash from the entries the mirror holds before `start` and the ones received.
        const leaves = [...log.entries.slice(range.subtreeStart, range.start), ...entries].map((e) => hashLeaf(e));
        if (leaves.length !== range.end - range.subtreeStart || !verifySubtreeConsistency(range.subtreeStart, range.end, h.uploadEnd, proof, naiveRoot(leaves), pending.root)) {
          return send(422, `package [${range.start}, ${range.end}) does not verify\n`);
        }
        entries.forEach((e, k) => {
          if (range.start + k === log.entries.length) log.entries.push(Buffer.from(e));
        });
        taken++;
        if (taken >= t.packagesPerRequest && !p.finished()) return send(202, info(h.uploadEnd), MIRROR_INFO_CONTENT_TYPE);
      }
      if (!p.finished()) return taken > 0 ? send(202, info(h.uploadEnd), MIRROR_INFO_CONTENT_TYPE) : send(400, 'no package\n');
      if (next() < h.uploadEnd) return send(202, info(h.uploadEnd), MIRROR_INFO_CONTENT_TYPE);
      if (h.uploadEnd < (log.mirror?.size ?? 0)) return send(409, info(latest), MIRROR_INFO_CONTENT_TYPE);
      log.mirror = { size: h.uploadEnd, note: pending.note };
      return send(200, t.keys.mirror.cosign(pending.parsed.text, now()));
    }
    const blob = /^\/blobs\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(path);
    if (method === 'PUT' && blob) {
      const log = known(blob[1]!, true);
      if (!log) return send(404, 'unknown log\n');
      if (sha256(body).toString('hex') !== blob[2]) return send(422, 'the bytes do not hash to the name\n');
      if (!log.entries.some((e) => namedBlobs(e).includes(blob[2]!))) return send(422, 'no mirrored entry names it\n');
      const had = log.blobs.has(blob[2]);
      log.blobs.set(blob[2], Buffer.from(body));
      return send(had ? 200 : 201, had ? 'already had it\n' : 'stored\n');
    }
    const cp = /^\/witness\/([0-9a-f]{64})\/checkpoint$/.exec(path);
    if (method === 'GET' && cp) {
      const log = known(cp[1]!, true);
      if (!log?.witness) return send(404, 'unknown log\n');
      return send(200, `${log.witness.note}${t.keys.witness.cosign(log.pending.get(log.witness.size)!.parsed.text, now())}`);
    }
    send(404, 'no such endpoint\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.keys = serverKeys(opts.name ?? 'audit.example', t.url);
  return t;
}
