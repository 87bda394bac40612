/**
 * What the monitor reports: one JSON object per finding, the same on standard output and to a webhook. The evidence
 * holds the signed notes themselves, so that whoever receives a finding can check it without trusting the monitor.
 */
export type FindingKind = 'fork' | 'rollback' | 'equivocation' | 'bad-signature' | 'cosignatures-missing' | 'timestamp-missing' | 'bad-timestamp';

export interface Finding {
  kind: FindingKind;
  origin: string;
  /** The size last verified for this origin (or shown by the other source), null when there was none. */
  old_size: number | null;
  /** The size the source shows now, null when its checkpoint could not even be parsed. */
  size: number | null;
  evidence: Record<string, unknown>;
  /** The source the checkpoint was read from, as given on the command line. */
  source: string;
  /** When the monitor found it (RFC 3339, UTC). */
  time: string;
}

/** One line of JSON: the wire format of stdout and of the webhook. */
export function findingLine(f: Finding): string {
  return `${JSON.stringify(f)}\n`;
}

/** The identity of a finding apart from when it was seen: the loop reports a condition once, not every round. */
export function findingKey(f: Finding): string {
  return JSON.stringify([f.kind, f.origin, f.old_size, f.size, f.source, f.evidence]);
}
