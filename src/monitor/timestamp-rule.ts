/**
 * The timestamp rule of `ffaudit monitor --tsa-ca PEM --timestamp-within DURATION`: every checkpoint the monitor
 * sees must, within DURATION of being first seen, be covered by a valid RFC 3161 token published beside the tiles
 * (`timestamp/<size>`, archive/layout.ts) over a checkpoint of at least its size that extends it (the same root, or
 * a consistency proof from the source's tiles). Otherwise one `timestamp-missing` finding, once per checkpoint. A
 * published token that does not verify against the CA the monitor was given is `bad-timestamp`. The checkpoints
 * still waiting are kept in the monitor's state (state.ts), so the window spans rounds and restarts.
 */
import { openCheckpoint, type SignedCheckpoint } from '../core/checkpoint.js';
import { parseTimestampPath, timestampPath, TIMESTAMP_DIR, checkpointHistoryPath } from '../archive/layout.js';
import { checkCheckpointToken, checkRenewal, lapsed } from '../timestamp/chain.js';
import type { VerifiedTimestamp } from '../timestamp/verify.js';
import type { SourceContext, SourceRule } from './rules.js';
import type { AwaitedStamp } from './state.js';
import { proveFromTiles } from './tile-proof.js';

/** Checkpoints kept waiting per log: a log that is never timestamped is reported, not remembered for ever. */
const MAX_AWAITED = 1000;
/** Renewals followed per token. */
const MAX_RENEWALS = 100;

type Failure = Awaited<ReturnType<SourceRule['check']>>[number];

export function timestampRule(caCerts: string, withinMs: number): SourceRule {
  return {
    async check({ location, source, cp, verifier, state, now }: SourceContext) {
      const out: Failure[] = [];
      const last = state.logs.get(cp.origin)?.size ?? null;
      const awaited = state.stamps.get(cp.origin) ?? [];
      const root = cp.root.toString('base64');
      if (!awaited.some((a) => a.size === cp.size && a.root === root)) awaited.push({ size: cp.size, root, note: cp.note, first_seen: now.toISOString(), reported: false });
      const from = Math.min(...awaited.map((a) => a.size));

      // The tokens the source publishes over checkpoints from the smallest awaited size up to what it shows.
      const sizes = source.noListing
        ? [...new Set([cp.size, ...awaited.map((a) => a.size)])]
        : [...new Set((await source.list(TIMESTAMP_DIR)).map((n) => parseTimestampPath(n)?.size ?? 0))];
      const covering: SignedCheckpoint[] = [];
      for (const size of sizes.filter((s) => s >= from && s <= cp.size).sort((a, b) => b - a)) {
        const name = timestampPath(size);
        const token = await source.get(name);
        if (!token) continue;
        const bad = (reason: string, note?: string) => out.push({ kind: 'bad-timestamp', oldSize: last, size, evidence: { name, reason, note: note ?? null, token: token.data.toString('base64') } });
        let over: SignedCheckpoint = cp;
        if (size !== cp.size) {
          const text = (await source.get(checkpointHistoryPath(size)))?.data.toString('utf8');
          try {
            if (text === undefined) throw new Error(`${checkpointHistoryPath(size)} is missing`);
            over = openCheckpoint(text, [verifier], cp.origin);
            if (over.size !== size) throw new Error(`${checkpointHistoryPath(size)} is the checkpoint of size ${over.size}`);
          } catch (e) {
            bad(`the checkpoint it is over cannot be read: ${(e as Error).message}`, text);
            continue;
          }
        }
        let tip: VerifiedTimestamp;
        try {
          tip = checkCheckpointToken(token.data, over.parsed.text, caCerts, now);
          for (let n = 1; n <= MAX_RENEWALS; n++) {
            const renewal = await source.get(timestampPath(size, n));
            if (!renewal) break;
            tip = checkRenewal(renewal.data, tip, caCerts, now);
          }
          const why = lapsed(tip, now);
          if (why) throw new Error(why);
        } catch (e) {
          bad((e as Error).message, over.note);
          continue;
        }
        covering.push(over);
      }

      const left: AwaitedStamp[] = [];
      for (const a of awaited) {
        const aRoot = Buffer.from(a.root, 'base64');
        let covered = false;
        for (const c of covering.filter((x) => x.size >= a.size)) {
          covered = c.size === a.size ? c.root.equals(aRoot) : (await proveFromTiles(source, a.size, aRoot, c.size, c.root)).ok;
          if (covered) break;
        }
        if (covered) continue;
        if (!a.reported && now.getTime() - Date.parse(a.first_seen) > withinMs) {
          a.reported = true;
          out.push({
            kind: 'timestamp-missing',
            oldSize: last,
            size: a.size,
            evidence: { note: a.note, first_seen: a.first_seen, within_ms: withinMs, source: location, stamped_sizes: covering.map((c) => c.size) },
          });
        }
        left.push(a);
      }
      state.stamps.set(cp.origin, left.slice(-MAX_AWAITED));
      return out;
    },
  };
}
