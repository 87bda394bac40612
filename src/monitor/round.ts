/**
 * One round of `ffaudit monitor`: every source's checkpoint read and checked against the log's key and the rules,
 * then, per origin, against what was seen before and against the other sources of the same log:
 *   same size, another root        equivocation (both notes)
 *   smaller than this source showed before, or than the last verified when the source is new     rollback
 *   larger, but the consistency proof from the tiles fails                                        fork
 * A checkpoint is accepted as the origin's new state only when it passes everything. A source that cannot be read
 * is not a finding: the round reports it apart (the caller exits 2 with --once, or retries).
 */
import { parseSignedCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { checkNote, type Verifier } from '../core/note.js';
import { CHECKPOINT } from '../archive/layout.js';
import type { ArchiveSource } from '../archive/target.js';
import type { Finding, FindingKind } from './finding.js';
import type { CheckpointRule, SourceRule } from './rules.js';
import type { MonitorState } from './state.js';
import { proveFromTiles } from './tile-proof.js';

export interface RoundOptions {
  /** The logs' keys; a checkpoint is checked with the one named after its origin. */
  verifiers: readonly Verifier[];
  rules: readonly CheckpointRule[];
  /** Rules over what a source holds beside its checkpoint, run on each checkpoint no other check flagged. */
  sourceRules?: readonly SourceRule[];
  open: (location: string) => Promise<ArchiveSource>;
  now?: () => Date;
}

export interface RoundResult {
  findings: Finding[];
  /** Sources that could not be read, with one line saying why. */
  unreadable: { source: string; message: string }[];
}

interface Seen {
  location: string;
  source: ArchiveSource;
  cp: SignedCheckpoint;
  /** Passed the rules: may become the origin's state. */
  acceptable: boolean;
  flagged: boolean;
}

/** Runs one round and updates `state` in place (the caller saves it). */
export async function monitorRound(locations: readonly string[], state: MonitorState, opts: RoundOptions): Promise<RoundResult> {
  const time = (opts.now?.() ?? new Date()).toISOString();
  const findings: Finding[] = [];
  const unreadable: RoundResult['unreadable'] = [];
  const opened: ArchiveSource[] = [];
  const add = (kind: FindingKind, origin: string, oldSize: number | null, size: number | null, source: string, evidence: Record<string, unknown>) =>
    findings.push({ kind, origin, old_size: oldSize, size, evidence, source, time });
  try {
    const byOrigin = new Map<string, Seen[]>();
    for (const location of locations) {
      let source: ArchiveSource;
      let note: string;
      try {
        source = await opts.open(location);
        opened.push(source);
        const o = await source.get(CHECKPOINT);
        if (!o) throw new Error('it holds no checkpoint (nothing archived or mirrored yet?)');
        note = o.data.toString('utf8');
      } catch (e) {
        unreadable.push({ source: location, message: (e as Error).message });
        continue;
      }
      const seen = checkSignature(location, note, state, opts.verifiers, add);
      if (!seen) continue;
      let acceptable = true;
      for (const rule of opts.rules) {
        const failure = rule.check(seen);
        if (!failure) continue;
        acceptable = false;
        add(failure.kind, seen.origin, state.logs.get(seen.origin)?.size ?? null, seen.size, location, failure.evidence);
      }
      const list = byOrigin.get(seen.origin) ?? [];
      list.push({ location, source, cp: seen, acceptable, flagged: false });
      byOrigin.set(seen.origin, list);
    }
    for (const [origin, list] of byOrigin) {
      try {
        await checkOrigin(origin, list, state, add);
        const verifier = opts.verifiers.find((v) => v.name === origin)!;
        for (const s of list.filter((x) => !x.flagged)) {
          for (const rule of opts.sourceRules ?? []) {
            const now = opts.now?.() ?? new Date();
            for (const f of await rule.check({ location: s.location, source: s.source, cp: s.cp, verifier, state, now })) add(f.kind, origin, f.oldSize, f.size, s.location, f.evidence);
          }
        }
      } catch (e) {
        // A tile that could not be fetched (the network, not the log): this origin is retried next round.
        unreadable.push({ source: list.map((s) => s.location).join(', '), message: (e as Error).message });
      }
    }
  } finally {
    for (const s of opened) s.close();
  }
  return { findings, unreadable };
}

type Add = (kind: FindingKind, origin: string, oldSize: number | null, size: number | null, source: string, evidence: Record<string, unknown>) => void;

function checkSignature(location: string, note: string, state: MonitorState, verifiers: readonly Verifier[], add: Add): SignedCheckpoint | undefined {
  let cp: SignedCheckpoint;
  try {
    cp = parseSignedCheckpoint(note);
  } catch (e) {
    add('bad-signature', note.split('\n', 1)[0] ?? '', null, null, location, { note, reason: `not a signed checkpoint: ${(e as Error).message}` });
    return undefined;
  }
  const last = state.logs.get(cp.origin)?.size ?? null;
  const key = verifiers.find((v) => v.name === cp.origin);
  if (!key) {
    add('bad-signature', cp.origin, last, cp.size, location, { note, reason: 'no key given (--pubkey or a log of --policy) is named after this origin' });
    return undefined;
  }
  const verdict = checkNote(cp.parsed, [key]);
  if (verdict !== 'ok') {
    const id = `${key.name}+${key.keyId.toString('hex')}`;
    add('bad-signature', cp.origin, last, cp.size, location, { note, reason: verdict === 'invalid' ? `the signature of ${id} does not verify` : `not signed by the log's key ${id}` });
    return undefined;
  }
  return cp;
}

async function checkOrigin(origin: string, list: Seen[], state: MonitorState, add: Add): Promise<void> {
  const last = state.logs.get(origin);
  const lastRoot = last && Buffer.from(last.root, 'base64');
  // Rollback: less than this source showed before; a source never seen is held to the last verified state.
  for (const s of list) {
    const before = state.sources.get(s.location) ?? last?.size;
    if (before !== undefined && s.cp.size < before) {
      s.flagged = true;
      add('rollback', origin, before, s.cp.size, s.location, { note: s.cp.note, last_note: last?.note ?? null, last_size: last?.size ?? null });
    }
  }
  // Against the last verified state.
  if (last && lastRoot) {
    for (const s of list.filter((x) => !x.flagged)) {
      if (s.cp.size === last.size && !s.cp.root.equals(lastRoot)) {
        s.flagged = true;
        add('equivocation', origin, last.size, s.cp.size, s.location, { note: s.cp.note, other_note: last.note, other_source: 'the last verified checkpoint' });
      } else if (s.cp.size > last.size) {
        const r = await proveFromTiles(s.source, last.size, lastRoot, s.cp.size, s.cp.root);
        if (!r.ok) {
          s.flagged = true;
          add('fork', origin, last.size, s.cp.size, s.location, { note: s.cp.note, old_note: last.note, reason: r.reason, proof: r.proof.map((h) => h.toString('base64')) });
        }
      }
    }
  }
  // Sources of the same log against each other: the larger one's tiles prove the smaller one's checkpoint.
  // A checkpoint already found wanting is left out: its finding is made, and a pair with it would only repeat it.
  const sorted = list.filter((x) => !x.flagged).sort((a, b) => a.cp.size - b.cp.size);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const a = sorted[i]!;
      const b = sorted[j]!;
      if (a.cp.size === b.cp.size) {
        if (a.cp.root.equals(b.cp.root)) continue;
        a.flagged = b.flagged = true;
        add('equivocation', origin, a.cp.size, b.cp.size, b.location, { note: b.cp.note, other_note: a.cp.note, other_source: a.location });
        continue;
      }
      const r = await proveFromTiles(b.source, a.cp.size, a.cp.root, b.cp.size, b.cp.root);
      if (r.ok) continue;
      a.flagged = b.flagged = true;
      add('fork', origin, a.cp.size, b.cp.size, b.location, { note: b.cp.note, old_note: a.cp.note, other_source: a.location, reason: r.reason, proof: r.proof.map((h) => h.toString('base64')) });
    }
  }
  // What passed everything: each source's size is remembered, and the largest acceptable checkpoint becomes the state.
  let best: SignedCheckpoint | undefined;
  for (const s of list) {
    if (s.flagged) continue;
    state.sources.set(s.location, Math.max(state.sources.get(s.location) ?? 0, s.cp.size));
    if (s.acceptable && s.cp.size > (last?.size ?? -1) && s.cp.size > (best?.size ?? -1)) best = s.cp;
  }
  if (best) state.logs.set(origin, { size: best.size, root: best.root.toString('base64'), note: best.note });
}
