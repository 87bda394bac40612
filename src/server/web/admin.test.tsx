// The Admin pages in process against real PostgreSQL and the three hosts of api-fixture: roles, CSRF, the secrets
// shown once and working, people's sessions ended at once, the admin's own account kept, and the access log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { makeEd25519Signer, formatVerifierKey } from '../../core/note.js';
import { testPostgres } from '../../testing/pg-server.js';
import { RecordingAccessLog, webClient, webWorld, type WebClient, type WebWorld } from '../../testing/web-fixture.js';
import { authenticate } from '../api/auth.js';
import { joinHost } from '../hosts.js';

const pgc = testPostgres();
const skip = 'skip' in pgc ? pgc.skip : false;

const access = new RecordingAccessLog();
let w: WebWorld;
let ada: WebClient;

before(async () => {
  if (skip) return;
  w = await webWorld((pgc as { url: string }).url, { access });
  ada = await w.as('admin');
});
after(async () => {
  await w?.close();
});

const GETS = ['/admin', '/admin/hosts', '/admin/people', '/admin/tokens'];
const POSTS: [string, Record<string, string>][] = [
  ['/admin/hosts', { name: 'intruder-1' }],
  ['/admin/hosts/disable', { name: 'ws-1' }],
  ['/admin/hosts/enable', { name: 'ws-1' }],
  ['/admin/people', { name: 'intruder', role: 'admin', password: 'intruder passphrase', password2: 'intruder passphrase' }],
  ['/admin/people/role', { name: 'vera', role: 'admin' }],
  ['/admin/people/disable', { name: 'ada' }],
  ['/admin/people/enable', { name: 'vera' }],
  ['/admin/tokens', { name: 'intruder', role: 'admin' }],
  ['/admin/tokens/revoke', { id: '1' }],
  ['/admin/alerts/ack', { kind: 'conflict', ref: '1' }],
];

/** The text of a page's confirmation (role=status) or form error (role=alert). */
const said = (html: string, role: 'status' | 'alert'): string | undefined => new RegExp(`role="${role}"[^>]*>([^<]*)<`).exec(html)?.[1];

async function state() {
  const { rows } = await w.db.pool.query<{ s: string }>(
    "SELECT (SELECT string_agg(name || ':' || role || ':' || coalesce(disabled_at::text, '-'), ',' ORDER BY name) FROM users) || '|' || (SELECT string_agg(name || ':' || status, ',' ORDER BY name) FROM hosts) || '|' || (SELECT count(*) FROM api_tokens) || '|' || (SELECT count(*) FROM alert_acks) AS s",
  );
  return rows[0]!.s;
}

