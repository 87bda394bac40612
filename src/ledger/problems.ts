/**
 * What a check finds wrong, in one vocabulary for every check that reports findings: the ledger's (verify.ts), the
 * archive's (archive/verify-archive.ts, archive/lag.ts), the archiving run's own checks (archive/archive.ts) and the
 * time-stamp tokens' (timestamp/ledger-check.ts, archive/published-stamps.ts).
 */

export type ProblemKind =
  | 'store-corrupt'
  | 'triggers-missing'
  | 'entry-modified'
  | 'entry-missing'
  | 'entry-unsigned'
  | 'tree-modified'
  | 'checkpoint-missing'
  | 'checkpoint-signature-invalid'
  | 'root-mismatch'
  | 'rollback'
  | 'fork'
  | 'cosignature-invalid'
  | 'quorum-not-met'
  | 'blob-modified'
  | 'blob-missing'
  | 'index-mismatch'
  | 'not-locked'
  | 'archive-behind'
  | 'timestamp-invalid'
  | 'timestamp-unrenewed';

export interface Problem {
  kind: ProblemKind;
  index?: number;
  size?: number;
  detail: string;
  /** A signed note that proves the finding by itself (a checkpoint the server cosigned), byte-exact. */
  proof?: string;
}

export const MAX_LISTED = 1000; // per kind: a log rewritten wholesale still yields a readable report

/** Findings as they are found, at most MAX_LISTED of each kind, so a log rewritten wholesale stays readable. */
export class Findings {
  readonly problems: Problem[] = [];
  private readonly counts = new Map<ProblemKind, number>();

  add(p: Problem): void {
    const n = (this.counts.get(p.kind) ?? 0) + 1;
    this.counts.set(p.kind, n);
    if (n <= MAX_LISTED) this.problems.push(p);
  }

  /** Puts findings ahead of those already listed. */
  addFirst(ps: readonly Problem[]): void {
    for (const p of ps) this.counts.set(p.kind, (this.counts.get(p.kind) ?? 0) + 1);
    this.problems.unshift(...ps);
  }

  has(kind: ProblemKind): boolean {
    return this.counts.has(kind);
  }

  /** The findings, with one more line for each kind that was cut short. */
  list(): Problem[] {
    const cut = [...this.counts].filter(([, n]) => n > MAX_LISTED);
    return [...this.problems, ...cut.map(([kind, n]): Problem => ({ kind, detail: `${n - MAX_LISTED} more ${kind} findings not listed` }))];
  }
}
