/**
 * Checks of one signed checkpoint on its own, after the log's signature: what an independent party requires of it
 * before accepting it as the log's state. The policy's cosignatures (c2sp.org/tlog-policy) are one rule. A SourceRule
 * looks further, at what the source holds beside the checkpoint, and reports without holding the checkpoint back:
 * the RFC 3161 timestamps a checkpoint must gain within a while (timestamp-rule.ts).
 */
import type { ArchiveSource } from '../archive/target.js';
import type { SignedCheckpoint } from '../core/checkpoint.js';
import type { Verifier } from '../core/note.js';
import { checkpointWitnesses, quorumMet, type TlogPolicy } from '../core/tlog-policy.js';
import type { FindingKind } from './finding.js';
import type { MonitorState } from './state.js';

export interface RuleFailure {
  kind: FindingKind;
  evidence: Record<string, unknown>;
}

export interface CheckpointRule {
  /** A failure with its evidence, or undefined when the checkpoint passes. */
  check(cp: SignedCheckpoint): RuleFailure | undefined;
}

export interface SourceContext {
  location: string;
  source: ArchiveSource;
  /** The checkpoint the source shows, signed by the log's key (`verifier`). */
  cp: SignedCheckpoint;
  verifier: Verifier;
  state: MonitorState;
  now: Date;
}

export interface SourceRule {
  /** Failures with their evidence, the sizes they are about, and the size last accepted for the log. */
  check(ctx: SourceContext): Promise<(RuleFailure & { oldSize: number | null; size: number })[]>;
}

/** The policy's quorum of witness cosignatures (tlog-policy), naming the witnesses that did not cosign. */
export function cosignatureRule(policy: TlogPolicy): CheckpointRule {
  return {
    check(cp) {
      const { witnessed, failed } = checkpointWitnesses(policy, cp.note);
      if (quorumMet(policy, witnessed) && failed.length === 0) return undefined;
      return {
        kind: 'cosignatures-missing',
        evidence: {
          note: cp.note,
          quorum: policy.quorum,
          missing: policy.witnesses.filter((w) => !witnessed.has(w)),
          invalid: failed,
          witnessed: policy.witnesses.filter((w) => witnessed.has(w)),
        },
      };
    },
  };
}
