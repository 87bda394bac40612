/**
 * The Admin pages (admins only): hosts (enrol, disable, enable), people (add, role, disable, enable) and API tokens
 * (add, revoke), and the acknowledgement of an alert. Each change is appended to the access log as admin.<what>
 * before it is made (request.ts recordAccess): a change that cannot be recorded is not made.
 *
 * A form posts back and is answered with a redirect (303, so a reload does not post again) to its page with a
 * one-line confirmation, or with the page and the one-line error beside the form (400, 404, 409). The two secrets
 * made here, a join token and an API token, are shown once in the answer to the POST itself and kept nowhere.
 */
import type { Context, Hono } from 'hono';
import type { Child, FC } from 'hono/jsx';
import { FfauditError } from '../../../core/errors.js';
import { addToken, isRole, listTokens, revokeToken, ROLES, type Role } from '../../api/auth.js';
import { DEFAULT_SILENT_AFTER_MS, type AppEnv, type ServerDeps } from '../../deps.js';
import { addHost, disableHost, enableHost, listHosts } from '../../hosts.js';
import { httpStatusFor } from '../../http.js';
import { logStates } from '../../search/state.js';
import { addUser, checkNewPassword, checkUserName, disableUser, enableUser, listUsers, setUserRole } from '../accounts.js';
import { acknowledgeAlert, activeAlerts } from '../alerts.js';
import { Time } from '../layout.js';
import { renderPage } from '../render.js';
import { readForm, recordAccess } from '../request.js';
import { requireWebRole, webUser } from '../session.js';

type Section = 'hosts' | 'people' | 'tokens';

const SECTIONS: readonly { key: Section; label: string }[] = [
  { key: 'hosts', label: 'Hosts' },
  { key: 'people', label: 'People' },
  { key: 'tokens', label: 'API tokens' },
];

/** What a page shows besides its lists: a failed form's error and values, or a secret shown once. */
interface PageState {
  status?: number;
  /** The form that failed (its key) and its one line. */
  error?: { form: string; message: string };
  /** What was typed into the failed form, passwords excepted. */
  values?: Record<string, string>;
  /** A join token or an API token, in the answer to the POST that made it. */
  secret?: Child;
}

/** The confirmations a redirect may name (`?done=KEY&name=…`): fixed sentences, so a link cannot put words here. */
const DONE: Record<string, (name: string) => string> = {
  'host.disable': (n) => `Host ${n} is disabled: its pushes are refused, what was mirrored is kept.`,
  'host.enable': (n) => `Host ${n} is enabled again.`,
  'user.add': (n) => `${n} can now sign in.`,
  'user.role': (n) => `The role of ${n} is changed; it applies from their next page.`,
  'user.disable': (n) => `${n} is disabled and signed out everywhere.`,
  'user.enable': (n) => `${n} can sign in again.`,
  'token.revoke': (n) => `API token ${n} is revoked: its next request is refused.`,
  'alert.ack': (n) => `The alert about ${n} is acknowledged.`,
};

/** What a confirmation may name: host names, user names and token ids are all of this shape. */
const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/** The errors of a form's own making, shown beside it; anything else (403, 503, …) is an error page. */
const FORM_ERRORS = new Set(['USAGE', 'BAD_INPUT', 'CONFLICT', 'NOT_FOUND']);

const done = (section: Section, key: keyof typeof DONE, name: string): string => `/admin/${section}?${new URLSearchParams({ done: key, name }).toString()}`;

