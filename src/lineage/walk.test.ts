/**
 * The lineage walk and the bundle assembly as functions of their interfaces: an in-memory lookup over two logs
 * (two origins, hand-made run records), a lineage that crosses them, the time order that must exclude a
 * cross-log producer, and the refusal to bundle a lineage that is not all in one log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FfauditError } from '../core/errors.js';
import type { Verifier } from '../core/note.js';
import type { FileRecord } from '../core/entry.js';
import { runFromEntries, type InputRecord, type RunRecord } from '../core/run.js';
import { bundleLineages } from './bundle.js';
import type { EvidenceSource, LineageLookup, NoteStep, Step } from './lookup.js';
import { walkLineage } from './walk.js';

const A = 'host-a.example/ffaudit/1';
const B = 'host-b.example/ffaudit/2';
const by = { user: 'u', uid: 1, host: 'h' };
const sha = (c: string) => c.repeat(64);
const file = (name: string, content: string, extra: Partial<InputRecord> = {}): InputRecord => ({ path: `/w/${name}`, size: 1, sha256: sha(content), ...extra });
const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000000000Z`;

/** A finished run: entries `start` and `start + 1`, started and ended at the given seconds. */
function run(id: string, start: number, times: [number, number], inputs: InputRecord[], outputs: FileRecord[]): RunRecord {
  return runFromEntries(
    start,
    { v: 1, type: 'run.start', time: at(times[0]), by, run: id, tool: 'ffmpeg', cwd: '/w', argv: [], redactions: [], ffmpeg: { path: 'ffmpeg', version: null, sha256: null }, inputs },
    start + 1,
    { v: 1, type: 'run.end', time: at(times[1]), by, run: id, start, status: 'ok', exit_code: 0, signal: null, duration_ms: 1, inputs, outputs, streams: [], report_sha256: null, redactions: [] },
  );
}

/** An in-memory index over several logs: answers every step whose record names the content (and whatever `extra` adds). */
class MemoryLookup implements LineageLookup {
  checked = 0;
  constructor(
    private readonly steps: Step[],
    private readonly notes: NoteStep[] = [],
    private readonly extra: Step[] = [],
  ) {}
  producersOf(s: string): Promise<Step[]> {
    return Promise.resolve([...this.steps.filter((x) => x.run.outputs.some((f) => f.sha256 === s)), ...this.extra]);
  }
  readersOf(s: string): Promise<Step[]> {
    return Promise.resolve(this.steps.filter((x) => x.run.inputs.some((f) => f.sha256 === s)));
  }
  notesNaming(s: string): Promise<NoteStep[]> {
    return Promise.resolve(this.notes.filter((n) => n.note.files.some((f) => f.sha256 === s)));
  }
  indexProblems(): Promise<string[]> {
    this.checked++;
    return Promise.resolve([]);
  }
}

// Log A: run a1 renders x from a lavfi graph (ends at 0:10); run a2 renders the same x again, ending at 0:30.
// Log B: run b1 starts at 0:20, reads x and writes y; the copy of x it read came from host A.
const a1 = run('a1', 0, [5, 10], [{ path: 'lavfi:testsrc', size: null, sha256: null }], [file('x.mp4', 'a')]);
const a2 = run('a2', 2, [25, 30], [{ path: 'lavfi:testsrc', size: null, sha256: null }], [file('x.mp4', 'a')]);
const b1 = run('b1', 0, [20, 21], [file('x.mp4', 'a', { produced_by: 'unknown' })], [file('y.mp4', 'b')]);
const note: NoteStep = { log: A, index: 4, note: { v: 1, type: 'custody.note', time: at(40), by, text: 'sent to B', files: [file('x.mp4', 'a')] } };

