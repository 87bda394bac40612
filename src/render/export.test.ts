/** `ffaudit export`: ECS documents checked against the ECS field reference, in-toto Statements against the spec. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { crypto as sigstoreCrypto, dsse } from '@sigstore/core';
import { noteToInToto, runToInToto } from './in-toto.js';
import { runFromEntries } from '../core/run.js';
import { currentAuthor, nowRfc3339 } from '../ledger/clock.js';
import { Ledger } from '../ledger/ledger.js';
import { makeChain, type Chain, type ChainRun } from '../testing/chain.js';
import { runCli } from '../testing/cli.js';

type Doc = Record<string, unknown>;

/**
 * The ECS 8.x field reference types of every ECS field we emit (elastic.co/guide/en/ecs: base, ecs, event,
 * process, user, host, related, file fields). keyword[]: "this field should contain an array of values".
 */
const ECS_TYPES: Record<string, 'date' | 'constant_keyword' | 'keyword' | 'keyword[]' | 'long' | 'text' | 'wildcard'> = {
  '@timestamp': 'date',
  message: 'text',
  'ecs.version': 'keyword',
  'event.kind': 'keyword',
  'event.category': 'keyword[]',
  'event.type': 'keyword[]',
  'event.action': 'keyword',
  'event.outcome': 'keyword',
  'event.id': 'keyword',
  'event.dataset': 'keyword',
  'event.provider': 'keyword',
  'event.module': 'keyword',
  'event.sequence': 'long',
  'event.start': 'date',
  'event.created': 'date',
  'event.end': 'date',
  'event.duration': 'long',
  'event.reason': 'keyword',
  'process.name': 'keyword',
  'process.executable': 'keyword',
  'process.args': 'keyword[]',
  'process.args_count': 'long',
  'process.command_line': 'wildcard',
  'process.working_directory': 'keyword',
  'process.start': 'date',
  'process.end': 'date',
  'process.exit_code': 'long',
  'process.hash.sha256': 'keyword',
  'user.name': 'keyword',
  'user.id': 'keyword',
  'host.name': 'keyword',
  'host.hostname': 'keyword',
  'related.hash': 'keyword[]',
  'related.user': 'keyword[]',
  'file.path': 'keyword',
  'file.name': 'keyword',
  'file.size': 'long',
  'file.hash.sha256': 'keyword',
  'data_stream.type': 'constant_keyword',
  'data_stream.dataset': 'constant_keyword',
  'data_stream.namespace': 'constant_keyword',
};
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Leaf fields of a nested document, as dotted names (ECS documents are nested objects, never dotted keys). */
function leaves(doc: Doc, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(doc)) {
    assert.ok(k === '@timestamp' || !k.includes('.'), `dotted key ${k}: ECS documents must be nested objects`);
    const name = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !name.startsWith('ffaudit')) out.push(...leaves(v as Doc, name));
    else out.push([name, v]);
  }
  return out;
}

