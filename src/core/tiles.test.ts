import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Frontier, hashChildren, hashLeaf } from './merkle.js';
import {
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  encodeHashTile,
  formatTileIndex,
  parseTilePath,
  rootFromTiles,
  TILE_WIDTH,
  tilePath,
  tilesForSize,
  type TileRef,
} from './tiles.js';

describe('tile paths (c2sp.org/tlog-tiles)', () => {
  it('splits the index into x-prefixed 3-digit elements', () => {
    assert.equal(formatTileIndex(1234067), 'x001/x234/067');
    assert.equal(formatTileIndex(0), '000');
    assert.equal(formatTileIndex(5), '005');
    assert.equal(formatTileIndex(1000), 'x001/000');
    assert.equal(tilePath({ level: 0, index: 1234067, width: 256 }), 'tile/0/x001/x234/067');
    assert.equal(tilePath({ level: 2, index: 3, width: 17 }), 'tile/2/003.p/17');
    assert.equal(tilePath({ level: 'entries', index: 1000, width: 1 }), 'tile/entries/x001/000.p/1');
  });

  it('parses exactly what it formats and rejects every other spelling', () => {
    for (const t of [
      { level: 0, index: 0, width: 256 },
      { level: 63, index: 999_999, width: 255 },
      { level: 'entries', index: 1_234_067, width: 1 },
    ] satisfies TileRef[]) {
      assert.deepEqual(parseTilePath(tilePath(t)), t);
    }
    for (const bad of ['tile/0/5', 'tile/0/x000/005', 'tile/00/005', 'tile/64/000', 'tile/0/000.p/256', 'tile/0/000.p/0', 'tile/0/000.p/07', 'tile/0/001/002', 'tile/x/000', 'tile/0/000/', '/tile/0/000']) {
      assert.equal(parseTilePath(bad), undefined, bad);
    }
  });

  it('lists the tiles of a tree as the specification’s example says', () => {
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of width 112,
    // one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1."
    const t = tilesForSize(70_000);
    const at = (level: number | 'entries') => t.filter((x) => x.level === level);
    assert.equal(at(0).filter((x) => x.width === 256).length, 273);
    assert.deepEqual(at(0).filter((x) => x.width < 256), [{ level: 0, index: 273, width: 112 }]);
    assert.deepEqual(at(1), [{ level: 1, index: 0, width: 256 }, { level: 1, index: 1, width: 17 }]);
    assert.deepEqual(at(2), [{ level: 2, index: 0, width: 1 }]);
    assert.equal(at(3).length, 0);
    assert.equal(at('entries').length, 274);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert.deepEqual(tilesForSize(256).filter((x) => x.level !== 'entries'), [{ level: 0, index: 0, width: 256 }, { level: 1, index: 0, width: 1 }]);
    assert.deepEqual(tilesForSize(0), []);
  });
});

describe('tile contents', () => {
  it('round-trips entry bundles with 16-bit big-endian length prefixes', () => {
    const entries = [Buffer.from('{"a":1}'), Buffer.alloc(0), randomBytes(0xffff)];
    const b = encodeEntryBundle(entries);
    assert.deepEqual(b.subarray(0, 2), Buffer.from([0x00, 0x07]));
    assert.deepEqual(b.subarray(11, 13), Buffer.from([0xff, 0xff]));
    assert.deepEqual(decodeEntryBundle(b), entries);
    assert.throws(() => encodeEntryBundle([Buffer.alloc(0x10000)]));
    assert.throws(() => decodeEntryBundle(b.subarray(0, b.length - 1)), { code: 'BAD_INPUT' });
    assert.throws(() => decodeEntryBundle(Buffer.from([0x00])), { code: 'BAD_INPUT' });
  });

  it('checks hash tile lengths against the expected width', () => {
    const hashes = [randomBytes(32), randomBytes(32)];
    assert.deepEqual(decodeHashTile(encodeHashTile(hashes), 2), hashes);
    assert.throws(() => decodeHashTile(encodeHashTile(hashes), 3), { code: 'BAD_INPUT' });
    assert.throws(() => encodeHashTile([Buffer.alloc(31)]));
  });

  it('rebuilds the RFC 6962 root from tiles for sizes around every tile boundary', () => {
    const leaves: Buffer[] = [];
    for (let i = 0; i < 65_536 + 300; i++) leaves.push(hashLeaf(Buffer.from(String(i))));
    // Tiles built the way the specification defines them: MTH of each 256^l-leaf span, by plain recursion.
    const memo = new Map<string, Buffer>();
    const mth = (from: number, to: number): Buffer => {
      const n = to - from;
      if (n === 1) return leaves[from]!;
      const key = `${from}:${to}`;
      const known = memo.get(key);
      if (known) return known;
      let k = 1;
      while (k * 2 < n) k *= 2;
      const h = hashChildren(mth(from, from + k), mth(from + k, to));
      memo.set(key, h);
      return h;
    };
    const tileOf = (t: TileRef): Buffer[] => {
      const span = TILE_WIDTH ** (t.level as number);
      return Array.from({ length: t.width }, (_, i) => mth((t.index * TILE_WIDTH + i) * span, (t.index * TILE_WIDTH + i + 1) * span));
    };
    const frontier = new Frontier();
    const sizes = new Set([1, 2, 3, 255, 256, 257, 511, 512, 1000, 65_535, 65_536, 65_537, 65_836]);
    for (let i = 0; i < leaves.length; i++) {
      frontier.push(leaves[i]!);
      if (sizes.has(frontier.size)) {
        const asked: string[] = [];
        const root = rootFromTiles(frontier.size, (t) => {
          asked.push(tilePath(t));
          assert.ok(tilesForSize(frontier.size).some((x) => tilePath(x) === tilePath(t)), `asked for ${tilePath(t)}, which a tree of ${frontier.size} does not have`);
          return tileOf(t);
        });
        assert.deepEqual(root, frontier.root(), `size ${frontier.size}`);
      }
    }
    assert.deepEqual(rootFromTiles(0, () => assert.fail('no tile needed')), createHash('sha256').digest());
  });
});
