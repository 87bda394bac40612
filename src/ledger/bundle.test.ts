import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sha256Hex } from '../core/entry.js';
import { computeKeyId } from '../core/note.js';
import { makeChain, type Chain } from '../testing/chain.js';
import { runCli } from '../testing/cli.js';
import { currentAuthor, nowRfc3339 } from './clock.js';
import { Ledger } from './ledger.js';

interface BundleDoc {
  format: string;
  created: string;
  origin: string;
  vkey: string;
  checkpoint: string;
  subjects: { path: string; sha256: string }[];
  sources: string[];
  entries: { index: number; data: string; proof: string }[];
  blobs: { sha256: string; data: string }[];
}

describe('ffaudit bundle and verify-bundle', () => {
  let c: Chain;
  let work: string;
  let bundlePath: string;
  let vkeyPath: string;
  let doc: BundleDoc;
  const cli = (...args: string[]) => runCli(['--ledger', c.ledgerDir, ...args]);
  const verify = (path: string, ...args: string[]) => runCli(['verify-bundle', path, ...args]);
  /** Writes a modified copy of the bundle and verifies it against the real key. */
  const tampered = (name: string, edit: (d: BundleDoc) => void, ...args: string[]) => {
    const d = JSON.parse(JSON.stringify(doc)) as BundleDoc;
    edit(d);
    const p = join(work, `${name}.json`);
    writeFileSync(p, JSON.stringify(d));
    return verify(p, '--pubkey', vkeyPath, ...args);
  };

  const leafOf = (i: number) => {
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    try {
      return l.treeNode(0, i).toString('hex');
    } finally {
      l.close();
    }
  };

  before(() => {
    c = makeChain('ffaudit-bundle-');
    work = c.dir;
    bundlePath = join(work, 'evidence.json');
    vkeyPath = join(work, 'log.vkey');
    writeFileSync(vkeyPath, cli('pubkey').stdout);
    const r = cli('bundle', c.path('final.mp4'), '-o', bundlePath, '--with-reports');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wrote .*evidence\.json: 9 entries \(4 runs\), 4 blobs, \d+ bytes, against the checkpoint at tree size 9\n$/);
    doc = JSON.parse(readFileSync(bundlePath, 'utf8')) as BundleDoc;
  });
  after(() => c.cleanup());

  it('holds the exact entry bytes, one proof per entry against one checkpoint, the key and the report', () => {
    assert.equal(doc.format, 'ffaudit-bundle/v1');
    assert.deepEqual(doc.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7, c.noteIndex]);
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    try {
      for (const e of doc.entries) {
        assert.ok(Buffer.from(e.data, 'base64').equals(l.entry(e.index)), `entry ${e.index} verbatim`);
        assert.ok(e.proof.startsWith(`c2sp.org/tlog-proof@v1\nindex ${e.index}\n`));
        assert.ok(e.proof.endsWith(`\n\n${doc.checkpoint}`));
      }
      assert.equal(doc.vkey, l.vkey);
      assert.equal(doc.checkpoint, l.checkpoint());
      const report = l.blob(doc.blobs[0]!.sha256)!;
      assert.ok(Buffer.from(doc.blobs[0]!.data, 'base64').equals(report));
      // No secret of the ledger travels with the evidence.
      const text = readFileSync(bundlePath, 'utf8');
      assert.ok(!text.includes(readFileSync(join(c.ledgerDir, 'redaction.key'), 'utf8').trim()));
      assert.ok(!text.includes('PRIVATE+KEY'));
    } finally {
      l.close();
    }
  });

  it('verifies offline against the key, for the file and for a copy of it (exit 0)', () => {
    for (const f of ['final.mp4', 'copy.mp4']) {
      const r = verify(bundlePath, '--file', c.path(f), '--pubkey', vkeyPath);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /verdict {5}VALID\n/);
      assert.match(r.stdout, new RegExp(`file {8}sha256 ${doc.subjects[0]!.sha256} matches, produced by run ${c.runs.final.id}\n`));
      assert.match(r.stdout, /checked {5}9 entries \(hash and inclusion proof each\), the checkpoint signature, 4 blobs, 4 runs chained by content/);
      assert.doesNotMatch(r.stdout + r.stderr, /NOT VERIFIED/);
      assert.equal(r.stderr, '');
    }
  });

  it('without --pubkey or --policy refuses to run (exit 2, one line saying what to pass)', () => {
    for (const args of [[], ['--json'], ['--file', c.path('final.mp4')]]) {
      const r = verify(bundlePath, ...args);
      assert.equal(r.status, 2, r.stdout);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^ffaudit: verify-bundle needs the log's key, obtained independently: give --pubkey VKEY_FILE \(as `ffaudit pubkey` prints it\) or --policy FILE \(or --insecure-any-key to check the bundle against its own key only\)\n$/);
    }
    const both = verify(bundlePath, '--pubkey', vkeyPath, '--insecure-any-key');
    assert.equal(both.status, 2);
    assert.match(both.stderr, /^ffaudit: --insecure-any-key cannot be combined with --pubkey or --policy\n$/);
    assert.match(runCli(['verify-bundle', '--help']).stdout, /--pubkey <file>[\s\S]*repeatable[\s\S]*--policy <file>[\s\S]*--insecure-any-key/);
  });

  it('with --insecure-any-key says unmissably that the key itself was not verified', () => {
    const r = verify(bundlePath, '--file', c.path('final.mp4'), '--insecure-any-key');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /verdict {5}VALID \(but the key was NOT verified: see the warning\)/);
    assert.match(r.stdout, /!!! WARNING: THE LOG KEY WAS NOT VERIFIED !!!/);
    assert.match(r.stderr, /^ffaudit: WARNING: THE LOG KEY WAS NOT VERIFIED: --insecure-any-key was given\n$/);
    const j = JSON.parse(verify(bundlePath, '--json', '--insecure-any-key').stdout) as { ok: boolean; key_verified: boolean; runs: unknown[] };
    assert.equal(j.ok, true);
    assert.equal(j.key_verified, false);
    assert.equal(j.runs.length, 4);
  });

  it('accepts the key from a tlog-policy file, or any one of several --pubkey keys; enforces the witness quorum', () => {
    const vkey = readFileSync(vkeyPath, 'utf8').trim();
    const policy = (name: string, text: string) => {
      const p = join(work, name);
      writeFileSync(p, text);
      return p;
    };
    const ok = verify(bundlePath, '--file', c.path('final.mp4'), '--policy', policy('ok.policy', `# our log\nlog ${vkey}\nquorum none\n`), '--json');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { key_verified: boolean }).key_verified, true);
    assert.equal(ok.stderr, '');
    // A policy naming someone else's log only: the bundle was not signed by a log the policy accepts.
    const other = Ledger.init(join(work, 'other-ledger'), { origin: 'test.example/ffaudit/chain' });
    const otherVkey = other.vkey;
    other.close();
    const foreign = verify(bundlePath, '--policy', policy('foreign.policy', `log ${otherVkey}\nquorum none\n`));
    assert.equal(foreign.status, 1);
    assert.match(foreign.stdout, /✗ the bundle's verifier key is not the key you gave \(--pubkey or --policy\)/);
    // Several keys (a rotation): any one of them may have signed.
    writeFileSync(join(work, 'other.vkey'), `${otherVkey}\n`);
    const two = verify(bundlePath, '--pubkey', join(work, 'other.vkey'), '--pubkey', vkeyPath);
    assert.equal(two.status, 0, two.stdout);
    assert.match(two.stdout, /\(the key you gave\)/);
    // A witness quorum is enforced: this bundle carries no cosignature, so it is not met (bundle-cosigned.test.ts
    // covers the bundles that carry them).
    const wpub = Buffer.alloc(32, 9);
    const wkey = `w.example+${computeKeyId('w.example', 4, wpub).toString('hex')}+${Buffer.concat([Buffer.from([4]), wpub]).toString('base64')}`;
    const witnessed = verify(bundlePath, '--policy', policy('w.policy', `log ${vkey}\nwitness W ${wkey}\nquorum W\n`));
    assert.equal(witnessed.status, 1);
    assert.match(witnessed.stdout, /✗ the checkpoint is not cosigned by the quorum the policy requires \("W"\): no witness of the policy cosigned it/);
    const broken = verify(bundlePath, '--policy', policy('broken.policy', `log ${vkey}\n`));
    assert.equal(broken.status, 2);
    assert.match(broken.stderr, /^ffaudit: .*broken\.policy: policy: no quorum line/);
    assert.equal(broken.stderr.split('\n').length, 2);
    const empty = verify(bundlePath, '--policy', policy('empty.policy', 'quorum none\n'));
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /the policy lists no log/);
  });

  it('rejects another file, and the altered file (exit 1)', () => {
    for (const f of ['altered.mp4', 'c.mp4']) {
      const r = verify(bundlePath, '--file', c.path(f), '--pubkey', vkeyPath);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /is not one this bundle vouches for/);
      assert.match(r.stderr, /^ffaudit: the bundle is INVALID: the file's SHA-256 \([0-9a-f]{64}\) is not one this bundle vouches for/);
    }
  });

  it('rejects an altered entry', () => {
    const r = tampered('entry', (d) => {
      const e = d.entries[3]!;
      const bytes = Buffer.from(e.data, 'base64');
      bytes[bytes.indexOf('"status":"ok"') + 10] = 'K'.charCodeAt(0);
      e.data = bytes.toString('base64');
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ entry 3: not included in the signed log \(its bytes or its inclusion proof were altered\)/);
  });

  it('rejects an altered inclusion proof', () => {
    const r = tampered('proof', (d) => {
      const e = d.entries[0]!;
      const lines = e.proof.split('\n');
      lines[2] = Buffer.alloc(32, 7).toString('base64');
      e.proof = lines.join('\n');
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ entry 0: not included in the signed log/);
    const wrongIndex = tampered('proof-index', (d) => {
      d.entries[1]!.proof = d.entries[1]!.proof.replace('index 1\n', 'index 2\n');
    });
    assert.equal(wrongIndex.status, 1);
    assert.match(wrongIndex.stdout, /✗ entry 1: its tlog-proof is for entry 2/);
  });

  it('rejects an altered checkpoint (root, size or signature)', () => {
    const root = tampered('cp-root', (d) => {
      const lines = d.checkpoint.split('\n');
      lines[2] = Buffer.alloc(32, 1).toString('base64');
      const cp = lines.join('\n');
      for (const e of d.entries) e.proof = e.proof.replace(d.checkpoint, cp);
      d.checkpoint = cp;
    });
    assert.equal(root.status, 1);
    assert.match(root.stdout, /✗ checkpoint: checkpoint signature is invalid/);
    const sig = tampered('cp-sig', (d) => {
      const at = d.checkpoint.lastIndexOf(' ') + 10;
      const cp = d.checkpoint.slice(0, at) + (d.checkpoint[at] === 'A' ? 'B' : 'A') + d.checkpoint.slice(at + 1);
      for (const e of d.entries) e.proof = e.proof.replace(d.checkpoint, cp);
      d.checkpoint = cp;
    });
    assert.equal(sig.status, 1);
    assert.match(sig.stdout, /✗ checkpoint: checkpoint signature is invalid/);
    const mismatch = tampered('cp-other', (d) => {
      d.checkpoint = d.checkpoint.replace(/\n9\n/, '\n8\n');
    });
    assert.equal(mismatch.status, 1);
    assert.match(mismatch.stdout, /its tlog-proof is against a different checkpoint than the bundle's/);
  });

  it("rejects another key, and a history forged under the forger's own key", () => {
    // A forger with their own ledger of the same name records a fake run claiming to have made final.mp4.
    const forgerDir = mkdtempSync(join(tmpdir(), 'ffaudit-forger-'));
    try {
      const f = Ledger.init(join(forgerDir, 'ledger'), { origin: 'test.example/ffaudit/chain' });
      const sha = doc.subjects[0]!.sha256;
      const by = currentAuthor('forger');
      const start = f.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by, run: 'fake', tool: 'ffmpeg', cwd: '/', argv: ['ffmpeg', '-i', 'x', 'final.mp4'], redactions: [], ffmpeg: { path: 'ffmpeg', version: null, sha256: null }, inputs: [] }]).indices[0]!;
      f.append([{ v: 1, type: 'run.end', time: nowRfc3339(), by, run: 'fake', start, status: 'ok', exit_code: 0, signal: null, duration_ms: 1, inputs: [], outputs: [{ path: '/final.mp4', size: 1, sha256: sha }], streams: [], report_sha256: null, redactions: [] }]);
      const forgerVkey = f.vkey;
      f.close();
      const forged = join(forgerDir, 'forged.json');
      assert.equal(runCli(['--ledger', join(forgerDir, 'ledger'), 'bundle', c.path('final.mp4'), '-o', forged]).status, 0);
      const self = verify(forged, '--file', c.path('final.mp4'), '--insecure-any-key');
      assert.equal(self.status, 0, 'internally consistent');
      assert.match(self.stdout, /NOT VERIFIED/);
      const real = verify(forged, '--file', c.path('final.mp4'), '--pubkey', vkeyPath);
      assert.equal(real.status, 1);
      assert.match(real.stdout, /✗ the bundle's verifier key is not the key you gave \(--pubkey or --policy\): the bundle was signed by someone else/);
      assert.match(real.stdout, /✗ checkpoint: checkpoint is not signed by a known key/);

      // The key swapped inside the real bundle: its checkpoint no longer verifies under the bundle's own key either.
      const swapped = tampered('key', (d) => {
        d.vkey = forgerVkey;
      });
      assert.equal(swapped.status, 1);
      assert.match(swapped.stdout, /✗ the bundle's verifier key is not the key you gave/);
      const p = join(work, 'key.json');
      const alone = verify(p, '--insecure-any-key');
      assert.equal(alone.status, 1);
      assert.match(alone.stdout, /✗ checkpoint: checkpoint is not signed by a known key/);
    } finally {
      rmSync(forgerDir, { recursive: true, force: true });
    }
  });

  it('rejects a bundle with a step removed: the runs no longer chain by content', () => {
    const r = tampered('gap', (d) => {
      d.entries = d.entries.filter((e) => e.index !== c.runs.b.startIndex && e.index !== c.runs.b.endIndex);
      d.blobs = [];
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`✗ run ${c.runs.final.id} read .*c\\.mp4 \\(sha256 [0-9a-f]{64}\\), which no earlier run in the bundle produced and the bundle does not name as a source`));
    const half = tampered('half', (d) => {
      d.entries = d.entries.filter((e) => e.index !== c.runs.a.endIndex);
    });
    assert.equal(half.status, 1);
    assert.match(half.stdout, new RegExp(`✗ run ${c.runs.a.id} \\(entry ${c.runs.a.startIndex}\\) has no end in the bundle`));
  });

  it('records, in each run.end, the run that produced each input (signed lineage)', () => {
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    try {
      const inputs = (i: number) => (JSON.parse(l.entry(i).toString('utf8')) as { inputs: { path: string; sha256: string | null; produced_by?: unknown }[] }).inputs;
      const leaf = (i: number) => l.treeNode(0, i).toString('hex');
      assert.deepEqual(inputs(c.runs.b.endIndex).map((f) => f.produced_by), [{ index: c.runs.a.endIndex, leaf: leaf(c.runs.a.endIndex) }]);
      const fin = inputs(c.runs.final.endIndex);
      assert.deepEqual(fin.find((f) => f.path.endsWith('c.mp4'))!.produced_by, { index: c.runs.b.endIndex, leaf: leaf(c.runs.b.endIndex) });
      assert.deepEqual(fin.find((f) => f.path.endsWith('s.wav'))!.produced_by, { index: c.runs.s.endIndex, leaf: leaf(c.runs.s.endIndex) });
      // A generated input (lavfi) has no content hash and no producer to name.
      assert.ok(inputs(c.runs.a.endIndex).every((f) => f.sha256 === null && f.produced_by === undefined));
    } finally {
      l.close();
    }
    const j = JSON.parse(verify(bundlePath, '--pubkey', vkeyPath, '--json').stdout) as { lineage: unknown };
    assert.deepEqual(j.lineage, { signed_links: 3, content_links: 0, signed_sources: [], unsigned_sources: [] });
    assert.match(verify(bundlePath, '--pubkey', vkeyPath).stdout, /steps {7}3 inputs linked to their producer by signed entries, 0 by content only/);
  });

  it('rejects a bundle with the upstream steps and the note cut out and the intermediate listed as a source', () => {
    const intermediate = c.runs.b.outputs[0]!.sha256!;
    const sound = c.runs.s.outputs[0]!.sha256!;
    const keep = new Set([c.runs.final.startIndex, c.runs.final.endIndex]);
    const r = tampered('cut', (d) => {
      d.entries = d.entries.filter((e) => keep.has(e.index));
      d.blobs = [];
      d.sources = [intermediate, sound].sort();
    }, '--json');
    assert.equal(r.status, 1, r.stdout);
    const j = JSON.parse(r.stdout) as { ok: boolean; failures: string[]; runs: unknown[] };
    assert.equal(j.ok, false);
    assert.equal(j.runs.length, 1);
    assert.ok(
      j.failures.includes(`run ${c.runs.final.id} read ${c.path('c.mp4')} (sha256 ${intermediate}), which its signed entry says entry ${c.runs.b.endIndex} (leaf ${leafOf(c.runs.b.endIndex)}) produced, and that entry is not in the bundle: a step of the lineage was cut out`),
      j.failures.join('\n'),
    );
    const human = tampered('cut-human', (d) => {
      d.entries = d.entries.filter((e) => keep.has(e.index));
      d.blobs = [];
      d.sources = [intermediate, sound].sort();
    });
    assert.equal(human.status, 1);
    assert.match(human.stderr, /^ffaudit: the bundle is INVALID: run [0-9a-f]+ read .*: a step of the lineage was cut out\n$/);
  });

  it('rejects an altered or unnamed report blob', () => {
    const r = tampered('blob', (d) => {
      const b = Buffer.from(d.blobs[0]!.data, 'base64');
      b[0] = b[0]! ^ 1;
      d.blobs[0]!.data = b.toString('base64');
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ blob [0-9a-f]{64} does not match its SHA-256 \(altered\)/);
    const extra = tampered('blob-extra', (d) => {
      const data = Buffer.from('smuggled');
      d.blobs.push({ sha256: sha256Hex(data), data: data.toString('base64') });
    });
    assert.equal(extra.status, 1);
    assert.match(extra.stdout, /is not named by any entry in the bundle/);
  });

  it('bundles several files in one, and refuses an unknown file without writing anything', () => {
    const two = join(work, 'two.json');
    assert.equal(cli('bundle', c.path('final.mp4'), c.path('c.mp4'), '-o', two).status, 0);
    const r = verify(two, '--file', c.path('c.mp4'), '--pubkey', vkeyPath);
    assert.equal(r.status, 0, r.stdout);
    assert.equal((JSON.parse(readFileSync(two, 'utf8')) as BundleDoc).subjects.length, 2);
    const none = join(work, 'none.json');
    const u = cli('bundle', c.path('altered.mp4'), '-o', none);
    assert.equal(u.status, 1);
    assert.match(u.stderr, /^ffaudit: .*altered\.mp4: unknown to this ledger/);
    assert.equal(existsSync(none), false);
  });

  it('could not run: missing bundle, missing or malformed key file (exit 2, one line)', () => {
    const missing = verify(join(work, 'nope.json'), '--pubkey', vkeyPath);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^ffaudit: cannot read the bundle .*nope\.json: ENOENT\n$/);
    const noKey = verify(bundlePath, '--pubkey', join(work, 'nope.vkey'));
    assert.equal(noKey.status, 2);
    writeFileSync(join(work, 'bad.vkey'), 'not a key\n');
    const badKey = verify(bundlePath, '--pubkey', join(work, 'bad.vkey'));
    assert.equal(badKey.status, 2);
    assert.match(badKey.stderr, /^ffaudit: .*bad\.vkey does not hold a verifier key/);
    assert.equal(badKey.stderr.split('\n').length, 2);
  });
});

