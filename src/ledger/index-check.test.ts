/**
 * The derived indexes against the entries: rows deleted or added by someone with write access (no trigger guards
 * them, no key is needed) must not let trace, report or bundle call a rendered file a source, and verify must
 * report them. A real production (src/testing/chain.ts), attacked the way an attacker would: SQL on the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { makeChain, type Chain } from '../testing/chain.js';
import { runCli } from '../testing/cli.js';
import { isOneErrorLine } from '../testing/fixtures.js';
import { Ledger } from './ledger.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

describe('derived indexes checked against the entries', () => {
  let c: Chain;
  let n = 0;
  before(() => {
    c = makeChain('ffaudit-index-');
    // Bring the indexes up to the head, as any reader would.
    assert.equal(runCli(['--ledger', c.ledgerDir, 'log']).status, 0);
  });
  after(() => c.cleanup());

  /** A copy of the ledger with the SQL applied to its database file. */
  const attacked = (sql: string): string => {
    const dir = join(c.dir, `attacked-${n++}`);
    cpSync(c.ledgerDir, dir, { recursive: true });
    const db = new Database(join(dir, 'ledger.db'));
    db.exec(sql);
    db.close();
    return dir;
  };
  const findings = async (dir: string) => {
    const l = Ledger.open({ dir, explicit: true });
    try {
      const a = await l.verify({ workers: 0 });
      const b = await l.verify({ workers: 2, blockSize: 4 });
      assert.deepEqual(b.problems, a.problems, 'the block-parallel pass finds the same');
      return a.problems;
    } finally {
      l.close();
    }
  };
  const hideB = () => `DELETE FROM runs WHERE id = '${c.runs.b.id}'; DELETE FROM file_by_hash WHERE idx = ${c.runs.b.endIndex};`;

  it('an untouched ledger: verify finds nothing', async () => {
    assert.deepEqual(await findings(c.ledgerDir), []);
  });

  it('rows of the run that rendered c.mp4 deleted: verify reports index-mismatch (not INTACT)', async () => {
    const dir = attacked(hideB());
    const problems = await findings(dir);
    assert.ok(problems.length > 0 && problems.every((p) => p.kind === 'index-mismatch'), JSON.stringify(problems));
    const details = problems.map((p) => `${p.index}: ${p.detail}`).join('\n');
    assert.match(details, new RegExp(`^${c.runs.b.startIndex}: entry ${c.runs.b.startIndex} starts run ${c.runs.b.id}, which the runs index lacks \\(deleted\\)`, 'm'));
    assert.match(details, new RegExp(`^${c.runs.b.endIndex}: entry ${c.runs.b.endIndex} ends run ${c.runs.b.id}, which the runs index lacks \\(deleted\\)`, 'm'));
    const out = c.runs.b.outputs[0]!.sha256!;
    assert.match(details, new RegExp(`^${c.runs.b.endIndex}: entry ${c.runs.b.endIndex} names sha256 ${out} as an output, but the file index lacks that row \\(deleted\\)`, 'm'));
    const cli = runCli(['--ledger', dir, 'verify']);
    assert.equal(cli.status, 1);
    assert.match(cli.stdout, /TAMPERED/);
    assert.match(cli.stdout, /✗ index-mismatch \(entry \d+\): /);
    const json = JSON.parse(runCli(['--ledger', dir, 'verify', '--json']).stdout) as { ok: boolean; problems: { kind: string }[] };
    assert.equal(json.ok, false);
    assert.ok(json.problems.some((p) => p.kind === 'index-mismatch'));
  });

  it('a forged row and an altered run row are reported as well', async () => {
    const sha = c.runs.final.outputs[0]!.sha256!;
    const forged = await findings(attacked(`INSERT INTO file_by_hash (seg, sha256, idx, role) VALUES (0, X'${sha}', ${c.runs.a.endIndex}, 'output');`));
    assert.deepEqual(forged.map((p) => [p.kind, p.index]), [['index-mismatch', c.runs.a.endIndex]]);
    assert.match(forged[0]!.detail, new RegExp(`the file index holds a row \\(entry ${c.runs.a.endIndex}, output, sha256 ${sha}\\) that the entry does not name \\(added\\)`));
    const unended = await findings(attacked(`UPDATE runs SET end_idx = NULL, status = NULL WHERE id = '${c.runs.b.id}';`));
    assert.deepEqual(unended.map((p) => [p.kind, p.index]), [['index-mismatch', c.runs.b.endIndex]]);
  });

  it('trace, report and bundle do not call the rendered file a source on the strength of the altered index', () => {
    const dir = attacked(hideB());
    const cli = (...args: string[]) => runCli(['--ledger', dir, ...args]);
    for (const f of ['c.mp4', 'final.mp4']) {
      const t = cli('trace', c.path(f));
      assert.equal(t.status, 1, t.stdout);
      assert.equal(t.stdout, '');
      assert.ok(isOneErrorLine(t.stderr), t.stderr);
      assert.match(t.stderr, new RegExp(`^ffaudit: the search index disagrees with the entries \\(entry ${c.runs.b.startIndex} starts run ${c.runs.b.id}, which the runs index lacks \\(deleted\\);.*\\): it was altered, so it cannot show which runs produced these bytes \\(run ffaudit verify\\)\\n$`));
    }
    const html = c.path('attacked-report.html');
    const r = cli('report', c.path('c.mp4'), '-o', html);
    assert.equal(r.status, 1);
    assert.equal(existsSync(html), false, 'no report page');
    const out = c.path('attacked-bundle.json');
    const b = cli('bundle', c.path('c.mp4'), '-o', out);
    assert.equal(b.status, 1);
    assert.equal(existsSync(out), false, 'no bundle');
    // Without the check, the claim is shown as what it is: unproven.
    const quick = cli('trace', c.path('c.mp4'), '--no-index-check');
    assert.equal(quick.status, 0, quick.stderr);
    assert.doesNotMatch(quick.stdout, /this file is a source/);
    assert.match(quick.stdout, /no producer found in the search index, which was not checked \(--no-index-check\): unproven/);
    const j = JSON.parse(cli('trace', c.path('final.mp4'), '--no-index-check', '--json').stdout) as { index_checked: boolean; sources: { path: string; basis: string | null }[] };
    assert.equal(j.index_checked, false);
    assert.ok(j.sources.some((s) => s.path.endsWith('c.mp4') && s.basis === 'unproven'), JSON.stringify(j.sources));
  });

  it('reindex rebuilds an altered index from the entries, without touching the log', () => {
    const dir = attacked(`${hideB()} INSERT INTO file_by_hash (seg, sha256, idx, role) VALUES (0, X'${c.runs.final.outputs[0]!.sha256!}', ${c.runs.a.endIndex}, 'output');`);
    const cli = (...args: string[]) => runCli(['--ledger', dir, ...args]);
    const before = cli('verify', '--json');
    assert.equal(before.status, 1);
    const cp = cli('checkpoint').stdout;
    const r = cli('reindex');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^search index rebuilt from \d+ entries\n$/);
    const after = JSON.parse(cli('verify', '--json').stdout) as { ok: boolean; problems: unknown[] };
    assert.deepEqual(after, { ...after, ok: true, problems: [] });
    assert.equal(cli('checkpoint').stdout, cp, 'the log is unchanged');
    const t = JSON.parse(cli('trace', c.path('final.mp4'), '--json').stdout) as { runs: unknown[] };
    assert.equal(t.runs.length, 4);
  });

  it('on the intact ledger, a source is named only after the index was checked against every entry', () => {
    const t = runCli(['--ledger', c.ledgerDir, 'trace', c.path('final.mp4'), '--json']);
    assert.equal(t.status, 0, t.stderr);
    const j = JSON.parse(t.stdout) as { index_checked: boolean; runs: unknown[] };
    assert.equal(j.runs.length, 4);
    // Every input here has a producer or is generated (lavfi): no source is claimed, so nothing needs checking.
    assert.equal(j.index_checked, false);
    // A file made outside the ledger (plain FFmpeg), then read by an audited run: a source.
    const made = spawnSync('/usr/bin/ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=0.5', '-y', c.path('field.wav')]);
    assert.equal(made.status, 0);
    c.ffmpeg(['-i', 'field.wav', '-c:a', 'flac', '-y', 'field.flac']);
    const s = runCli(['--ledger', c.ledgerDir, 'trace', c.path('field.flac'), '--json']);
    assert.equal(s.status, 0, s.stderr);
    const sj = JSON.parse(s.stdout) as { index_checked: boolean; sources: { path: string; basis: string | null }[] };
    assert.equal(sj.index_checked, true);
    assert.deepEqual(sj.sources.map((x) => [x.path, x.basis]), [[c.path('field.wav'), 'index-checked']]);
    assert.match(runCli(['--ledger', c.ledgerDir, 'trace', c.path('field.flac')]).stdout, /field\.wav {2}sha256 [0-9a-f]{64} {2}\[source: no audited run produced these bytes\]/);
    const src = runCli(['--ledger', c.ledgerDir, 'trace', c.path('field.wav')]);
    assert.equal(src.status, 0, src.stderr);
    assert.match(src.stdout, /no audited run produced these bytes \(the search index was checked against every entry\): this file is a source/);
  });
});
