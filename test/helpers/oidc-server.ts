// A real OpenID Connect provider on loopback (the `oidc-provider` package, certified by the
// OpenID Foundation), for web sign-in tests: its own login form (any user name the test has
// registered), its consent page, refresh tokens, and userinfo. Users can be removed while it
// runs, as an administrator would, to test revalidation.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface OidcUser {
  email: string;
  email_verified?: boolean;
  groups?: string[];
  /** Google's hosted-domain claim. */
  hd?: string;
}

export interface RunningOidc {
  issuer: string;
  clientId: string;
  clientSecret: string;
  users: Map<string, OidcUser>;
  close(): Promise<void>;
}

export interface OidcOptions {
  redirectUris: string[];
  users: Record<string, OidcUser>;
  /** Access token lifetime in seconds (default 3600): short ones make regauth re-check soon. */
  accessTokenTtl?: number;
  /** Whether refresh tokens are handed out (default true). */
  refreshTokens?: boolean;
  /** Listen here (default: any free port), so a server configured before this one starts can name the issuer. */
  port?: number;
}

export async function startOidc(o: OidcOptions): Promise<RunningOidc> {
  const users = new Map(Object.entries(o.users));
  const clientId = "regauth-test";
  const clientSecret = "oidc-client-secret-for-tests-0123456789";
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(o.port ?? 0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: o.redirectUris, grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] }],
    async findAccount(_ctx: unknown, id: string) {
      const u = users.get(id);
      if (!u) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, email: u.email, email_verified: u.email_verified ?? true, ...(u.groups ? { groups: u.groups } : {}), ...(u.hd ? { hd: u.hd } : {}) }) };
    },
    claims: { openid: ["sub"], email: ["email", "email_verified", "hd"], groups: ["groups"] },
    // Claims in the ID token itself, as Google and most providers send them.
    conformIdTokenClaims: false,
    issueRefreshToken: async () => o.refreshTokens ?? true,
    ttl: { AccessToken: o.accessTokenTtl ?? 3600, IdToken: 3600, AuthorizationCode: 60, RefreshToken: 86_400, Session: 3600, Interaction: 600, Grant: 86_400 },
    cookies: { keys: ["oidc-test-cookie-key-0123456789abcdef"] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    // The provider's own page for a refused login is enough for tests.
    renderError: async (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = "html";
      ctx.body = `<!doctype html><title>error</title><p id="error">${(out["error"] ?? "").replace(/[<&]/g, "")}</p>`;
    },
  });
  // The dev interactions warn on stderr at every start; a test log does not need that.
  provider.on("server_error", () => undefined);
  const callback = provider.callback();
  server.on("request", callback);
  return {
    issuer,
    clientId,
    clientSecret,
    users,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