function checkEcsType(name: string, v: unknown): void {
  const t = ECS_TYPES[name];
  if (name.startsWith('labels.')) {
    assert.equal(typeof v, 'string', `${name}: labels are keywords`);
    assert.ok(!name.slice(7).includes('.'), 'label keys have no dots');
    return;
  }
  if (name === 'ffaudit') return; // our own namespace, outside ECS
  assert.ok(t, `${name} is not an ECS field (custom fields belong under ffaudit.*)`);
  switch (t) {
    case 'date':
      assert.match(String(v), RFC3339, `${name} is a date`);
      assert.equal(typeof v, 'string');
      break;
    case 'long':
      assert.ok(typeof v === 'number' && Number.isSafeInteger(v), `${name} is a long: ${String(v)}`);
      break;
    case 'keyword[]':
      assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${name} is an array of keywords`);
      break;
    default:
      assert.equal(typeof v, 'string', `${name} is a ${t}`);
  }
}

describe('ffaudit export', () => {
  let c: Chain;
  let failed: ChainRun;
  let incompleteIndex: number;
  const cli = (...args: string[]) => runCli(['--ledger', c.ledgerDir, ...args]);
  const ndjson = (text: string) => text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Doc);

  before(() => {
    c = makeChain('ffaudit-export-');
    c.ffmpeg(['-i', 'does-not-exist.mp4', '-y', 'never.mp4'], [], 1);
    failed = c.readRuns().at(-1)!;
    const l = Ledger.open({ dir: c.ledgerDir, explicit: true });
    try {
      incompleteIndex = l.append([{ v: 1, type: 'run.start', time: nowRfc3339(), by: currentAuthor(), run: 'still-running', tool: 'ffmpeg', cwd: c.dir, argv: ['ffmpeg', '-i', 'x', 'y'], redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: null, sha256: null }, inputs: [] }]).indices[0]!;
    } finally {
      l.close();
    }
  });
  after(() => c.cleanup());

  it('ECS: one nested document per run, every field of the ECS type, outcome success|failure|unknown', () => {
    const r = cli('export', '--format', 'ecs');
    assert.equal(r.status, 0, r.stderr);
    const docs = ndjson(r.stdout).filter((d) => (d.event as Doc).action !== 'custody-note');
    assert.equal(docs.length, 6);
    for (const d of docs) {
      for (const [name, v] of leaves(d)) checkEcsType(name, v);
      const event = d.event as Doc;
      assert.equal(event.kind, 'event');
      assert.ok((event.category as string[]).includes('process'));
      assert.ok(['success', 'failure', 'unknown'].includes(event.outcome as string));
      for (const t of event.type as string[]) assert.ok(['start', 'end', 'info', 'change', 'access'].includes(t), `event.type ${t} is allowed with category process`);
      const proc = d.process as Doc;
      assert.equal(proc.args_count, (proc.args as string[]).length);
    }
    const byId = new Map(docs.map((d) => [(d.event as Doc).id as string, d]));
    const final = byId.get(c.runs.final.id)!;
    assert.equal((final.event as Doc).outcome, 'success');
    assert.equal((final.process as Doc).exit_code, 0);
    assert.deepEqual(((final.process as Doc).args as string[]).slice(1), ['-i', 'c.mp4', '-i', 's.wav', '-c:v', 'copy', '-c:a', 'aac', '-shortest', '-y', 'final.mp4']);
    assert.equal((final.process as Doc).command_line, `${(final.process as Doc).executable as string} -i c.mp4 -i s.wav -c:v copy -c:a aac -shortest -y final.mp4`);
    assert.match((final.process as Doc).executable as string, /^\/.*ffmpeg$/);
    const want = [...c.runs.final.inputs, ...c.runs.final.outputs].map((f) => f.sha256).sort();
    assert.deepEqual([...((final.related as Doc).hash as string[])].sort(), want);
    assert.equal(((final.file as Doc).hash as Doc).sha256, c.runs.final.outputs[0]!.sha256);
    assert.equal((final.user as Doc).name, currentAuthor().user);
    assert.equal((final.host as Doc).name, currentAuthor().host);

    const bad = byId.get(failed.id)!;
    assert.notEqual(failed.exitCode, 0);
    assert.equal((bad.event as Doc).outcome, 'failure');
    assert.equal((bad.process as Doc).exit_code, failed.exitCode);
    const open = byId.get('still-running')!;
    assert.equal((open.event as Doc).outcome, 'unknown');
    assert.deepEqual((open.event as Doc).type, ['start']);
    assert.equal('exit_code' in (open.process as Doc), false, 'ECS: absent when there is no exit code');
    assert.deepEqual((open.ffaudit as Doc).entries, [incompleteIndex]);
    assert.ok(((byId.get(c.runs.s.id)!.related as Doc).user as string[]).includes('sound-dept'));
  });

  it('ECS: one document per custody note, in log order, with the files it names', () => {
    const r = cli('export', '--format', 'ecs');
    assert.equal(r.status, 0, r.stderr);
    const docs = ndjson(r.stdout);
    assert.equal(docs.length, 7, 'six runs and one note');
    const seq = docs.map((d) => (d.event as Doc).sequence as number);
    assert.deepEqual(seq, [...seq].sort((a, b) => a - b), 'log order');
    const notes = docs.filter((d) => (d.event as Doc).action === 'custody-note');
    assert.equal(notes.length, 1);
    const n = notes[0]!;
    for (const [name, v] of leaves(n)) checkEcsType(name, v);
    const event = n.event as Doc;
    assert.deepEqual([event.kind, event.category, event.type, event.dataset, event.sequence], ['event', ['file'], ['info'], 'ffaudit.notes', c.noteIndex]);
    assert.equal(event.id, `note-${c.noteIndex}`);
    assert.match(n.message as string, /handed to the client on a USB drive/);
    const final = c.runs.final.outputs[0]!;
    assert.deepEqual(n.file, { path: final.path, name: 'final.mp4', size: final.size, hash: { sha256: final.sha256 } });
    assert.deepEqual((n.related as Doc).hash, [final.sha256]);
    assert.deepEqual((n.related as Doc).user, [currentAuthor().user, 'clerk']);
    assert.equal((n.ffaudit as Doc).text, 'handed to the client on a USB drive');
  });

  it('in-toto: every Statement has at least one subject with a digest; runs and notes without one are counted on stderr', () => {
    const r = cli('export', '--format', 'in-toto');
    assert.equal(r.status, 0, r.stderr);
    const docs = ndjson(r.stdout);
    // a, b, s, final and the note; the failed run wrote nothing and the incomplete run has no end.
    assert.equal(docs.length, 5);
    for (const d of docs) {
      const subject = d.subject as { name: string; digest: Record<string, string> }[];
      assert.ok(Array.isArray(subject) && subject.length >= 1, `statement.md: subject has at least one entry (${JSON.stringify(d)})`);
      for (const s of subject) assert.match(s.digest.sha256 ?? '', /^[0-9a-f]{64}$/);
    }
    assert.equal(r.stderr, 'ffaudit: left out 2 runs with no hashed output: an in-toto Statement needs a subject with a digest\n');
    const note = docs.find((d) => (d.predicate as Doc).name === 'custody-note')!;
    const final = c.runs.final.outputs[0]!;
    assert.deepEqual(note.subject, [{ name: final.path, digest: { sha256: final.sha256 } }]);
    assert.deepEqual((note.predicate as Doc).byproducts, { text: 'handed to the client on a USB drive' });
    assert.equal((((note.predicate as Doc).environment as Doc).ffaudit as Doc).entry, c.noteIndex);
    assert.equal(((note.predicate as Doc).environment as Doc).asserted_actor, 'clerk');
  });

  it('in-toto --sign: DSSE envelopes that @sigstore/core verifies with the ledger key, and that fail after one flipped byte', () => {
    const plain = ndjson(cli('export', '--format', 'in-toto').stdout);
    const r = cli('export', '--format', 'in-toto', '--sign');
    assert.equal(r.status, 0, r.stderr);
    const envelopes = ndjson(r.stdout) as unknown as { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] }[];
    assert.equal(envelopes.length, plain.length);
    const vkey = cli('pubkey').stdout.trim();
    const [, keyIdHex] = vkey.split('+') as [string, string];
    const keyB64 = vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1); // base64 may itself hold '+'
    const raw = Buffer.from(keyB64, 'base64').subarray(1); // 0x01 ‖ Ed25519 public key (c2sp signed-note)
    const key = sigstoreCrypto.createPublicKey(Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), 'spki');
    const other = sigstoreCrypto.createPublicKey(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }), 'spki');
    const verifies = (payloadType: string, payload: Buffer, sig: Buffer, k = key) => sigstoreCrypto.verify(dsse.preAuthEncoding(payloadType, payload), k, sig);
    envelopes.forEach((env, i) => {
      assert.deepEqual(Object.keys(env).sort(), ['payload', 'payloadType', 'signatures']);
      assert.equal(env.payloadType, 'application/vnd.in-toto+json');
      assert.equal(env.signatures.length, 1);
      assert.equal(env.signatures[0]!.keyid, keyIdHex);
      const payload = Buffer.from(env.payload, 'base64');
      assert.equal(payload.toString('base64'), env.payload, 'standard padded base64');
      assert.deepEqual(JSON.parse(payload.toString('utf8')), plain[i], 'the payload is the unsigned Statement');
      const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
      assert.ok(verifies(env.payloadType, payload, sig), `envelope ${i} verifies`);
      for (const at of [0, payload.length >> 1, payload.length - 1]) {
        const flipped = Buffer.from(payload);
        flipped[at]! ^= 0x01;
        assert.equal(verifies(env.payloadType, flipped, sig), false, `payload byte ${at} flipped`);
      }
      const badSig = Buffer.from(sig);
      badSig[5]! ^= 0x80;
      assert.equal(verifies(env.payloadType, payload, badSig), false, 'signature byte flipped');
      assert.equal(verifies('application/json', payload, sig), false, 'another payload type');
      assert.equal(verifies(env.payloadType, payload, sig, other), false, 'another key');
    });
    const ecs = cli('export', '--format', 'ecs', '--sign');
    assert.equal(ecs.status, 2);
    assert.equal(ecs.stderr, 'ffaudit: --sign applies to --format in-toto only\n');
  });

  it('in-toto: one Statement v1 per run with the link v0.3 predicate', () => {
    const r = cli('export', '--format', 'in-toto');
    assert.equal(r.status, 0, r.stderr);
    const docs = ndjson(r.stdout).filter((d) => (d.predicate as Doc).name !== 'custody-note');
    assert.equal(docs.length, 4);
    for (const d of docs) {
      assert.deepEqual(Object.keys(d).sort(), ['_type', 'predicate', 'predicateType', 'subject']);
      assert.equal(d._type, 'https://in-toto.io/Statement/v1');
      assert.equal(d.predicateType, 'https://in-toto.io/attestation/link/v0.3');
      const p = d.predicate as Doc;
      assert.deepEqual(Object.keys(p).sort(), ['byproducts', 'command', 'environment', 'materials', 'name']);
      assert.equal(typeof p.name, 'string');
      assert.ok(Array.isArray(p.command) && p.command.every((x) => typeof x === 'string'));
      for (const list of [d.subject, p.materials] as { name: string; digest: Record<string, string> }[][]) {
        assert.ok(Array.isArray(list));
        assert.equal(new Set(list.map((x) => x.name)).size, list.length, 'names are unique');
        for (const rd of list) {
          assert.deepEqual(Object.keys(rd).sort(), ['digest', 'name']);
          assert.deepEqual(Object.keys(rd.digest), ['sha256']);
          assert.match(rd.digest.sha256!, /^[0-9a-f]{64}$/);
        }
      }
    }
    const final = docs.find((d) => ((d.predicate as Doc).environment as { ffaudit: { run: string } }).ffaudit.run === c.runs.final.id)!;
    const p = final.predicate as Doc;
    // The spec's conversion to an old-style link gives back the recorded files.
    const toMap = (xs: { name: string; digest: Record<string, string> }[]) => Object.fromEntries(xs.map((x) => [x.name, x.digest]));
    assert.deepEqual(toMap(final.subject as never), Object.fromEntries(c.runs.final.outputs.map((f) => [f.path, { sha256: f.sha256 }])));
    assert.deepEqual(toMap(p.materials as never), Object.fromEntries(c.runs.final.inputs.map((f) => [f.path, { sha256: f.sha256 }])));
    assert.deepEqual((p.command as string[]).slice(1), ['-i', 'c.mp4', '-i', 's.wav', '-c:v', 'copy', '-c:a', 'aac', '-shortest', '-y', 'final.mp4']);
    assert.equal((p.byproducts as Doc)['return-value'], 0);
    assert.equal(docs.find((d) => ((d.predicate as Doc).environment as { ffaudit: { run: string } }).ffaudit.run === failed.id), undefined, 'a failed run that wrote nothing has no subject, so no Statement');
    const gen = docs.find((d) => ((d.predicate as Doc).environment as { ffaudit: { run: string } }).ffaudit.run === c.runs.a.id)!;
    assert.deepEqual((gen.predicate as Doc).materials, [], 'a lavfi graph has no digest, so it is no material');
  });

  it('writes the same NDJSON to a file with -o', () => {
    const out = c.path('runs.ndjson');
    const r = cli('export', '--format', 'ecs', '-o', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), cli('export', '--format', 'ecs').stdout);
  });

  it('in-toto names stay unique when one path was read with two contents', () => {
    const run = { ...runFromEntries(0, { v: 1, type: 'run.start', time: 't', by: { user: 'u', uid: 1, host: 'h' }, run: 'r', tool: 'ffmpeg', cwd: '/', argv: [], redactions: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: null, sha256: null }, inputs: [] }) };
    run.inputs = [
      { path: '/a.mov', size: 1, sha256: 'a'.repeat(64) },
      { path: '/a.mov', size: 1, sha256: 'a'.repeat(64) },
      { path: '/a.mov', size: 1, sha256: 'b'.repeat(64) },
      { path: 'pipe:0', size: null, sha256: null },
    ];
    assert.equal(runToInToto(run, 'o'), null, 'no hashed output: no Statement (an empty subject is invalid)');
    run.outputs = [{ path: 'pipe:1', size: null, sha256: null }, { path: '/out.mp4', size: 1, sha256: 'c'.repeat(64) }];
    const st = runToInToto(run, 'o')!;
    assert.deepEqual(st.predicate.materials.map((m) => m.name), ['/a.mov', '/a.mov#2']);
    assert.deepEqual(st.predicate.byproducts['unhashed-files'], ['pipe:0', 'pipe:1']);
    assert.equal(st.predicate.byproducts['return-value'], null);
    assert.deepEqual(st.subject, [{ name: '/out.mp4', digest: { sha256: 'c'.repeat(64) } }]);
    const note = { index: 3, time: 't', user: 'u', uid: 1, host: 'h', asserted_actor: null, text: 'seen', files: [{ path: 'https://x/y.mp4', size: null, sha256: null }] };
    assert.equal(noteToInToto(note, 'o'), null, 'a note naming no hashed file has no Statement');
  });

  it('filters by period and refuses bad options (exit 2, one line)', () => {
    assert.equal(cli('export', '--format', 'ecs', '--since', '2999-01-01').stdout, '');
    assert.equal(ndjson(cli('export', '--format', 'in-toto', '--since', '1h').stdout).length, 5);
    assert.equal(cli('export', '--format', 'ecs', '--until', '2000-01-01').stdout, '');
    const bad = cli('export', '--format', 'xml');
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'ffaudit: --format must be ecs or in-toto, not "xml"\n');
    const when = cli('export', '--format', 'ecs', '--since', 'yesterday');
    assert.equal(when.status, 2);
    assert.match(when.stderr, /^ffaudit: not a time: "yesterday"/);
  });
});
