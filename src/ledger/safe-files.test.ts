import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../testing/fixtures.js';
import { writeFileAtomically, writeNewFile } from './safe-files.js';

const t = tempDir('safe-files');
after(t.cleanup);

describe('safe-files: the one way files are written', () => {
  it('writeNewFile creates the file with its mode, and refuses anything already at the name, a link included', () => {
    const path = join(t.dir, 'new');
    writeNewFile(path, 'fresh\n', 0o640);
    assert.equal(readFileSync(path, 'utf8'), 'fresh\n');
    assert.equal(lstatSync(path).mode & 0o777, 0o640 & ~process.umask());
    assert.throws(() => writeNewFile(path, 'again'), { code: 'EEXIST' });
    assert.equal(readFileSync(path, 'utf8'), 'fresh\n');

    const outside = join(t.dir, 'precious');
    writeFileSync(outside, 'keep me');
    const link = join(t.dir, 'dangling-or-not');
    symlinkSync(outside, link);
    assert.throws(() => writeNewFile(link, 'through the link'), { code: 'EEXIST' });
    symlinkSync(join(t.dir, 'nowhere'), join(t.dir, 'dangling'));
    assert.throws(() => writeNewFile(join(t.dir, 'dangling'), 'x'), { code: 'EEXIST' });
    assert.equal(readFileSync(outside, 'utf8'), 'keep me');
  });

  it('writeFileAtomically replaces a link at the name, never what it points to, and leaves no temporary file', () => {
    const outside = join(t.dir, 'kept');
    writeFileSync(outside, 'keep me');
    const path = join(t.dir, 'journal.json');
    symlinkSync(outside, path);
    writeFileAtomically(path, '{"a":1}\n', 0o600);
    assert.equal(readFileSync(outside, 'utf8'), 'keep me');
    assert.equal(lstatSync(path).isFile(), true);
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n');
    assert.deepEqual(readdirSync(t.dir).filter((n) => n.endsWith('.tmp')), []);
  });
});