describe('admin pages', { skip }, () => {
  it('a viewer and an auditor get 403 on every admin page and form; nothing changes; no Admin link is shown to them', async () => {
    const before = await state();
    for (const role of ['viewer', 'auditor'] as const) {
      const c = await w.as(role);
      assert.doesNotMatch(await (await c.get('/')).text(), /href="\/admin"/);
      for (const p of GETS) assert.equal((await c.get(p)).status, 403, `${role} GET ${p}`);
      for (const [p, f] of POSTS) assert.equal((await c.post(p, f)).status, 403, `${role} POST ${p}`);
    }
    const anon = webClient(w.app);
    for (const p of GETS) assert.equal((await anon.get(p)).status, 303, `signed out GET ${p}`);
    for (const [p, f] of POSTS) assert.equal((await anon.post(p, { ...f, _csrf: 'x' })).status, 401, `signed out POST ${p}`);
    assert.equal(await state(), before);
    assert.equal(access.events.filter((e) => e.action.startsWith('admin.') || e.action === 'alert.ack').length, 0);
  });

  it('an admin form without the CSRF token, or from another site, is 403 and changes nothing', async () => {
    const before = await state();
    for (const [p, f] of POSTS) {
      assert.equal((await ada.post(p, f, { csrf: false })).status, 403, `POST ${p} without _csrf`);
      assert.equal((await ada.post(p, f, { headers: { origin: 'https://evil.example' } })).status, 403, `POST ${p} cross-site`);
    }
    assert.equal(await state(), before);
  });

  it('/admin leads to Hosts, which lists every host with its status, origin, sizes and last push', async () => {
    const r = await ada.get('/admin');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/admin/hosts');
    const html = await (await ada.get('/admin/hosts')).text();
    assert.match(html, /<a href="\/admin" aria-current="page">Admin<\/a>/);
    assert.match(html, /<a href="\/admin\/hosts" aria-current="page">Hosts<\/a>/);
    for (const [name, origin] of Object.values(w.hosts).map((h) => [h.name, h.origin])) {
      const row = new RegExp(`<th scope="row">${name}</th><td><span class="badge ok">active</span>.*?</td><td class="mono"><bdi>${origin}</bdi></td><td class="num">\\d+</td><td class="num">\\d+</td><td class="num">0</td><td><time datetime="[^"]+"`);
      assert.match(html, row, name);
    }
  });

  it('enrols a host: the join token is shown once, with the join line, and works with joinHost; it is recorded', async () => {
    const r = await ada.post('/admin/hosts', { name: 'edit-9' });
    assert.equal(r.status, 200);
    const html = await r.text();
    const token = /<p class="secret-value mono">(ffaudit-join-[A-Za-z0-9_-]+)<\/p>/.exec(html)?.[1];
    assert.ok(token, 'the token is on the page');
    assert.ok(html.includes(`<pre>echo ${token} | ffaudit join http://server.test</pre>`));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const again = await (await ada.get('/admin/hosts')).text();
    assert.ok(!again.includes(token), 'never shown again');
    assert.match(again, /<th scope="row">edit-9<\/th><td><span class="badge neutral">not joined<\/span>/);
    const signer = makeEd25519Signer('edit-9.test/ffaudit', randomBytes(32));
    assert.deepEqual(await joinHost(w.db, token, 'edit-9.test/ffaudit', formatVerifierKey('edit-9.test/ffaudit', signer.publicKey)), { host: 'edit-9' });
    assert.deepEqual(access.of('admin.host.add'), [['ada', 'host=edit-9']]);
  });

  it('a bad host name or a host that joined already: the error beside the form, 400, the name kept', async () => {
    const r = await ada.post('/admin/hosts', { name: 'bad name<x>' });
    assert.equal(r.status, 400);
    const html = await r.text();
    assert.match(said(html, 'alert') ?? '', /^host name &quot;bad name&lt;x&gt;&quot;: letters, digits/);
    assert.match(html, /id="host-name" name="name" [^>]*value="bad name&lt;x&gt;"/);
    assert.match(html, /aria-describedby="host-name-hint host-add-error"/);
    const joined = await ada.post('/admin/hosts', { name: 'ws-1' });
    assert.equal(joined.status, 400);
    assert.equal(said(await joined.text(), 'alert'), 'host ws-1 has already joined (status active)');
  });

  it('disables and enables a host with a confirmation; each change recorded', async () => {
    const r = await ada.post('/admin/hosts/disable', { name: 'render-7' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/admin/hosts?done=host.disable&name=render-7');
    const html = await (await ada.get(r.headers.get('location')!)).text();
    assert.equal(said(html, 'status'), 'Host render-7 is disabled: its pushes are refused, what was mirrored is kept.');
    assert.match(html, /<th scope="row">render-7<\/th><td><span class="badge warn">disabled<\/span>/);
    assert.match(html, /<button type="submit" aria-label="Enable render-7">/);
    assert.equal((await ada.post('/admin/hosts/enable', { name: 'render-7' })).status, 303);
    const { rows } = await w.db.pool.query<{ status: string }>("SELECT status FROM hosts WHERE name = 'render-7'");
    assert.equal(rows[0]!.status, 'active');
    assert.deepEqual(access.of('admin.host.disable'), [['ada', 'host=render-7']]);
    assert.deepEqual(access.of('admin.host.enable'), [['ada', 'host=render-7']]);
    const none = await ada.post('/admin/hosts/enable', { name: 'nowhere' });
    assert.equal(none.status, 404);
    assert.equal(said(await none.text(), 'alert'), 'no host named &quot;nowhere&quot;');
  });

  it('a confirmation is one of the fixed sentences naming a name; any other name or an unknown key shows nothing', async () => {
    assert.equal(said(await (await ada.get('/admin/hosts?done=host.enable&name=edit-ws.2')).text(), 'status'), 'Host edit-ws.2 is enabled again.');
    const html = await (await ada.get('/admin/hosts?done=host.enable&name=%3Cscript%3Ealert(1)%3C%2Fscript%3E')).text();
    assert.equal(said(html, 'status'), undefined);
    assert.ok(!html.includes('<script>alert'));
    const phish = 'Security: your session expired, re-enter your password at https://evil.example/login. Then';
    assert.equal(said(await (await ada.get(`/admin/people?done=user.add&name=${encodeURIComponent(phish)}`)).text(), 'status'), undefined);
    assert.equal(said(await (await ada.get('/admin/hosts?done=Your+account+is+locked&name=x')).text(), 'status'), undefined);
  });

  it('adds a person (password twice), who signs in; mismatched or short passwords and a taken name are refused beside the form', async () => {
    const mismatch = await ada.post('/admin/people', { name: 'pia', role: 'auditor', password: 'pia passphrase 1', password2: 'pia passphrase 2' });
    assert.equal(mismatch.status, 400);
    const mhtml = await mismatch.text();
    assert.equal(said(mhtml, 'alert'), 'the two passwords differ');
    assert.match(mhtml, /id="user-name" name="name" [^>]*value="pia"/);
    assert.match(mhtml, /<option value="auditor" selected="">auditor<\/option>/);
    assert.ok(!mhtml.includes('pia passphrase'), 'a password is never sent back');
    assert.equal((await ada.post('/admin/people', { name: 'pia', role: 'auditor', password: 'short', password2: 'short' })).status, 400);
    const taken = await ada.post('/admin/people', { name: 'vera', role: 'viewer', password: 'vera passphrase 9', password2: 'vera passphrase 9' });
    assert.equal(taken.status, 409);
    assert.equal(said(await taken.text(), 'alert'), 'a user named vera exists already');
    const ok = await ada.post('/admin/people', { name: 'pia', role: 'auditor', password: 'pia passphrase 1', password2: 'pia passphrase 1' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/admin/people?done=user.add&name=pia');
    assert.equal((await webClient(w.app).signIn('pia', 'pia passphrase 1')).status, 303);
    assert.deepEqual(access.of('admin.user.add'), [
      ['ada', 'user=vera role=viewer'],
      ['ada', 'user=pia role=auditor'],
    ]);
  });

  it('changes a role: the person has it from their next request; recorded', async () => {
    const pia = webClient(w.app);
    await pia.signIn('pia', 'pia passphrase 1');
    assert.equal((await pia.get('/admin/people')).status, 403);
    const r = await ada.post('/admin/people/role', { name: 'pia', role: 'admin' });
    assert.equal(r.status, 303);
    assert.equal((await pia.get('/admin/people')).status, 200);
    assert.equal((await ada.post('/admin/people/role', { name: 'pia', role: 'auditor' })).status, 303);
    assert.equal((await pia.get('/admin/people')).status, 403);
    assert.equal((await ada.post('/admin/people/role', { name: 'pia', role: 'root' })).status, 400);
    assert.deepEqual(access.of('admin.user.role'), [
      ['ada', 'user=pia role=admin'],
      ['ada', 'user=pia role=auditor'],
    ]);
  });

  it("a disabled person's session stops working at once; enabled, they sign in again", async () => {
    const pia = webClient(w.app);
    await pia.signIn('pia', 'pia passphrase 1');
    assert.equal((await pia.get('/')).status, 200);
    const r = await ada.post('/admin/people/disable', { name: 'pia' });
    assert.equal(r.status, 303);
    assert.equal((await pia.get('/')).status, 303, 'sent to sign in');
    assert.equal((await webClient(w.app).signIn('pia', 'pia passphrase 1')).status, 401);
    const html = await (await ada.get(r.headers.get('location')!)).text();
    assert.equal(said(html, 'status'), 'pia is disabled and signed out everywhere.');
    assert.match(html, /<button type="submit" aria-label="Enable pia">Enable<\/button>/);
    assert.equal((await ada.post('/admin/people/enable', { name: 'pia' })).status, 303);
    assert.equal((await webClient(w.app).signIn('pia', 'pia passphrase 1')).status, 303);
    assert.deepEqual(access.of('admin.user.disable'), [['ada', 'user=pia']]);
  });

  it('an admin can neither disable nor demote themself (409, one line); nothing recorded, nothing changed', async () => {
    const n = access.events.length;
    const before = await state();
    for (const [p, f] of [
      ['/admin/people/disable', { name: 'ada' }],
      ['/admin/people/role', { name: 'ada', role: 'auditor' }],
    ] as const) {
      const r = await ada.post(p, f);
      assert.equal(r.status, 409, p);
      assert.match(said(await r.text(), 'alert') ?? '', /^you cannot (disable|demote) your own account here: another admin can/);
    }
    assert.equal(await state(), before);
    assert.equal(access.events.length, n);
    const page = await (await ada.get('/admin/people')).text();
    assert.ok(!page.includes('aria-label="Disable ada"'), 'no button for it either');
    assert.ok(!page.includes('name="name" value="ada"'), 'no form names the admin themself');
  });

  it('the throttle holds whatever an admin changes: role or enable does not reset it', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await webClient(w.app).signIn('pia', `wrong ${i} xxxxxxxxxx`)).status, 401);
    assert.equal((await ada.post('/admin/people/role', { name: 'pia', role: 'viewer' })).status, 303);
    assert.equal((await ada.post('/admin/people/enable', { name: 'pia' })).status, 303);
    assert.equal((await webClient(w.app).signIn('pia', 'pia passphrase 1')).status, 429);
  });

  it('makes an API token shown once, which the API accepts, and revokes it; a hostile name stays text', async () => {
    const name = 'ci <script>alert(1)</script> \u202Eevil';
    const r = await ada.post('/admin/tokens', { name, role: 'auditor' });
    assert.equal(r.status, 200);
    const html = await r.text();
    const token = /<p class="secret-value mono">(ffaudit-api-[A-Za-z0-9_-]{43})<\/p>/.exec(html)?.[1];
    assert.ok(token);
    assert.ok(html.includes('<bdi>ci &lt;script&gt;alert(1)&lt;/script&gt; \u202Eevil</bdi>'));
    assert.ok(!html.includes('<script>alert'));
    const caller = await authenticate(w.db, `Bearer ${token}`);
    assert.equal(caller.role, 'auditor');
    assert.ok(!(await (await ada.get('/admin/tokens')).text()).includes(token), 'never shown again');
    const rv = await ada.post('/admin/tokens/revoke', { id: String(caller.tokenId) });
    assert.equal(rv.status, 303);
    assert.equal(rv.headers.get('location'), `/admin/tokens?done=token.revoke&name=${caller.tokenId}`);
    await assert.rejects(authenticate(w.db, `Bearer ${token}`), /a valid API token is required/);
    assert.equal((await ada.post('/admin/tokens/revoke', { id: '0' })).status, 400);
    assert.equal((await ada.post('/admin/tokens/revoke', { id: '99999' })).status, 404);
    assert.deepEqual(access.of('admin.token.add'), [['ada', `token=${JSON.stringify(name)} role=auditor`]]);
    // Recorded before the change is tried: an attempt the database refuses is in the log too.
    assert.deepEqual(access.of('admin.token.revoke'), [
      ['ada', `token=${caller.tokenId}`],
      ['ada', 'token=99999'],
    ]);
  });

  it('acknowledges an alert: it leaves every page, the access log names the host and the alert; twice is 404', async () => {
    const { rows } = await w.db.pool.query<{ id: string }>(
      "INSERT INTO conflicts (host_id, epoch, kind, size, note, detail) SELECT id, epoch, 'equivocation', 7, 'n', 'd' FROM hosts WHERE name = 'ingest-2' RETURNING id",
    );
    const ref = rows[0]!.id;
    const vera = await w.as('viewer');
    const shown = await (await vera.get('/')).text();
    assert.match(shown, /<strong>ingest-2<\/strong>: ingest-2 signed two different checkpoints for one log \(equivocation at size 7\)/);
    assert.ok(!shown.includes('/admin/alerts/ack'), 'no Acknowledge button for a viewer');
    assert.match(await (await ada.get('/')).text(), new RegExp(`name="ref" value="${ref}"`));
    const r = await ada.post('/admin/alerts/ack', { kind: 'conflict', ref });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/admin/hosts?done=alert.ack&name=ingest-2');
    assert.doesNotMatch(await (await vera.get('/')).text(), /equivocation at size 7/);
    assert.deepEqual(access.of('alert.ack'), [['ada', `host=ingest-2 conflict=${ref}: ingest-2 signed two different checkpoints for one log (equivocation at size 7)`]]);
    assert.equal((await ada.post('/admin/alerts/ack', { kind: 'conflict', ref })).status, 404);
    assert.equal((await ada.post('/admin/alerts/ack', { kind: 'nonsense', ref })).status, 404);
  });

  it('when the access log cannot record, the change is not made and the answer is 503', async () => {
    const before = await state();
    access.failing = true;
    try {
      const r = await ada.post('/admin/people/disable', { name: 'vera' });
      assert.equal(r.status, 503);
      assert.ok(!(await r.text()).includes('disk full'));
      assert.equal((await ada.post('/admin/hosts', { name: 'edit-10' })).status, 503);
    } finally {
      access.failing = false;
    }
    assert.equal(await state(), before);
  });
});
