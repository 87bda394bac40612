/**
 * Sign-in through an OpenID Provider (OpenID Connect Core 1.0, authorization code flow) with openid-client: PKCE
 * (RFC 7636, S256), state and nonce, the ID token checked by the library (issuer, audience, signature, nonce) and the
 * `iss` of the answer when the provider sends it (RFC 9207). What the flow must remember between the two requests
 * (the PKCE verifier, state, nonce, where to go after) is in a short-lived HttpOnly cookie of its own path, never in
 * a URL.
 *
 * The person's account here is found by `issuer + ' ' + sub` (accounts.ts oidcAccount), made at the first sign-in,
 * and its role follows the role claim at every sign-in: a person whose claim maps to no role is refused.
 */
import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
// Types only here: openid-client is loaded when a sign-in through the provider first happens, never for a server
// without OpenID Connect.
import type * as Oidc from 'openid-client';
import { FfauditError } from '../../core/errors.js';
import type { AppEnv, ServerDeps } from '../deps.js';
import { oidcAccount, oidcUserName } from './accounts.js';
import { isLoopback, type OidcConfig } from './oidc-config.js';
import { safeNext, signinForm } from './pages/signin.js';
import { recordAccess } from './request.js';
import { startSession } from './session.js';

export type { OidcConfig } from './oidc-config.js';
export { parseOidcOptions } from './oidc-config.js';

const FLOW_PATH = '/signin/oidc';
const FLOW_MAX_AGE_S = 600;
/** What is asked of the provider: the subject, a name to show, and the role claim (in the ID token or UserInfo). */
const SCOPE = 'openid profile email';
const RANK = { viewer: 0, auditor: 1, admin: 2 } as const;

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
}

const flowCookie = (c: Context<AppEnv>): string => (c.get('deps').tls ? '__Host-ffaudit-oidc' : 'ffaudit-oidc');

function readFlow(c: Context<AppEnv>): Flow | undefined {
  const raw = getCookie(c, flowCookie(c));
  if (raw === undefined) return undefined;
  deleteCookie(c, flowCookie(c), { path: FLOW_PATH, secure: Boolean(c.get('deps').tls) });
  try {
    const f = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Flow>;
    return typeof f.state === 'string' && typeof f.nonce === 'string' && typeof f.verifier === 'string' && typeof f.next === 'string' ? (f as Flow) : undefined;
  } catch {
    return undefined;
  }
}

/** The highest role any value of the claim (a string or an array of strings) maps to, if any. */
export function roleFromClaim(value: unknown, roles: OidcConfig['roles']): 'viewer' | 'auditor' | 'admin' | undefined {
  const values = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  let best: 'viewer' | 'auditor' | 'admin' | undefined;
  for (const v of values) {
    const r = roles.get(v);
    if (r !== undefined && (best === undefined || RANK[r] > RANK[best])) best = r;
  }
  return best;
}

/** The sign-in routes of OpenID Connect: GET /signin/oidc starts the flow, GET /signin/oidc/callback ends it. */
export function oidcRoutes(app: Hono<AppEnv>, deps: ServerDeps, config: OidcConfig): void {
  const issuer = new URL(config.issuer);
  // Discovered once, when first needed; a provider that was down is asked again at the next sign-in.
  let discovered: Promise<Oidc.Configuration> | undefined;
  const configuration = (): Promise<Oidc.Configuration> =>
    (discovered ??= import('openid-client')
      .then((oidc) =>
        oidc.discovery(issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret), {
          timeout: 10,
          execute: issuer.protocol === 'http:' && isLoopback(issuer.hostname) ? [oidc.allowInsecureRequests] : [],
        }),
      )
      .catch((e: unknown) => {
        discovered = undefined;
        throw e;
      }));
  const unreachable = (c: Context<AppEnv>, next: string, e: unknown) => {
    deps.log(`error: OpenID provider ${issuer.host}: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
    return signinForm(c, { next, error: `The sign-in service ${issuer.host} cannot be reached; try again shortly.`, status: 502 });
  };
  const redirectUri = (c: Context<AppEnv>) => `${new URL(c.req.url).origin}${FLOW_PATH}/callback`;

  app.get(FLOW_PATH, async (c) => {
    const next = safeNext(c.req.query('next'));
    const oidc = await import('openid-client');
    let cfg: Oidc.Configuration;
    try {
      cfg = await configuration();
    } catch (e) {
      return unreachable(c, next, e);
    }
    const flow: Flow = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), next };
    // SameSite=Lax: the provider sends the browser back with a top-level GET from its own site.
    setCookie(c, flowCookie(c), Buffer.from(JSON.stringify(flow)).toString('base64url'), { httpOnly: true, secure: Boolean(deps.tls), sameSite: 'Lax', path: FLOW_PATH, maxAge: FLOW_MAX_AGE_S });
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri(c),
      scope: SCOPE,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    return c.redirect(url.href, 303);
  });

  app.get(`${FLOW_PATH}/callback`, async (c) => {
    const flow = readFlow(c);
    if (!flow) return signinForm(c, { next: '/', error: 'This sign-in has expired or did not start here: try again.', status: 400 });
    const oidc = await import('openid-client');
    let cfg: Oidc.Configuration;
    try {
      cfg = await configuration();
    } catch (e) {
      return unreachable(c, flow.next, e);
    }
    const here = new URL(c.req.url);
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(cfg, here, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
      const id = tokens.claims()!;
      // Claims the ID token leaves out (OpenID Connect Core §5.4) come from UserInfo, for the same subject only.
      const info = await oidc.fetchUserInfo(cfg, tokens.access_token, id.sub);
      claims = { ...info, ...id };
    } catch (e) {
      // The provider's own refusal (error=access_denied, …) or an answer that does not verify: one line either way.
      deps.log(`OpenID sign-in refused: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
      await recordAccess(c, { action: 'signin.failed', user: '-' });
      return signinForm(c, { next: flow.next, error: `The sign-in through ${issuer.host} did not complete; try again.`, status: 401 });
    }
    const sub = String(claims.sub);
    const preferred = [claims.preferred_username, claims.email, sub].find((v): v is string => typeof v === 'string' && v !== '')!;
    const role = roleFromClaim(claims[config.roleClaim], config.roles);
    if (role === undefined) {
      await recordAccess(c, { action: 'signin.failed', user: oidcUserName(preferred) });
      return signinForm(c, { next: flow.next, error: `Your account at ${issuer.host} gives you no role here: ask an admin.`, status: 403 });
    }
    let account: { id: number; name: string };
    try {
      account = await oidcAccount(deps.db, `${config.issuer} ${sub}`, preferred, role);
    } catch (e) {
      if (!(e instanceof FfauditError) || (e.code !== 'FORBIDDEN' && e.code !== 'CONFLICT')) throw e;
      await recordAccess(c, { action: 'signin.failed', user: oidcUserName(preferred) });
      return signinForm(c, { next: flow.next, error: e.message, status: 403 });
    }
    await recordAccess(c, { action: 'signin', user: account.name });
    await startSession(c, account.id);
    return c.redirect(safeNext(flow.next), 303);
  });
}
