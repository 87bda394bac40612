/**
 * Our stdout and stderr during an audited run, written as FFmpeg itself writes them: plain blocking writes, in
 * order, done on libuv's thread pool (fs.write) so that the event loop stays free and signals are still forwarded
 * to FFmpeg while a slow reader holds a write up.
 *
 * Not through process.stdout/stderr: Node builds those streams on a pipe by making the pipe non-blocking, and the
 * pipe may be the very one FFmpeg writes to when the user joined the two (`2>&1 | …`); FFmpeg's own writes would
 * then fail with EAGAIN whenever the reader fell behind, and its output would be lost.
 *
 * A reader that goes away or a device that fails (EPIPE, ENOSPC, EIO…) ends a writer: what is still queued is
 * dropped, and `failed` names the error. A pipe someone else made non-blocking (EAGAIN) is waited on.
 */
import { write } from 'node:fs';

/** Bytes queued beyond which write() asks its caller to pause (a few of FFmpeg's 64 KiB pipe reads). */
const HIGH_WATER = 1 << 20;

export class FdWriter {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private busy = false;
  private drainWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  /** The error code that ended this writer, if one did. */
  failed: string | undefined;

  /** `onWritten` is told each span of bytes as it reaches the descriptor (pipe:1 is hashed from it). */
  constructor(
    private readonly fd: number,
    private readonly onWritten?: (bytes: Buffer) => void,
  ) {}

  /** Queues `data`; false when it should be the last for now (wait for onDrain), or the writer has failed. */
  write(data: Buffer | string): boolean {
    if (this.failed) return false;
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (buf.length === 0) return true;
    this.queue.push(buf);
    this.queued += buf.length;
    if (!this.busy) this.next();
    return this.queued < HIGH_WATER;
  }

  /** True while the queue is over its high-water mark: the source should pause (see onDrain). */
  full(): boolean {
    return !this.failed && this.queued >= HIGH_WATER;
  }

  /** Calls `fn` once the queue is below the high-water mark again, or the writer has failed. */
  onDrain(fn: () => void): void {
    if (this.failed || this.queued < HIGH_WATER) fn();
    else this.drainWaiters.push(fn);
  }

  /** Resolves once everything queued so far is written, or dropped by a failure. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private next(): void {
    const buf = this.queue[0];
    if (!buf || this.failed) {
      this.busy = false;
      for (const f of this.idleWaiters.splice(0)) f();
      return;
    }
    this.busy = true;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.next(), 1);
          return;
        }
        this.fail(err.code ?? 'EIO');
        return;
      }
      this.onWritten?.(buf.subarray(0, n));
      this.queued -= n;
      if (n < buf.length) this.queue[0] = buf.subarray(n);
      else this.queue.shift();
      if (this.queued < HIGH_WATER) for (const f of this.drainWaiters.splice(0)) f();
      this.next();
    });
  }

  private fail(code: string): void {
    this.failed = code;
    this.queue.length = 0;
    this.queued = 0;
    for (const f of this.drainWaiters.splice(0)) f();
    this.next();
  }
}

let stderr: FdWriter | undefined;

/** The writer of our stderr (fd 2), shared by FFmpeg's filtered log and ffaudit's own messages, in order. */
export function stderrWriter(): FdWriter {
  return (stderr ??= new FdWriter(2));
}

/** One line of ffaudit's own on stderr, in order with FFmpeg's log. */
export function warn(msg: string): void {
  stderrWriter().write(`ffaudit: ${msg}\n`);
}
