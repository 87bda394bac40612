/**
 * A tlog-tiles log read over HTTP(S), as an archive to verify (`ffaudit verify --from https://…/mirror/<hash>`):
 * read-only, fetch-based. The names are the archive's own (archive/layout.ts), which tlog-tiles shares: `checkpoint`,
 * `tile/…`, and `blob/<sha256>` as `ffaudit serve` serves the blobs a mirrored log names. A web server cannot be
 * listed and does not say whether what it serves is locked, so the reader asks for each name it expects. Everything
 * it returns is untrusted, like any archive's.
 */
import { collectBounded } from '../core/bounded.js';
import { FfauditError } from '../core/errors.js';
import type { ArchiveSource, StoredObject } from './target.js';

/** The largest object read: a full entry bundle is at most 256 × 65,537 bytes; a blob, what the server takes. */
export const MAX_HTTP_OBJECT_BYTES = 128 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

const NOT_LOCKED = { locked: false, detail: 'served over HTTP: its retention cannot be seen from here' };

export class HttpSource implements ArchiveSource {
  readonly location: string;
  readonly noListing = true;
  private readonly base: string;

  private constructor(base: string) {
    this.base = base;
    this.location = base;
  }

  /** `http(s)://host[:port]/prefix`; a URL with credentials, a query or a fragment is refused (one line). */
  static open(url: string): HttpSource {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new FfauditError('USAGE', 'not a URL: give https://HOST/PREFIX of a tlog-tiles log');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FfauditError('USAGE', `unsupported URL scheme ${u.protocol}`);
    if (u.username !== '' || u.password !== '') throw new FfauditError('USAGE', 'credentials do not belong in the URL of a log');
    if (u.search !== '' || u.hash !== '') throw new FfauditError('USAGE', 'the URL of a log is a prefix: no query, no fragment');
    return new HttpSource(u.toString().replace(/\/+$/, ''));
  }

  list(): Promise<string[]> {
    return Promise.reject(new FfauditError('INTERNAL', `${this.location}: a log served over HTTP cannot be listed`));
  }

  async get(name: string): Promise<StoredObject | undefined> {
    if (name === '' || name.startsWith('/') || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new FfauditError('INTERNAL', `bad object name ${JSON.stringify(name)}`);
    }
    const url = `${this.base}/${name}`;
    let res: Response;
    try {
      // fetch decodes Content-Encoding: gzip itself (tlog-tiles: bundles SHOULD be compressed at the HTTP layer).
      res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { 'Accept-Encoding': 'gzip, identity' } });
    } catch (e) {
      throw new FfauditError('ARCHIVE', `cannot fetch ${url}: ${causeOf(e)}`, { cause: e });
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel().catch(() => undefined);
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new FfauditError('ARCHIVE', `${url}: HTTP ${res.status}`);
    }
    return { data: await readBounded(res, url), lock: NOT_LOCKED };
  }

  close(): void {}
}

function causeOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
}

async function readBounded(res: Response, url: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_HTTP_OBJECT_BYTES && !res.headers.get('content-encoding')) {
    await res.body?.cancel().catch(() => undefined);
    throw new FfauditError('ARCHIVE', `${url} is larger than ${MAX_HTTP_OBJECT_BYTES} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  try {
    return await collectBounded(res.body as AsyncIterable<Uint8Array>, MAX_HTTP_OBJECT_BYTES, () => new FfauditError('ARCHIVE', `${url} is larger than ${MAX_HTTP_OBJECT_BYTES} bytes`));
  } catch (e) {
    if (e instanceof FfauditError) throw e;
    throw new FfauditError('ARCHIVE', `cannot read ${url}: ${causeOf(e)}`, { cause: e });
  }
}