const AdminFrame: FC<{ section: Section; c: Context<AppEnv>; children?: Child }> = ({ section, c, children }) => {
  const key = c.req.query('done');
  const name = c.req.query('name') ?? '';
  // Only the shape of a host, person or token name (no space): a crafted link cannot put a sentence of its own here.
  const say = key !== undefined && Object.hasOwn(DONE, key) && NAME_SHAPE.test(name) ? DONE[key]!(name) : undefined;
  return (
    <div class="admin">
      <nav class="subnav" aria-label="Admin sections">
        <ul>
          {SECTIONS.map((s) => (
            <li>
              <a href={`/admin/${s.key}`} aria-current={s.key === section ? 'page' : undefined}>
                {s.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {say !== undefined && (
        <p class="notice" role="status">
          {say}
        </p>
      )}
      {children}
    </div>
  );
};

const FormError: FC<{ form: string; state: PageState }> = ({ form, state }) =>
  state.error?.form === form ? (
    <p class="error-text" role="alert" id={`${form}-error`}>
      {state.error.message}
    </p>
  ) : null;

const Csrf: FC<{ c: Context<AppEnv> }> = ({ c }) => <input type="hidden" name="_csrf" value={webUser(c).csrf} />;

/** One button that posts one named value (disable, enable, revoke), its accessible name saying what it acts on. */
const ActionButton: FC<{ c: Context<AppEnv>; action: string; field: string; value: string; label: string; what: string; danger?: boolean }> = ({ c, action, field, value, label, what, danger }) => (
  <form method="post" action={action}>
    <Csrf c={c} />
    <input type="hidden" name={field} value={value} />
    <button type="submit" class={danger ? 'danger' : undefined} aria-label={`${label} ${what}`}>
      {label}
    </button>
  </form>
);

const RoleOptions: FC<{ selected: string | undefined }> = ({ selected }) => (
  <>
    {ROLES.map((r) => (
      <option value={r} selected={r === selected}>
        {r}
      </option>
    ))}
  </>
);

/** Text from outside (a token's name, a log's origin) in its own direction: a right-to-left override stays inside. */
const Ext: FC<{ children?: Child }> = ({ children }) => <bdi>{children}</bdi>;

// ---- Hosts

async function hostsPage(c: Context<AppEnv>, deps: ServerDeps, state: PageState = {}): Promise<Response> {
  const hosts = await listHosts(deps.db);
  const states = new Map((await logStates(deps.db, { hostIds: null }, { silentAfterMs: deps.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS })).map((s) => [s.host, s]));
  const err = state.error?.form === 'host-add' ? 'host-add-error' : undefined;
  return renderPage(
    c,
    { title: 'Hosts · Admin', nav: 'admin', status: state.status ?? 200 },
    <AdminFrame section="hosts" c={c}>
      <h1>Hosts</h1>
      <p class="muted">One host is one ledger. A host joins with a one-time token; a disabled host's pushes are refused and everything it pushed is kept.</p>
      {state.secret}
      <section class="card admin-form" aria-labelledby="host-add-h">
        <h2 id="host-add-h">Enrol a host</h2>
        <FormError form="host-add" state={state} />
        <form method="post" action="/admin/hosts" class="row">
          <Csrf c={c} />
          <div class="field">
            <label for="host-name">Host name</label>
            <input id="host-name" name="name" required maxlength={63} pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,62}" value={state.values?.name ?? ''} aria-describedby={err ? `host-name-hint ${err}` : 'host-name-hint'} />
            <span class="hint" id="host-name-hint">
              Letters, digits, . _ and -; the token is valid for 24 hours.
            </span>
          </div>
          <button type="submit" class="primary">
            Make a join token
          </button>
        </form>
      </section>
      <h2>All hosts</h2>
      <FormError form="host-row" state={state} />
      {hosts.length === 0 ? (
        <p class="muted">No hosts yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Status</th>
                <th scope="col">Origin</th>
                <th scope="col" class="num">
                  Witnessed
                </th>
                <th scope="col" class="num">
                  Mirrored
                </th>
                <th scope="col" class="num">
                  Conflicts
                </th>
                <th scope="col">Last push</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((h) => {
                const s = states.get(h.name);
                return (
                  <tr>
                    <th scope="row">{h.name}</th>
                    <td>
                      <span class={`badge ${h.status === 'active' ? 'ok' : h.status === 'disabled' ? 'warn' : 'neutral'}`}>{h.status === 'pending' ? 'not joined' : h.status}</span>
                      {h.hold !== null && <span class="badge bad">held</span>}
                      {h.status === 'active' && s?.silent === true && <span class="badge warn">silent</span>}
                    </td>
                    <td class="mono">{h.origin === null ? <span class="muted">—</span> : <Ext>{h.origin}</Ext>}</td>
                    <td class="num">{h.witness_size ?? '—'}</td>
                    <td class="num">{h.witness_only ? <span class="muted">witnessed only</span> : (h.mirror_size ?? '—')}</td>
                    <td class="num">{h.conflicts > 0 ? <span class="badge bad">{h.conflicts}</span> : '0'}</td>
                    <td>{s?.lastPushAt ? <Time iso={s.lastPushAt} /> : <span class="muted">never</span>}</td>
                    <td class="actions">
                      {h.status === 'active' && <ActionButton c={c} action="/admin/hosts/disable" field="name" value={h.name} label="Disable" what={h.name} danger />}
                      {h.status === 'disabled' && <ActionButton c={c} action="/admin/hosts/enable" field="name" value={h.name} label="Enable" what={h.name} />}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </AdminFrame>,
  );
}

const JoinToken: FC<{ name: string; token: string; expires: Date; url: string }> = ({ name, token, expires, url }) => (
  <section class="card secret" aria-labelledby="secret-h">
    <h2 id="secret-h">Join token for {name}</h2>
    <p>
      Shown this once: copy it now. It can be used once, until <Time iso={expires.toISOString()} />.
    </p>
    <p class="secret-value mono">{token}</p>
    <p>On the host, with its ledger, run:</p>
    <pre>{`echo ${token} | ffaudit join ${url}`}</pre>
    <p class="muted">
      <code>ffaudit join</code> reads the token from standard input (or --token-file), never from its command line.
    </p>
  </section>
);

// ---- People

async function peoplePage(c: Context<AppEnv>, deps: ServerDeps, state: PageState = {}): Promise<Response> {
  const me = webUser(c).user;
  const people = await listUsers(deps.db);
  const err = state.error?.form === 'user-add' ? 'user-add-error' : undefined;
  return renderPage(
    c,
    { title: 'People · Admin', nav: 'admin', status: state.status ?? 200 },
    <AdminFrame section="people" c={c}>
      <h1>People</h1>
      <p class="muted">A viewer sees runs, notes, lineage and receipts; an auditor also FFmpeg's reports, bundles, custody reports, exports and who looked at what; an admin also manages hosts, people and API tokens.</p>
      <h2>Everyone</h2>
      <FormError form="user-row" state={state} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Signs in with</th>
              <th scope="col">Added</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {people.map((u) => {
              const self = u.name === me;
              return (
                <tr>
                  <th scope="row">
                    {u.name}
                    {self && <span class="muted"> (you)</span>}
                  </th>
                  <td>
                    {self ? (
                      u.role
                    ) : (
                      <form method="post" action="/admin/people/role" class="row compact">
                        <Csrf c={c} />
                        <input type="hidden" name="name" value={u.name} />
                        <label for={`role-${u.id}`} class="visually-hidden">
                          Role of {u.name}
                        </label>
                        <select id={`role-${u.id}`} name="role">
                          <RoleOptions selected={u.role} />
                        </select>
                        <button type="submit" aria-label={`Change the role of ${u.name}`}>
                          Change
                        </button>
                      </form>
                    )}
                  </td>
                  <td>{[u.has_password ? 'password' : '', u.oidc_subject !== null ? 'OpenID Connect' : ''].filter(Boolean).join(', ') || <span class="muted">nothing</span>}</td>
                  <td>
                    <Time iso={u.created_at.toISOString()} />
                  </td>
                  <td>{u.disabled_at === null ? <span class="badge ok">active</span> : <span class="badge warn">disabled</span>}</td>
                  <td class="actions">
                    {!self && (
                      u.disabled_at === null ? (
                        <ActionButton c={c} action="/admin/people/disable" field="name" value={u.name} label="Disable" what={u.name} danger />
                      ) : (
                        <ActionButton c={c} action="/admin/people/enable" field="name" value={u.name} label="Enable" what={u.name} />
                      )
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <section class="card admin-form" aria-labelledby="user-add-h">
        <h2 id="user-add-h">Add a person</h2>
        <FormError form="user-add" state={state} />
        <form method="post" action="/admin/people" class="row">
          <Csrf c={c} />
          <div class="field">
            <label for="user-name">User name</label>
            <input id="user-name" name="name" required maxlength={64} autocomplete="off" value={state.values?.name ?? ''} aria-describedby={err} />
          </div>
          <div class="field">
            <label for="user-role">Role</label>
            <select id="user-role" name="role">
              <RoleOptions selected={state.values?.role ?? 'viewer'} />
            </select>
          </div>
          <div class="field">
            <label for="user-password">Password</label>
            <input id="user-password" name="password" type="password" required minlength={12} maxlength={1024} autocomplete="new-password" aria-describedby="user-password-hint" />
          </div>
          <div class="field">
            <label for="user-password2">Password again</label>
            <input id="user-password2" name="password2" type="password" required minlength={12} maxlength={1024} autocomplete="new-password" />
          </div>
          <button type="submit" class="primary">
            Add
          </button>
        </form>
        <p class="hint" id="user-password-hint">
          At least 12 characters: a passphrase. Give it to the person over a channel of its own.
        </p>
      </section>
    </AdminFrame>,
  );
}

// ---- API tokens

async function tokensPage(c: Context<AppEnv>, deps: ServerDeps, state: PageState = {}): Promise<Response> {
  const tokens = await listTokens(deps.db);
  const err = state.error?.form === 'token-add' ? 'token-add-error' : undefined;
  return renderPage(
    c,
    { title: 'API tokens · Admin', nav: 'admin', status: state.status ?? 200 },
    <AdminFrame section="tokens" c={c}>
      <h1>API tokens</h1>
      <p class="muted">
        Programs read the JSON API at <code>/api/v1</code> with a bearer token. Only a token's SHA-256 is kept: a lost token cannot be shown again, make a new one.
      </p>
      {state.secret}
      <section class="card admin-form" aria-labelledby="token-add-h">
        <h2 id="token-add-h">Make a token</h2>
        <FormError form="token-add" state={state} />
        <form method="post" action="/admin/tokens" class="row">
          <Csrf c={c} />
          <div class="field">
            <label for="token-name">What it is for</label>
            <input id="token-name" name="name" required maxlength={100} autocomplete="off" value={state.values?.name ?? ''} aria-describedby={err} />
          </div>
          <div class="field">
            <label for="token-role">Role</label>
            <select id="token-role" name="role">
              <RoleOptions selected={state.values?.role ?? 'viewer'} />
            </select>
          </div>
          <button type="submit" class="primary">
            Make a token
          </button>
        </form>
      </section>
      <h2>All tokens</h2>
      <FormError form="token-row" state={state} />
      {tokens.length === 0 ? (
        <p class="muted">No API tokens yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col" class="num">
                  ID
                </th>
                <th scope="col">For</th>
                <th scope="col">Role</th>
                <th scope="col">Made</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr>
                  <td class="num">{t.id}</td>
                  <th scope="row">
                    <Ext>{t.name}</Ext>
                  </th>
                  <td>{t.role}</td>
                  <td>
                    <Time iso={t.created_at} />
                  </td>
                  <td>{t.last_used_at ? <Time iso={t.last_used_at} /> : <span class="muted">never</span>}</td>
                  <td>
                    {t.revoked_at ? (
                      <span class="badge warn">
                        revoked <Time iso={t.revoked_at} />
                      </span>
                    ) : (
                      <span class="badge ok">active</span>
                    )}
                  </td>
                  <td class="actions">
                    {!t.revoked_at && (
                      <ActionButton c={c} action="/admin/tokens/revoke" field="id" value={String(t.id)} label="Revoke" what={`token ${t.id}`} danger />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </AdminFrame>,
  );
}

const ApiToken: FC<{ id: number; name: string; role: Role; token: string }> = ({ id, name, role, token }) => (
  <section class="card secret" aria-labelledby="secret-h">
    <h2 id="secret-h">
      Token {id} ({role}) for <Ext>{name}</Ext>
    </h2>
    <p>Shown this once: copy it now into the program's configuration.</p>
    <p class="secret-value mono">{token}</p>
    <p class="muted">Send it as the header Authorization: Bearer followed by the token.</p>
  </section>
);

// ---- Routes

const roleOf = (text: string | undefined): Role => {
  if (!isRole(text)) throw new FfauditError('USAGE', `role: one of ${ROLES.join(', ')}`);
  return text;
};

export function adminRoutes(app: Hono<AppEnv>, deps: ServerDeps): void {
  const admin = requireWebRole('admin');

  /**
   * One admin form: read (CSRF-checked, outside the try: a forged form is a 403 page), then `act`; an error of the
   * form's own making is shown beside form `key` with its status, the values typed kept but no password.
   */
  const handle =
    (page: (c: Context<AppEnv>, deps: ServerDeps, s?: PageState) => Promise<Response>, key: string, act: (c: Context<AppEnv>, f: Record<string, string>) => Promise<Response>) =>
    async (c: Context<AppEnv>): Promise<Response> => {
      const f = await readForm(c);
      try {
        return await act(c, f);
      } catch (e) {
        if (!(e instanceof FfauditError) || !FORM_ERRORS.has(e.code)) throw e;
        const { name = '', role = '' } = f;
        return page(c, deps, { status: httpStatusFor(e), error: { form: key, message: e.message.split('\n')[0]! }, values: { name, role } });
      }
    };

  /** The admin's own account is never disabled or demoted from here: there is always an admin who can undo. */
  const notSelf = (c: Context<AppEnv>, name: string, what: string): void => {
    if (name === webUser(c).user) throw new FfauditError('CONFLICT', `you cannot ${what} your own account here: another admin can (or ffaudit serve users)`);
  };

  app.get('/admin', admin, (c) => c.redirect('/admin/hosts', 303));
  app.get('/admin/hosts', admin, (c) => hostsPage(c, deps));
  app.get('/admin/people', admin, (c) => peoplePage(c, deps));
  app.get('/admin/tokens', admin, (c) => tokensPage(c, deps));

  app.post(
    '/admin/hosts',
    admin,
    handle(hostsPage, 'host-add', async (c, f) => {
      const name = (f.name ?? '').trim();
      await recordAccess(c, { action: 'admin.host.add', query: `host=${name}` });
      const { token, expires } = await addHost(deps.db, name);
      return hostsPage(c, deps, { secret: <JoinToken name={name} token={token} expires={expires} url={new URL(c.req.url).origin} /> });
    }),
  );
  for (const [what, fn] of [
    ['disable', disableHost],
    ['enable', enableHost],
  ] as const) {
    app.post(
      `/admin/hosts/${what}`,
      admin,
      handle(hostsPage, 'host-row', async (c, f) => {
        const name = f.name ?? '';
        await recordAccess(c, { action: `admin.host.${what}`, query: `host=${name}` });
        await fn(deps.db, name);
        return c.redirect(done('hosts', `host.${what}`, name), 303);
      }),
    );
  }

  app.post(
    '/admin/people',
    admin,
    handle(peoplePage, 'user-add', async (c, f) => {
      const name = (f.name ?? '').trim();
      const role = roleOf(f.role);
      checkUserName(name);
      checkNewPassword(f.password ?? '');
      if (f.password !== f.password2) throw new FfauditError('USAGE', 'the two passwords differ');
      await recordAccess(c, { action: 'admin.user.add', query: `user=${name} role=${role}` });
      await addUser(deps.db, name, role, f.password ?? '');
      return c.redirect(done('people', 'user.add', name), 303);
    }),
  );
  app.post(
    '/admin/people/role',
    admin,
    handle(peoplePage, 'user-row', async (c, f) => {
      const name = f.name ?? '';
      const role = roleOf(f.role);
      if (role !== 'admin') notSelf(c, name, 'demote');
      await recordAccess(c, { action: 'admin.user.role', query: `user=${name} role=${role}` });
      await setUserRole(deps.db, name, role);
      return c.redirect(done('people', 'user.role', name), 303);
    }),
  );
  for (const [what, fn] of [
    ['disable', disableUser],
    ['enable', enableUser],
  ] as const) {
    app.post(
      `/admin/people/${what}`,
      admin,
      handle(peoplePage, 'user-row', async (c, f) => {
        const name = f.name ?? '';
        notSelf(c, name, what);
        await recordAccess(c, { action: `admin.user.${what}`, query: `user=${name}` });
        await fn(deps.db, name);
        return c.redirect(done('people', `user.${what}`, name), 303);
      }),
    );
  }

  app.post(
    '/admin/tokens',
    admin,
    handle(tokensPage, 'token-add', async (c, f) => {
      const name = f.name ?? '';
      const role = roleOf(f.role);
      await recordAccess(c, { action: 'admin.token.add', query: `token=${JSON.stringify(name)} role=${role}` });
      const { id, token } = await addToken(deps.db, name, role);
      return tokensPage(c, deps, { secret: <ApiToken id={id} name={name} role={role} token={token} /> });
    }),
  );
  app.post(
    '/admin/tokens/revoke',
    admin,
    handle(tokensPage, 'token-row', async (c, f) => {
      const id = f.id ?? '';
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new FfauditError('USAGE', 'a token id is a positive integer');
      await recordAccess(c, { action: 'admin.token.revoke', query: `token=${id}` });
      await revokeToken(deps.db, Number(id));
      return c.redirect(done('tokens', 'token.revoke', id), 303);
    }),
  );

  // The Acknowledge button of every page's alerts (layout.tsx): an alert stays on every page until an admin says
  // it was seen; the acknowledgement names the host and the alert in the access log, and the alert stays in the
  // conflicts and checks it came from.
  app.post('/admin/alerts/ack', admin, async (c) => {
    const f = await readForm(c);
    const ref = /^[1-9][0-9]{0,15}$/.test(f.ref ?? '') ? Number(f.ref) : NaN;
    const alert = (await activeAlerts(deps.db)).find((a) => a.kind === f.kind && a.ref === ref);
    if (!alert) throw new FfauditError('NOT_FOUND', 'there is no such alert awaiting acknowledgement (acknowledged already?)');
    await recordAccess(c, { action: 'alert.ack', query: `host=${alert.host} ${alert.kind}=${alert.ref}: ${alert.text}` });
    await acknowledgeAlert(deps.db, alert.kind, alert.ref, webUser(c).user);
    return c.redirect(done('hosts', 'alert.ack', alert.host), 303);
  });
}
