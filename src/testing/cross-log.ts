/**
 * TEST HELPER: two real ledgers (two hosts' logs, two origins and keys) with a lineage that crosses them, as a team
 * server traces it:
 *
 *   host 1 (host1.example/ffaudit):  0–1 run r1: lavfi testsrc → a.mp4
 *                                    2–3 run r2: a.mp4 → b.mp4 (its end links a.mp4 to entry 1: a signed link)
 *                                    4   note "sent b.mp4 to host 2" (names b.mp4)
 *   host 2 (host2.example/ffaudit):  0–1 run r3: b.mp4 → c.mp4 (recorded `produced_by: "none"`: nothing precedes
 *                                        it in host 2's log; its producer is r2, in host 1's)
 *                                    2   note "delivered c.mp4" (names c.mp4)
 *                                    3–4 run r4: c.mp4 → d.mp4 (a later use of c.mp4)
 *
 * Every entry is appended in that order, so the recorded times order host 1's runs before host 2's. Each ledger is
 * an EvidenceSource (ledger/bundle.ts ledgerEvidence) and the lookup answers from both, so the walk and the
 * assembly run over them exactly as they run over a server's mirrors.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileRecord } from '../core/entry.js';
import { hashLeaf } from '../core/merkle.js';
import type { InputRecord } from '../core/run.js';
import { ledgerEvidence } from '../ledger/bundle.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { LedgerLookup } from '../ledger/trace.js';
import type { EvidenceSource, LineageLookup, NoteStep, Step } from '../lineage/lookup.js';
import { walkLineage, type Lineage } from '../lineage/walk.js';
import { tempDir } from './fixtures.js';

export const HOST1 = 'host1.example/ffaudit';
export const HOST2 = 'host2.example/ffaudit';

export interface CrossLog {
  dir: string;
  host1: Ledger;
  host2: Ledger;
  /** Content hashes of a.mp4, b.mp4, c.mp4, d.mp4. */
  sha: { a: string; b: string; c: string; d: string };
  /** Each host's verifier key, written to a file as `ffaudit pubkey` prints it. */
  vkeyFile: { host1: string; host2: string };
  sourceFor: (origin: string) => Promise<EvidenceSource>;
  /** The lineage of `sha256` traced across both logs, from the log `home`. */
  trace: (sha256: string, path: string, home?: string) => Promise<Lineage>;
  close: () => void;
}

const sha = (text: string) => hashLeaf(Buffer.from(text)).toString('hex');

/** A finished run appended to `l`: its start and end entries; the start index. */
export function appendRun(l: Ledger, id: string, inputs: InputRecord[], outputs: FileRecord[], endInputs: InputRecord[] = inputs): number {
  const by = currentAuthor();
  const start = l.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by, run: id, tool: 'ffmpeg', cwd: '/work', argv: ['-i', 'in', 'out'], redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: '6.1', sha256: null }, inputs }]).indices[0]!;
  l.append([{ v: 1, type: 'run.end', time: nowRfc3339(), by, run: id, start, status: 'ok', exit_code: 0, signal: null, duration_ms: 3, inputs: endInputs, outputs, streams: [], report_sha256: null, redactions: [] }]);
  return start;
}

export function appendNote(l: Ledger, text: string, files: FileRecord[]): number {
  return l.append([{ v: 1, type: 'custody.note', time: nowRfc3339(), by: currentAuthor(), text, files }]).indices[0]!;
}

/** A lookup over several logs: every log's answers together (as the server's index over its mirrors answers). */
export class ManyLookup implements LineageLookup {
  constructor(private readonly lookups: readonly LineageLookup[]) {}
  private async all<T>(f: (l: LineageLookup) => Promise<T[]>): Promise<T[]> {
    return (await Promise.all(this.lookups.map(f))).flat();
  }
  producersOf(s: string): Promise<Step[]> {
    return this.all((l) => l.producersOf(s));
  }
  readersOf(s: string): Promise<Step[]> {
    return this.all((l) => l.readersOf(s));
  }
  notesNaming(s: string): Promise<NoteStep[]> {
    return this.all((l) => l.notesNaming(s));
  }
  indexProblems(): Promise<string[]> {
    return this.all((l) => l.indexProblems());
  }
}

export function makeCrossLog(prefix = 'cross-log'): CrossLog {
  const tmp = tempDir(prefix);
  const host1 = Ledger.init(join(tmp.dir, 'host1'), { origin: HOST1 });
  const host2 = Ledger.init(join(tmp.dir, 'host2'), { origin: HOST2 });
  const h = { a: sha('a.mp4'), b: sha('b.mp4'), c: sha('c.mp4'), d: sha('d.mp4') };
  const f = (name: keyof typeof h): FileRecord => ({ path: `/work/${name}.mp4`, size: 100, sha256: h[name] });
  appendRun(host1, 'r1', [{ path: 'testsrc=duration=1', size: null, sha256: null }], [f('a')]);
  appendRun(host1, 'r2', [f('a')], [f('b')], [{ ...f('a'), produced_by: { index: 1, leaf: hashLeaf(host1.entry(1)).toString('hex') } }]);
  appendNote(host1, 'sent b.mp4 to host 2', [f('b')]);
  appendRun(host2, 'r3', [f('b')], [f('c')], [{ ...f('b'), produced_by: 'none' }]);
  appendNote(host2, 'delivered c.mp4', [f('c')]);
  appendRun(host2, 'r4', [f('c')], [f('d')], [{ ...f('c'), produced_by: { index: 1, leaf: hashLeaf(host2.entry(1)).toString('hex') } }]);
  const vkeyFile = { host1: join(tmp.dir, 'host1.vkey'), host2: join(tmp.dir, 'host2.vkey') };
  writeFileSync(vkeyFile.host1, `${host1.vkey}\n`);
  writeFileSync(vkeyFile.host2, `${host2.vkey}\n`);
  const ledgers = new Map([
    [HOST1, host1],
    [HOST2, host2],
  ]);
  return {
    dir: tmp.dir,
    host1,
    host2,
    sha: h,
    vkeyFile,
    sourceFor: (origin) => {
      const l = ledgers.get(origin);
      return l ? Promise.resolve(ledgerEvidence(l)) : Promise.reject(new Error(`no log ${origin}`));
    },
    trace: (s, path, home = HOST2) => walkLineage(new ManyLookup([new LedgerLookup(host1), new LedgerLookup(host2)]), home, { path, sha256: s }),
    close: () => {
      host1.close();
      host2.close();
      tmp.cleanup();
    },
  };
}
