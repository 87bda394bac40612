/**
 * The optional webhook: each finding POSTed as the same JSON object stdout carries (application/json). Over HTTPS,
 * or plain HTTP to this machine only. A POST that fails is said on stderr and kept for the next round; stdout has
 * the finding already, so nothing is lost when the receiver is down.
 */
import { FfauditError } from '../core/errors.js';
import { findingLine, type Finding } from './finding.js';

const TIMEOUT_MS = 10_000;
/** Findings kept for a receiver that stays down; beyond it the oldest are dropped (stdout still has them). */
const MAX_PENDING = 10_000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Checks a URL for the monitor (a source or the webhook): https, or http to a loopback address; no credentials. */
export function checkedUrl(text: string, what: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new FfauditError('USAGE', `${what} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new FfauditError('USAGE', `${what}: unsupported URL scheme ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw new FfauditError('USAGE', `${what}: credentials do not belong in the URL`);
  // Plain HTTP can be altered on the way; it is allowed to this machine only.
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) throw new FfauditError('USAGE', `${what} ${u.origin}: use https:// (plain http is allowed to this machine only)`);
  return u.toString();
}

export class Webhook {
  private readonly url: string;
  private pending: Finding[] = [];

  constructor(url: string) {
    this.url = checkedUrl(url, '--webhook');
  }

  /** Queues findings and sends everything queued, in order; stops at the first failure and says it on `err`. */
  async send(findings: readonly Finding[], err: (text: string) => void): Promise<void> {
    this.pending.push(...findings);
    if (this.pending.length > MAX_PENDING) this.pending.splice(0, this.pending.length - MAX_PENDING);
    while (this.pending.length > 0) {
      const f = this.pending[0]!;
      try {
        const res = await fetch(this.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: findingLine(f), signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
        await res.body?.cancel().catch(() => undefined);
        if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
      } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
        err(`ffaudit: monitor: the webhook ${new URL(this.url).origin} did not take ${this.pending.length} finding(s) (${cause}); retried next round\n`);
        return;
      }
      this.pending.shift();
    }
  }

  get queued(): number {
    return this.pending.length;
  }
}