describe('the lineage walk over a lookup', () => {
  it('crosses logs: a file produced in log A, read by a run in log B whose output is traced', async () => {
    const lookup = new MemoryLookup([{ log: A, run: a1 }, { log: A, run: a2 }, { log: B, run: b1 }], [note]);
    const l = await walkLineage(lookup, B, { path: '/w/y.mp4', sha256: sha('b') });
    assert.equal(l.log, B);
    // a2 ended (0:30) after b1 started (0:20): across logs only the recorded times order runs, so it is left out.
    assert.deepEqual(l.runs.map((r) => [r.id, r.log]), [['a1', A], ['b1', undefined]]);
    assert.deepEqual(l.sources.map((s) => [s.path, s.basis]), [['lavfi:testsrc', null]]);
    assert.equal(l.indexChecked, false, 'every input has a producer: nothing rests on the index');
    assert.deepEqual(l.notes.map((n) => [n.index, n.log]), [[4, A]]);
    assert.deepEqual(l.readBy, []);
    // x's own readers: b1, in the other log.
    const x = await walkLineage(lookup, A, { path: '/w/x.mp4', sha256: sha('a') });
    assert.deepEqual(x.readBy.map((r) => [r.id, r.log]), [['b1', B]]);
    assert.deepEqual(x.runs.map((r) => [r.id, r.log]), [['a1', undefined], ['a2', undefined]]);
  });

  it('across logs, a producer that ended after the consumer started is no producer: the content is a source', async () => {
    const lookup = new MemoryLookup([{ log: A, run: a2 }, { log: B, run: b1 }]);
    const l = await walkLineage(lookup, B, { path: '/w/y.mp4', sha256: sha('b') });
    assert.deepEqual(l.runs.map((r) => r.id), ['b1']);
    // The claim that no run produced x rests on the index, so the lookup was asked to prove it complete.
    assert.deepEqual(l.sources.map((s) => [s.sha256, s.basis]), [[sha('a'), 'index-checked']]);
    assert.equal(lookup.checked, 1);
    assert.equal(l.indexChecked, true);
  });

  it('inside one log the entry indices order runs, whatever their recorded times say', async () => {
    // A producer whose clock ran ahead: it ended "after" the consumer started, but its end precedes the start in the log.
    const early = run('p', 0, [50, 59], [], [file('x.mp4', 'a')]);
    const consumer = run('c', 2, [20, 21], [file('x.mp4', 'a')], [file('y.mp4', 'b')]);
    const late = run('q', 4, [1, 2], [], [file('x.mp4', 'a')]); // recorded times earlier, but written after the consumer started
    const l = await walkLineage(new MemoryLookup([{ log: A, run: early }, { log: A, run: consumer }, { log: A, run: late }]), A, { path: '/w/y.mp4', sha256: sha('b') });
    assert.deepEqual(l.runs.map((r) => [r.id, r.log]), [['p', undefined], ['c', undefined]]);
  });

  it('keeps only runs whose own records name the content, whatever the lookup answers', async () => {
    const stranger = run('z', 8, [1, 2], [], [file('other.mp4', 'c')]);
    const lookup = new MemoryLookup([{ log: B, run: b1 }], [], [{ log: A, run: stranger }]);
    const l = await walkLineage(lookup, B, { path: '/w/y.mp4', sha256: sha('b') });
    assert.deepEqual(l.runs.map((r) => r.id), ['b1']);
  });

  it('stops when the lookup cannot prove its index complete and a source would rest on it', async () => {
    const lookup = new MemoryLookup([{ log: B, run: b1 }]);
    lookup.indexProblems = () => Promise.resolve(['host-a: entry 3 names sha256 … but the file index lacks that row (deleted)']);
    await assert.rejects(walkLineage(lookup, B, { path: '/w/y.mp4', sha256: sha('b') }), (e: unknown) => e instanceof FfauditError && e.code === 'INTEGRITY' && /lacks that row/.test(e.message));
  });
});

describe('bundle assembly over an evidence source', () => {
  const untouched: EvidenceSource = {
    origin: B,
    vkey: 'unused',
    verifier: {} as Verifier,
    signedHead: () => Promise.reject(new Error('a refused lineage reads nothing')),
    entryWithProof: () => Promise.reject(new Error('a refused lineage reads nothing')),
    blob: () => Promise.reject(new Error('a refused lineage reads nothing')),
  };

  it('refuses a lineage with steps in another log, in one line, rather than bundle it in part', async () => {
    const lookup = new MemoryLookup([{ log: A, run: a1 }, { log: B, run: b1 }]);
    const l = await walkLineage(lookup, B, { path: '/w/y.mp4', sha256: sha('b') });
    await assert.rejects(bundleLineages(untouched, [l], { now: () => at(0) }), (e: unknown) => {
      assert.ok(e instanceof FfauditError && e.code === 'USAGE', String(e));
      assert.ok(!e.message.includes('\n'));
      assert.match(e.message, new RegExp(`steps in the log "${A}"`));
      return true;
    });
    // A lineage traced in another log altogether is refused as well.
    const inA = await walkLineage(new MemoryLookup([{ log: A, run: a1 }]), A, { path: '/w/x.mp4', sha256: sha('a') });
    await assert.rejects(bundleLineages(untouched, [inA], { now: () => at(0) }), /steps in the log/);
  });
});
