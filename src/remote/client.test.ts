/**
 * The `--server` client against a server that answers what it likes (a real HTTP server on loopback, answers
 * written by hand): every bad answer is a one-line FfauditError with the right code, never a crash or a record that
 * was not checked; the token goes only in the Authorization header, never to a redirect's target.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FfauditError } from '../core/errors.js';
import { remoteServer } from './client.js';
import { remoteLog, remoteTrace } from './queries.js';

const TOKEN = 'ffaudit-api-test-token';
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.end();
const seen: IncomingMessage[] = [];
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const json = (status: number, body: unknown) => (_q: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

const RUN = {
  id: 'r1', tool: 'ffmpeg', entries: [0, 1], status: 'ok', user: 'u', uid: 1, host: 'h', asserted_actor: null, reason: null, cwd: '/',
  argv: ['-i', 'a'], started_at: '2026-12-06T00:00:00Z', ended_at: '2026-12-06T00:00:01Z', duration_ms: 1, exit_code: 0, signal: null,
  inputs: [], outputs: [], streams: [], ffmpeg: { path: '/usr/bin/ffmpeg', version: null, sha256: null }, report_sha256: null, log: 'a.test/x',
};

function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp) {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FfauditError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('the --server client', () => {
  const srv = () => remoteServer(base, TOKEN);
  const q = { params: new URLSearchParams({ user: 'u' }), runs: true, notes: false };

  it('sends the token as a bearer header and the filters as parameters, and follows cursors to the end', async () => {
    let n = 0;
    answer = (req, res) => {
      const u = new URL(req.url!, base);
      n++;
      json(200, n === 1 ? { items: [{ ...RUN, id: 'r2', started_at: '2026-12-06T00:00:02Z' }], next: 'c1', total: 2, unreadable: [] } : { items: [RUN], next: null, total: 2, unreadable: [] })(req, res);
      assert.equal(u.searchParams.get('user'), 'u');
      assert.equal(u.searchParams.get('cursor'), n === 1 ? null : 'c1');
    };
    seen.length = 0;
    const r = await remoteLog(srv(), q);
    assert.deepEqual(r.items.map((x) => ('id' in x ? x.id : '')), ['r1', 'r2'], 'oldest first');
    assert.equal(seen[0]!.headers.authorization, `Bearer ${TOKEN}`);
    assert.ok(!seen[0]!.url!.includes(TOKEN));
  });

  it('goes on past a page whose candidates were all unreadable', async () => {
    let n = 0;
    answer = (req, res) => {
      n++;
      json(200, n === 1 ? { items: [], next: 'c1', total: null, unreadable: [{ log: 'a.test/x', index: 7, id: 'r9', error: 'entry 7 does not hash to its stored leaf' }] } : { items: [RUN], next: null, total: 1, unreadable: [] })(req, res);
    };
    const r = await remoteLog(srv(), q);
    assert.deepEqual([r.items.length, r.unreadable.map((u) => u.index)], [1, [7]]);
  });

  it('maps statuses to codes with the server reason on one line', async () => {
    answer = (_q, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('a valid bearer token is required\n\u001b[31mred');
    };
    // The escape character is dropped: what is left cannot drive the terminal.
    await rejectsWith(remoteLog(srv(), q), 'UNAUTHORIZED', /401: a valid bearer token is required \[31mred/);
    await assert.rejects(remoteLog(srv(), q), (e: Error) => !e.message.includes('\u001b'));
    answer = json(403, 'this needs the auditor role');
    await rejectsWith(remoteLog(srv(), q), 'FORBIDDEN', /403/);
    answer = json(400, 'since: not an RFC 3339 time');
    await rejectsWith(remoteLog(srv(), q), 'USAGE', /since: not an RFC 3339 time/);
    answer = json(503, 'the database is away');
    await rejectsWith(remoteLog(srv(), q), 'STORE', /503/);
  });

  it('refuses answers that are not what the API documents', async () => {
    answer = json(200, '{"items": [');
    await rejectsWith(remoteLog(srv(), q), 'BAD_INPUT', /not JSON/);
    answer = json(200, { items: [{ ...RUN, entries: 'zero' }], next: null, total: 1, unreadable: [] });
    await rejectsWith(remoteLog(srv(), q), 'BAD_INPUT', /run "r1": its entries/);
    answer = json(200, { items: [{ ...RUN, log: undefined }], next: null, total: 1, unreadable: [] });
    await rejectsWith(remoteLog(srv(), q), 'BAD_INPUT', /names no log/);
    answer = json(200, { items: [{ ...RUN, index: 0 }], next: null, total: 1, unreadable: [] });
    await rejectsWith(remoteLog(srv(), q), 'BAD_INPUT', /fields of a custody note/);
    answer = (req, res) => json(200, { items: [], next: new URL(req.url!, base).searchParams.get('cursor') ?? 'c', total: 0, unreadable: [] })(req, res);
    await rejectsWith(remoteLog(srv(), q), 'BAD_INPUT', /same cursor again/);
    answer = json(200, { file: { path: 'x', sha256: 'b'.repeat(64) }, log: 'a', known: true, index_checked: true, runs: [], sources: [], notes: [], read_by: [] });
    await rejectsWith(remoteTrace(srv(), { path: 'x', sha256: 'a'.repeat(64) }), 'BAD_INPUT', /lineage of b{64}, not of a{64}/);
    answer = json(200, { file: { path: 'x', sha256: 'zz' }, log: 'a', known: true, index_checked: true, runs: [], sources: [], notes: [], read_by: [] });
    await rejectsWith(remoteTrace(srv(), { path: 'x', sha256: 'a'.repeat(64) }), 'BAD_INPUT', /names no file/);
  });

  it('does not follow a redirect (it would carry the token elsewhere)', async () => {
    answer = (_q, res) => {
      res.writeHead(302, { location: 'http://127.0.0.2:1/steal' });
      res.end();
    };
    await rejectsWith(remoteLog(srv(), q), 'IO', /cannot reach the server/);
  });

  it('refuses a server URL that would expose the token, and a token that is not one word', () => {
    assert.throws(() => remoteServer('http://audit.example.org', TOKEN), /use https/);
    assert.throws(() => remoteServer('https://user:pw@audit.example.org', TOKEN), /no credentials/);
    assert.throws(() => remoteServer('https://audit.example.org/?token=x', TOKEN), /without a query/);
    assert.throws(() => remoteServer('ftp://audit.example.org', TOKEN), /http\(s\) URL/);
    assert.throws(() => remoteServer(base, 'two words'), /one word/);
    assert.equal(remoteServer('https://audit.example.org/base/', TOKEN).base, 'https://audit.example.org/base');
  });
});