describe('bundles carry blob-externalised entry fields', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ffaudit-bundle-blob-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tells signed sources from the bundle\'s unsigned label, and shows older entries without links as joined by content', () => {
    const ledger = join(dir, 'sources');
    Ledger.init(ledger, { origin: 'test.example/ffaudit/sources' }).close();
    writeFileSync(join(dir, 'sources.vkey'), runCli(['--ledger', ledger, 'pubkey']).stdout);
    for (const f of ['first.wav', 'second.wav']) {
      const made = spawnSync('/usr/bin/ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=duration=0.3:frequency=${f.length * 100}`, '-y', join(dir, f)]);
      assert.equal(made.status, 0);
    }
    const rec = (args: string[]) => assert.equal(runCli(['--ledger', ledger, 'ffmpeg', ...args], { cwd: dir }).status, 0);
    rec(['-i', 'first.wav', '-c:a', 'flac', '-y', 'first.flac']); // nothing precedes it: no run can have produced its input
    rec(['-i', 'second.wav', '-c:a', 'flac', '-y', 'second.flac']); // the index found no producer: that is not proof
    const l = Ledger.open({ dir: ledger, explicit: true });
    const links = [1, 3].map((i) => (JSON.parse(l.entry(i).toString('utf8')) as { inputs: { produced_by?: unknown }[] }).inputs[0]!.produced_by);
    assert.deepEqual(links, ['none', 'unknown']);
    // Entries as written before producer links existed: x.bin produced by one run, read by the next.
    const sha = sha256Hex(Buffer.from('x'));
    const by = currentAuthor('editor');
    const run = (id: string, inputs: unknown[], outputs: unknown[]) => {
      const start = l.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by, run: id, tool: 'ffmpeg', cwd: '/', argv: ['ffmpeg'], redactions: [], ffmpeg: { path: 'ffmpeg', version: null, sha256: null }, inputs }]).indices[0]!;
      l.append([{ v: 1, type: 'run.end', time: nowRfc3339(), by, run: id, start, status: 'ok', exit_code: 0, signal: null, duration_ms: 1, inputs, outputs, streams: [], report_sha256: null, redactions: [] }]);
    };
    run('old1', [], [{ path: '/x.bin', size: 1, sha256: sha }]);
    run('old2', [{ path: '/x.bin', size: 1, sha256: sha }], [{ path: '/y.bin', size: 1, sha256: sha256Hex(Buffer.from('y')) }]);
    l.close();
    writeFileSync(join(dir, 'y.bin'), 'y');
    const check = (file: string) => {
      const out = join(dir, `${file}.bundle.json`);
      assert.equal(runCli(['--ledger', ledger, 'bundle', join(dir, file), '-o', out]).status, 0);
      const r = runCli(['verify-bundle', out, '--pubkey', join(dir, 'sources.vkey'), '--json']);
      assert.equal(r.status, 0, r.stdout);
      return (JSON.parse(r.stdout) as { lineage: { signed_links: number; content_links: number; signed_sources: string[]; unsigned_sources: string[] } }).lineage;
    };
    const first = sha256Hex(readFileSync(join(dir, 'first.wav')));
    const second = sha256Hex(readFileSync(join(dir, 'second.wav')));
    assert.deepEqual(check('first.flac'), { signed_links: 0, content_links: 0, signed_sources: [first], unsigned_sources: [] });
    assert.deepEqual(check('second.flac'), { signed_links: 0, content_links: 0, signed_sources: [], unsigned_sources: [second] });
    assert.deepEqual(check('y.bin'), { signed_links: 0, content_links: 1, signed_sources: [], unsigned_sources: [] });
  });

  it('bundles a source file with the runs that read it, and refuses a produced file passed off as a source', () => {
    const ledger = join(dir, 'uses');
    Ledger.init(ledger, { origin: 'test.example/ffaudit/uses' }).close();
    const vkey = join(dir, 'uses.vkey');
    writeFileSync(vkey, runCli(['--ledger', ledger, 'pubkey']).stdout);
    const rec = (args: string[]) => assert.equal(runCli(['--ledger', ledger, 'ffmpeg', ...args], { cwd: dir }).status, 0);
    assert.equal(spawnSync('/usr/bin/ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=0.3:frequency=300', '-y', join(dir, 'field.wav')]).status, 0);
    rec(['-f', 'lavfi', '-i', 'sine=duration=0.3:frequency=500', '-y', 'tone.wav']);
    rec(['-i', 'field.wav', '-i', 'tone.wav', '-filter_complex', 'amix=inputs=2', '-y', 'mix.wav']);
    rec(['-i', 'mix.wav', '-c:a', 'flac', '-y', 'mix.flac']);
    const bundle = (file: string) => {
      const out = join(dir, `${file}.uses.json`);
      assert.equal(runCli(['--ledger', ledger, 'bundle', join(dir, file), '-o', out]).status, 0);
      return out;
    };
    // field.wav: a source, shown with the run that read it; tone.wav's producer is named by that run's signed
    // entry but is not part of field.wav's story.
    const source = runCli(['verify-bundle', bundle('field.wav'), '--file', join(dir, 'field.wav'), '--pubkey', vkey, '--json']);
    assert.equal(source.status, 0, source.stdout);
    // The lineage of mix.flac with the steps that made mix.wav cut out, mix.wav named the subject and a source:
    // the run that read it signed who produced it.
    const d = JSON.parse(readFileSync(bundle('mix.flac'), 'utf8')) as BundleDoc;
    const mixSha = sha256Hex(readFileSync(join(dir, 'mix.wav')));
    d.entries = d.entries.slice(-2);
    d.subjects = [{ path: join(dir, 'mix.wav'), sha256: mixSha }];
    d.sources = [mixSha];
    d.blobs = [];
    const forged = join(dir, 'passed-off.json');
    writeFileSync(forged, JSON.stringify(d));
    const r = runCli(['verify-bundle', forged, '--pubkey', vkey]);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /✗ run [0-9a-f]+ read .*mix\.wav \(sha256 [0-9a-f]{64}\), which its signed entry says entry \d+ \(leaf [0-9a-f]{64}\) produced, and that entry is not in the bundle: a step of the lineage was cut out/);
  });

  it('verifies a genuine bundle whose report is more than 8 MiB of base64 (was a stack overflow, exit 2)', () => {
    const ledger = join(dir, 'big-report');
    Ledger.init(ledger, { origin: 'test.example/ffaudit/big-report' }).close();
    // showinfo logs one line per frame: 20,000 frames make a report of about 7.5 MB.
    const run = runCli(['--ledger', ledger, 'ffmpeg', '-f', 'lavfi', '-i', 'testsrc=duration=40:size=16x16:rate=500', '-vf', 'showinfo', '-f', 'framecrc', '-y', 'frames.crc'], { cwd: dir });
    assert.equal(run.status, 0, run.stderr);
    writeFileSync(join(dir, 'big.vkey'), runCli(['--ledger', ledger, 'pubkey']).stdout);
    const out = join(dir, 'big-report.json');
    const b = runCli(['--ledger', ledger, 'bundle', join(dir, 'frames.crc'), '-o', out, '--with-reports']);
    assert.equal(b.status, 0, b.stderr);
    const d = JSON.parse(readFileSync(out, 'utf8')) as BundleDoc;
    assert.ok(d.blobs.some((x) => x.data.length > 8 << 20), 'a blob of more than 8 MiB of base64');
    const r = runCli(['verify-bundle', out, '--file', join(dir, 'frames.crc'), '--pubkey', join(dir, 'big.vkey'), '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
  });

  it('includes the blob of an argv too large for an entry, and fails without it', () => {
    const ledger = join(dir, 'ledger');
    Ledger.init(ledger, { origin: 'test.example/ffaudit/blob' }).close();
    const comment = 'x'.repeat(70_000);
    const run = runCli(['--ledger', ledger, 'ffmpeg', '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x24:rate=5', '-metadata', `comment=${comment}`, '-c:v', 'mpeg4', '-y', 'big.mp4'], { cwd: dir });
    assert.equal(run.status, 0, run.stderr);
    const l = Ledger.open({ dir: ledger, explicit: true });
    try {
      assert.match(l.entry(0).toString('utf8'), /"argv":\{"\$blob":"[0-9a-f]{64}"/, 'argv moved to a blob');
      writeFileSync(join(dir, 'log.vkey'), `${l.vkey}\n`);
    } finally {
      l.close();
    }
    const out = join(dir, 'b.json');
    assert.equal(runCli(['--ledger', join(dir, 'ledger'), 'bundle', join(dir, 'big.mp4'), '-o', out]).status, 0);
    const r = runCli(['verify-bundle', out, '--file', join(dir, 'big.mp4'), '--pubkey', join(dir, 'log.vkey'), '--json']);
    assert.equal(r.status, 0, r.stdout);
    const j = JSON.parse(r.stdout) as { runs: { argv: string[] }[] };
    assert.ok(j.runs[0]!.argv.includes(`comment=${comment}`));
    const d = JSON.parse(readFileSync(out, 'utf8')) as BundleDoc;
    d.blobs = [];
    writeFileSync(out, JSON.stringify(d));
    const missing = runCli(['verify-bundle', out, '--pubkey', join(dir, 'log.vkey')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /✗ entry 0: blob [0-9a-f]{64} named by the entry is missing/);
  });
});
