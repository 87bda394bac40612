/**
 * The HTTP side of a push, against one server or witness: requests retried with exponential backoff (bounded) while
 * it is away (no connection, no answer in time, 5xx, 429); any other answer is final and returned, read up to a
 * bound. Shared by the push to the team server (client.ts) and the collection of witnesses' cosignatures
 * (witnesses.ts).
 */
import { collectBounded } from '../core/bounded.js';
import { FfauditError } from '../core/errors.js';

export interface RetryOptions {
  signal?: AbortSignal | undefined;
  /** The fetch to use (default: the global one, whose connections are kept alive between requests). */
  fetch?: typeof fetch | undefined;
  /** How many times a request is retried while the server is away (default 6: about a minute in all). */
  retries?: number | undefined;
  /** The first wait before a retry, doubled each time up to retryMaxMs (defaults 500 ms and 30 s). */
  retryBaseMs?: number | undefined;
  retryMaxMs?: number | undefined;
  /** Progress, one line at a time. */
  log?: ((line: string) => void) | undefined;
}

export interface Answer {
  status: number;
  /** The media type, lower case, without parameters. */
  type: string;
  text: string;
}

/** The most bytes read of any answer (cosignature lines, sizes, mirror-info, a one-line error). */
const MAX_ANSWER_BYTES = 1 << 20;
/** Per request: an answer must start within this long, or the request counts as the server being away. */
const REQUEST_TIMEOUT_MS = 60_000;

/** The server stayed away through every retry; `why` says what the last attempt met, in a few words. */
export class AwayError extends FfauditError {
  constructor(
    message: string,
    readonly why: string,
  ) {
    super('IO', message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A server's one-line answer, for a message: control characters removed, cut short. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const t = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

async function readAnswer(res: Response): Promise<string> {
  if (!res.body) return '';
  const body = await collectBounded(res.body as AsyncIterable<Uint8Array>, MAX_ANSWER_BYTES, () => new FfauditError('BAD_INPUT', `the server's answer is larger than ${MAX_ANSWER_BYTES} bytes`));
  return body.toString('utf8');
}

export class Connection {
  private readonly fetchFn: typeof fetch;
  /** `what` names the other end in messages: "the server", "the witness w1". */
  constructor(
    readonly base: string,
    private readonly opts: RetryOptions,
    private readonly what = 'the server',
  ) {
    this.fetchFn = opts.fetch ?? fetch;
  }

  async request(method: 'POST' | 'PUT', path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
    const retries = this.opts.retries ?? 6;
    const base = this.opts.retryBaseMs ?? 500;
    const max = this.opts.retryMaxMs ?? 30_000;
    const url = `${this.base}${path}`;
    for (let attempt = 0; ; attempt++) {
      let why: string;
      const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(this.opts.signal ? [this.opts.signal] : [])];
      try {
        const res = await this.fetchFn(url, { method, body, headers, signal: AbortSignal.any(signals) });
        const text = await readAnswer(res);
        if (res.status < 500 && res.status !== 429) return { status: res.status, type: (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase(), text };
        why = `it answered ${res.status}${text ? ` (${oneLine(text)})` : ''}`;
      } catch (e) {
        if (this.opts.signal?.aborted) throw new AwayError(`the push to ${this.base} was stopped`, 'the push was stopped');
        if (e instanceof FfauditError) throw e;
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        why = (e as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
      }
      if (attempt >= retries) throw new AwayError(`${this.what} ${this.base} is away (${method} ${path.split('/').slice(0, 2).join('/')}: ${why}); nothing is lost: the next push sends it`, why);
      const wait = Math.min(max, base * 2 ** attempt);
      this.opts.log?.(`${this.what} is away (${why}): retrying in ${(wait / 1000).toFixed(1)} s`);
      await sleep(wait, this.opts.signal);
    }
  }
}
