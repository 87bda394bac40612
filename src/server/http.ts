/**
 * What every route shares: the one mapping from FfauditError codes to HTTP statuses, plain one-line error bodies,
 * and request bodies read with a bound (after decompression, so a small gzip bomb cannot grow past it).
 */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { collectBounded } from '../core/bounded.js';
import { FfauditError, isFfauditError, type ErrorCode } from '../core/errors.js';

/** The HTTP status for each error code: the server's counterpart of cli/exit.ts. */
const HTTP_STATUS: Record<ErrorCode, number> = {
  USAGE: 400,
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  TOO_LARGE: 413,
  INTEGRITY: 422,
  KEY: 500,
  STORE: 503,
  BUSY: 503,
  IO: 500,
  ARCHIVE: 500,
  INTERNAL: 500,
  NO_LEDGER: 500,
  LEDGER_EXISTS: 500,
  FFMPEG_NOT_FOUND: 500,
  RECORD: 500,
};

export function httpStatusFor(e: unknown): number {
  if (isFfauditError(e)) return HTTP_STATUS[e.code];
  return isDatabaseUnavailable(e) ? 503 : 500;
}

/**
 * Whether an error from pg means the database is away (stopped, restarting, unreachable, out of connections) rather
 * than a fault of ours: SQLSTATE classes 08 (connection exception), 57P (operator intervention: shutdown, crash
 * recovery) and 53 (insufficient resources), 3D000 (the database itself is gone: dropped, or not restored yet), a
 * refused or reset socket, or a connection pg saw end.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (/^(08|57P|53|3D000$)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code))) return true;
  const message = (e as { message?: unknown }).message;
  return typeof message === 'string' && /^Connection terminated|^timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

/** A one-line plain-text answer; the line never carries a stack, and a 5xx never carries internals. */
export function textError(c: Context, status: number, message: string): Response {
  const line = status >= 500 ? (status === 503 ? 'the server cannot reach its database; try again' : 'internal error') : message.split('\n')[0]!;
  return c.text(`${line}\n`, status as 400, { 'Cache-Control': 'no-store' });
}

/** Streams a body through gzip decompression when the request says Content-Encoding: gzip (tlog-mirror requires it). */
export function bodyStream(req: Request): ReadableStream<Uint8Array> {
  const body = req.body ?? new ReadableStream<Uint8Array>({ start: (ctl) => ctl.close() });
  const enc = (req.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc === 'gzip' || enc === 'x-gzip') return body.pipeThrough(new DecompressionStream('gzip'));
  throw new FfauditError('BAD_INPUT', `Content-Encoding ${enc} is not supported (gzip is)`);
}

/** Reads a whole (decompressed) body, refusing more than `max` bytes. */
export async function readBody(req: Request, max: number): Promise<Buffer> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > max && !req.headers.get('content-encoding')) throw new FfauditError('TOO_LARGE', `the body is larger than ${max} bytes`);
  try {
    return await collectBounded(bodyStream(req), max, () => new FfauditError('TOO_LARGE', `the body is larger than ${max} bytes`));
  } catch (e) {
    if (isFfauditError(e)) throw e;
    throw new FfauditError('BAD_INPUT', `the body could not be read: ${(e as Error).message}`);
  }
}

/**
 * readBody for a route's request: the same bound and the same errors, but a body sent without Content-Encoding is
 * read straight from node's request stream when the app runs under @hono/node-server (c.env.incoming). Asking the
 * Request for its body makes node-server build a full fetch Request and a web stream over the socket, which cost
 * more CPU than the whole witness statement; a gzip body, or an app driven without node (tests' app.request), takes
 * readBody's path.
 */
export function readRequestBody(c: Context, max: number): Promise<Buffer> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  const enc = (c.req.header('content-encoding') ?? '').trim().toLowerCase();
  if (!(incoming instanceof Readable) || incoming.readableDidRead || (enc !== '' && enc !== 'identity')) return readBody(c.req.raw, max);
  if (Number(c.req.header('content-length') ?? NaN) > max) return Promise.reject(new FfauditError('TOO_LARGE', `the body is larger than ${max} bytes`));
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (e?: Error): void => {
      if (settled) return;
      settled = true;
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (e) {
        // Read no more of it: what is left is not wanted (node-server deals with an unread body after the answer).
        incoming.pause();
        reject(e);
      } else resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, total));
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += b.byteLength;
      if (total > max) return finish(new FfauditError('TOO_LARGE', `the body is larger than ${max} bytes`));
      parts.push(b);
    };
    const onEnd = (): void => finish();
    const onError = (e: Error): void => finish(new FfauditError('BAD_INPUT', `the body could not be read: ${e.message}`));
    const onClose = (): void => {
      if (!incoming.readableEnded) onError(new Error('the connection closed before the body ended'));
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}
