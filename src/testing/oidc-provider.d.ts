// The part of oidc-provider (v9, which ships no types) that the OpenID Connect tests use: an OpenID Provider whose
// request handler serves discovery, authorization, the dev login and consent pages, token and UserInfo.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
