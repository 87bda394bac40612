/**
 * Checks of one signed checkpoint on its own, after the log's signature: what an independent party requires of it
 * before accepting it as the log's state. The policy's cosignatures (c2sp.org/tlog-policy) are one rule; a rule for
 * RFC 3161 timestamps on checkpoints belongs here too, as one more CheckpointRule given to the round.
 */
import type { SignedCheckpoint } from '../core/checkpoint.js';
import { checkpointWitnesses, quorumMet, type TlogPolicy } from '../core/tlog-policy.js';
import type { FindingKind } from './finding.js';

export interface RuleFailure {
  kind: FindingKind;
  evidence: Record<string, unknown>;
}

export interface CheckpointRule {
  /** A failure with its evidence, or undefined when the checkpoint passes. */
  check(cp: SignedCheckpoint): RuleFailure | undefined;
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
