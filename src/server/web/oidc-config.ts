/**
 * What `serve --oidc-*` configures: the OpenID Provider, this server's client registration there, and how a claim of
 * the person's becomes a role here. Its own module, free of the app's types, so that ServerDeps can hold it.
 */
import { readFileSync } from 'node:fs';
import { FfauditError } from '../../core/errors.js';

type Role = 'viewer' | 'auditor' | 'admin';
const ROLE_NAMES: readonly Role[] = ['viewer', 'auditor', 'admin'];

export interface OidcConfig {
  /** The issuer identifier (OpenID Connect Discovery 1.0 §4: its /.well-known/openid-configuration is read). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The claim of the ID token or UserInfo whose value (a string or an array of strings) decides the role. */
  roleClaim: string;
  /** Claim value → role; a person with several matching values gets the highest of their roles. */
  roles: ReadonlyMap<string, Role>;
}

export interface OidcOptions {
  oidcIssuer?: string | undefined;
  oidcClientId?: string | undefined;
  oidcClientSecretFile?: string | undefined;
  oidcRoleClaim?: string | undefined;
  oidcRoles?: string | undefined;
}

/** `'VALUE=role,VALUE=role'`: a value is any text without `=` or `,` (group names, e.g. ffaudit-admins). */
export function parseRoleMapping(text: string): Map<string, Role> {
  const m = new Map<string, Role>();
  for (const part of text.split(',')) {
    const eq = part.lastIndexOf('=');
    const value = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim();
    if (eq < 1 || value === '' || value.includes('=') || !(ROLE_NAMES as readonly string[]).includes(role)) {
      throw new FfauditError('USAGE', `--oidc-roles ${JSON.stringify(part)}: expected VALUE=role, role one of ${ROLE_NAMES.join(', ')}`);
    }
    if (m.has(value)) throw new FfauditError('USAGE', `--oidc-roles: ${JSON.stringify(value)} is mapped twice`);
    m.set(value, role as Role);
  }
  return m;
}

/**
 * The OpenID Connect configuration of `serve`'s options: none when no --oidc-* option is given, else all five
 * (a partial configuration is a mistake to report, not to run with). `secretFile` is an absolute path; the secret is
 * read from a file, never taken from the command line, where `ps` shows it.
 */
export function parseOidcOptions(o: OidcOptions): OidcConfig | undefined {
  const given = [o.oidcIssuer, o.oidcClientId, o.oidcClientSecretFile, o.oidcRoleClaim, o.oidcRoles];
  if (given.every((v) => v === undefined)) return undefined;
  if (given.some((v) => v === undefined)) throw new FfauditError('USAGE', 'OpenID Connect needs all of --oidc-issuer, --oidc-client-id, --oidc-client-secret-file, --oidc-role-claim and --oidc-roles');
  let issuer: URL;
  try {
    issuer = new URL(o.oidcIssuer!);
  } catch {
    throw new FfauditError('USAGE', `--oidc-issuer ${JSON.stringify(o.oidcIssuer)}: not a URL`);
  }
  // OpenID Connect Core 1.0 §3.1.2.1: https only; plain http only to this machine (a provider under test).
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLoopback(issuer.hostname))) {
    throw new FfauditError('USAGE', '--oidc-issuer: an https:// URL (http:// only on this machine)');
  }
  let secret: string;
  try {
    secret = readFileSync(o.oidcClientSecretFile!, 'utf8').trim();
  } catch (e) {
    throw new FfauditError('USAGE', `--oidc-client-secret-file: cannot read ${o.oidcClientSecretFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (secret === '' || /[\r\n]/.test(secret)) throw new FfauditError('USAGE', '--oidc-client-secret-file: the file holds the client secret alone, on one line');
  if (!/^[A-Za-z0-9_.:/-]{1,200}$/.test(o.oidcRoleClaim!)) throw new FfauditError('USAGE', '--oidc-role-claim: a claim name, e.g. groups');
  return { issuer: o.oidcIssuer!, clientId: o.oidcClientId!, clientSecret: secret, roleClaim: o.oidcRoleClaim!, roles: parseRoleMapping(o.oidcRoles!) };
}

export const isLoopback = (hostname: string): boolean => hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
