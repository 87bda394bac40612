/** The FFmpeg identity and its cache: a warm start reuses it, a changed binary or a damaged cache does not. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { identifyTool, TOOL_CACHE_FILE } from './identity.js';
import { locateTool } from './locate.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('identifyTool', () => {
  it('records path, version and SHA-256; caches them; recomputes for a changed binary or a damaged cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffaudit-id-'));
    try {
      const bin = join(dir, 'ffprobe');
      copyFileSync(locateTool('ffprobe', undefined, { PATH: '' }), bin);
      const first = await identifyTool(bin, dir);
      assert.equal(first.path, bin);
      assert.equal(first.sha256, sha(bin));
      assert.match(first.version ?? '', /^N-|^\d/);
      const cache = JSON.parse(readFileSync(join(dir, TOOL_CACHE_FILE), 'utf8')) as { sha256: string }[];
      assert.equal(cache[0]?.sha256, first.sha256);

      // Warm: the cached values are used (a forged cache row with the same key would be believed, which is why
      // only the binary's identity is ever cached, never media hashes).
      const forged = cache.map((r) => ({ ...r, version: 'from-cache' }));
      writeFileSync(join(dir, TOOL_CACHE_FILE), JSON.stringify(forged));
      assert.equal((await identifyTool(bin, dir)).version, 'from-cache');

      // The binary changes (same size, new content, mtime put back): its ctime moves, so the key no longer matches.
      const data = readFileSync(bin);
      data.writeUInt8(data.readUInt8(data.length - 1) ^ 0xff, data.length - 1);
      const { mtime, atime } = statSync(bin);
      writeFileSync(bin, data);
      utimesSync(bin, atime, mtime);
      const changed = await identifyTool(bin, dir);
      assert.equal(changed.sha256, sha(bin));
      assert.notEqual(changed.sha256, first.sha256);

      // A damaged cache is ignored.
      writeFileSync(join(dir, TOOL_CACHE_FILE), '{"not": "a list"');
      assert.equal((await identifyTool(bin, dir)).sha256, sha(bin));
      writeFileSync(join(dir, TOOL_CACHE_FILE), JSON.stringify([{ key: 'x', sha256: 'not-hex', version: 1 }]));
      assert.equal((await identifyTool(bin, dir)).sha256, sha(bin));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
