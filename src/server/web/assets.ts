/**
 * The files under /assets/: the stylesheet and the browser scripts that `npm run build` writes to dist/web/
 * (scripts/bundle-web.mjs, from browser/). Read once, served from memory with a strong ETag; only names of that
 * folder are served, so no path from a request ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { AppEnv } from '../deps.js';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
/** dist/server/web/assets.js → dist/web/ */
const DIR = fileURLToPath(new URL('../../web/', import.meta.url));

let loaded: Map<string, Asset> | undefined;

function assets(): Map<string, Asset> {
  if (loaded) return loaded;
  const m = new Map<string, Asset>();
  let names: string[] = [];
  try {
    names = readdirSync(DIR);
  } catch {
    // Not built: the pages still work without scripts or style.
  }
  for (const name of names) {
    const ext = /^[a-z0-9-]+\.(js|css|svg)$/.exec(name)?.[1];
    if (!ext) continue;
    const body = readFileSync(DIR + name);
    m.set(name, { body, type: TYPES[ext]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  loaded = m;
  return m;
}

export function assetRoutes(app: Hono<AppEnv>): void {
  app.get('/assets/:name', (c) => {
    const a = assets().get(c.req.param('name'));
    if (!a) return c.text('not found\n', 404);
    const headers = { 'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304, headers);
    return c.body(new Uint8Array(a.body), 200, headers);
  });
}
