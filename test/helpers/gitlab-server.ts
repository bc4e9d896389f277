// A stand-in for GitLab's OAuth 2 provider and the endpoints gitlab_auth calls, on 127.0.0.1,
// written from GitLab's public documentation (OAuth 2.0 identity provider API; GitLab as OpenID
// Connect identity provider; REST: users). The web endpoints are at the root, the REST API under
// /api/v4, as on gitlab.com.
//
// What it models: one application (client id, secret, redirect URI that must match exactly,
// allowed scopes); the authorize endpoint auto-approving as the user the test names (or
// redirecting with error=access_denied when told; invalid_scope for scopes the application does
// not allow; a 400 page for a wrong redirect URI, as GitLab does not redirect then); one-use
// codes (ten minutes) bound to the redirect URI and the PKCE challenge (S256 or plain); the token
// endpoint's OAuth 2 errors (401 invalid_client, 400 invalid_grant); access tokens that expire
// (two hours by default) with rotating refresh tokens; RFC 7009 revocation (`POST /oauth/revoke`,
// revoking the access token and its refresh token together, as Doorkeeper does); `GET
// /api/v4/user` (401 for a missing, revoked or expired token, 403 for a blocked user or a token
// without read_user/read_api/api); `GET /oauth/userinfo` with the `groups` claim (the paths of
// the groups the user is a member of directly or through an ancestor group) for openid tokens.
// Not modeled: ID tokens, group invitations and shared groups, access levels, the rest of the API.
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthorizationCodes, formParams, htmlPage, json, readBody, redirectBack, startStandInServer, TokenGrants, verifierMatches, type Challenge, type ForgeStandIn, type StandInRequest, type TokenGrant } from "./oauth-standin.js";

export interface GitLabStandInOptions {
  clientId: string;
  clientSecret: string;
  /** The application's redirect URI. */
  redirectUri: string;
  /** Scopes the application allows (default: read_user, openid). */
  scopes?: string[];
  /** Access token lifetime in seconds (GitLab: 7200). */
  tokenLifetimeSeconds?: number;
}

interface Grant extends TokenGrant {
  username: string;
  scopes: string[];
  refreshToken: string;
  expiresAt: number;
}

/** What an authorization code stands for. */
interface Code {
  username: string;
  scopes: string[];
  redirectUri: string;
  challenge?: Challenge;
}

export interface GitLabStandIn extends ForgeStandIn {
  /** Creates a group by its full path (its parents must exist). */
  addGroup(path: string): void;
  addMember(group: string, username: string): void;
  removeMember(group: string, username: string): void;
  block(username: string): void;
  /** Revokes a token through RFC 7009 revocation, as the user revoking the application would. */
  revoke(token: string): Promise<void>;
}

const random = () => randomBytes(32).toString("hex");
const INVALID_GRANT = {
  error: "invalid_grant",
  error_description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
};
const INVALID_CLIENT = { error: "invalid_client", error_description: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method." };

export async function startGitLabStandIn(opts: GitLabStandInOptions): Promise<GitLabStandIn> {
  const allowed = opts.scopes ?? ["read_user", "openid"];
  const lifetime = opts.tokenLifetimeSeconds ?? 7200;
  const users = new Map<string, { id: number; blocked: boolean }>();
  const groups = new Set<string>();
  const direct = new Map<string, Set<string>>();
  const codes = new AuthorizationCodes<Code>();
  const grants = new TokenGrants<Grant>();
  const requests: StandInRequest[] = [];
  const tokenRequests: Record<string, string>[] = [];
  let signedIn: string | undefined;
  let deny = false;
  let nextId = 100;

  const server = await startStandInServer(handle);
  const base = server.base;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", base);
    requests.push({ method: req.method ?? "", path: url.pathname, authorized: req.headers.authorization !== undefined });
    const body = await readBody(req);
    const form = () => formParams(req, body);
    if (url.pathname === "/oauth/authorize" && req.method === "GET") return authorize(url, res);
    if (url.pathname === "/oauth/token" && req.method === "POST") return token(req, form(), res);
    if (url.pathname === "/oauth/revoke" && req.method === "POST") return revokeEndpoint(req, form(), res);
    if (url.pathname === "/oauth/userinfo" && (req.method === "GET" || req.method === "POST")) return userinfo(req, res);
    if (url.pathname === "/api/v4/user" && req.method === "GET") return user(req, res);
    if (url.pathname.startsWith("/api/v4/")) return json(res, 404, { message: "404 Not Found" });
    html(res, 404, "<h1>404</h1>");
  }

  function authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    if (q.get("client_id") !== opts.clientId) return html(res, 401, "<h1>An error has occurred</h1><p>Client authentication failed due to unknown client.</p>");
    const redirect = q.get("redirect_uri");
    if (redirect !== opts.redirectUri) return html(res, 400, "<h1>An error has occurred</h1><p>The redirect URI included is not valid.</p>");
    const state = q.get("state");
    const back = (params: Record<string, string>) => redirectBack(res, redirect, state === null ? params : { ...params, state });
    if (q.get("response_type") !== "code") return back({ error: "unsupported_response_type", error_description: "The authorization server does not support this response type." });
    const scopes = (q.get("scope") ?? "read_user").split(" ").filter(Boolean);
    if (scopes.some((s) => !allowed.includes(s))) return back({ error: "invalid_scope", error_description: "The requested scope is invalid, unknown, or malformed." });
    const challenge = q.get("code_challenge");
    const method = q.get("code_challenge_method") ?? "plain";
    if (challenge !== null && method !== "S256" && method !== "plain") return back({ error: "invalid_request", error_description: "The code_challenge_method is not supported." });
    if (signedIn === undefined) return html(res, 200, "<h1>Sign in</h1>");
    if (deny) return back({ error: "access_denied", error_description: "The resource owner or authorization server denied the request." });
    const code = random();
    codes.issue(code, { username: signedIn, scopes, redirectUri: redirect, challenge: challenge === null ? undefined : { value: challenge, method: method as Challenge["method"] } });
    back({ code });
  }

  function clientOk(req: IncomingMessage, p: Record<string, string>): boolean {
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const [id, secret] = basic ? Buffer.from(basic[1]!, "base64").toString().split(":") : [p["client_id"], p["client_secret"]];
    return id === opts.clientId && secret === opts.clientSecret;
  }

  function token(req: IncomingMessage, p: Record<string, string>, res: ServerResponse): void {
    const { client_secret: _secret, ...shown } = p;
    tokenRequests.push(shown);
    if (!clientOk(req, p)) return json(res, 401, INVALID_CLIENT);
    if (p["grant_type"] === "refresh_token") {
      const old = grants.useRefreshToken(p["refresh_token"]);
      if (!old) return json(res, 400, INVALID_GRANT);
      return json(res, 200, issue(old.username, old.scopes));
    }
    if (p["grant_type"] !== "authorization_code") return json(res, 400, { error: "unsupported_grant_type", error_description: "The authorization grant type is not supported by the authorization server." });
    const code = codes.redeem(p["code"]);
    if (!code) return json(res, 400, INVALID_GRANT);
    if (p["redirect_uri"] !== code.redirectUri) return json(res, 400, INVALID_GRANT);
    if (!verifierMatches(code.challenge, p["code_verifier"])) return json(res, 400, INVALID_GRANT);
    json(res, 200, issue(code.username, code.scopes));
  }

  function issue(username: string, scopes: string[]): Record<string, unknown> {
    const g: Grant = { username, scopes, accessToken: random(), refreshToken: random(), expiresAt: Date.now() + lifetime * 1000, revoked: false };
    grants.add(g);
    return { access_token: g.accessToken, token_type: "Bearer", expires_in: lifetime, refresh_token: g.refreshToken, scope: scopes.join(" "), created_at: Math.floor(Date.now() / 1000) };
  }

  function revokeEndpoint(req: IncomingMessage, p: Record<string, string>, res: ServerResponse): void {
    if (!clientOk(req, p)) return json(res, 403, { error: "unauthorized_client", error_description: "You are not authorized to revoke this token" });
    const g = grants.byAccessToken(p["token"] ?? "") ?? grants.byRefreshToken(p["token"] ?? "");
    if (g) g.revoked = true;
    json(res, 200, {});
  }

  /** The grant behind a Bearer token, or the 401 GitLab gives. */
  function authenticate(req: IncomingMessage, res: ServerResponse): Grant | undefined {
    const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const g = m ? grants.byAccessToken(m[1]!) : undefined;
    if (!m) json(res, 401, { message: "401 Unauthorized" });
    else if (!g) json(res, 401, { error: "invalid_token", error_description: "Token is invalid" });
    else if (g.revoked) json(res, 401, { error: "invalid_token", error_description: "Token was revoked. You have to re-authorize from the user." });
    else if (g.expiresAt <= Date.now()) json(res, 401, { error: "invalid_token", error_description: "Token is expired. You can either do re-authorization or token refresh." });
    else return g;
    return undefined;
  }

  function user(req: IncomingMessage, res: ServerResponse): void {
    const g = authenticate(req, res);
    if (!g) return;
    if (!g.scopes.some((s) => ["read_user", "read_api", "api"].includes(s))) return json(res, 403, { error: "insufficient_scope", error_description: "The request requires higher privileges than provided by the access token.", scope: "api read_api read_user" });
    const u = users.get(g.username)!;
    if (u.blocked) return json(res, 403, { message: "403 Forbidden - Your account has been blocked." });
    json(res, 200, { id: u.id, username: g.username, name: g.username, state: "active", web_url: `${base}/${g.username}` });
  }

  function userinfo(req: IncomingMessage, res: ServerResponse): void {
    const g = authenticate(req, res);
    if (!g) return;
    if (!g.scopes.includes("openid")) return json(res, 403, { error: "insufficient_scope", error_description: "The request requires higher privileges than provided by the access token.", scope: "openid" });
    const u = users.get(g.username)!;
    const mine = direct.get(g.username) ?? new Set<string>();
    const member = [...groups].filter((grp) => [...mine].some((d) => grp === d || grp.startsWith(`${d}/`))).sort();
    json(res, 200, { sub: String(u.id), sub_legacy: createHash("sha256").update(String(u.id)).digest("hex"), name: g.username, nickname: g.username, preferred_username: g.username, profile: `${base}/${g.username}`, groups: member });
  }

  return {
    webUri: base,
    apiUri: `${base}/api/v4`,
    requests,
    tokenRequests,
    addUser: (username) => void users.set(username, { id: nextId++, blocked: false }),
    signInAs: (username) => void (signedIn = username),
    denyConsent: (d) => void (deny = d),
    addGroup(path) {
      const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : undefined;
      if (parent !== undefined && !groups.has(parent)) throw new Error(`no parent group ${parent}`);
      groups.add(path);
    },
    addMember(group, username) {
      if (!groups.has(group)) throw new Error(`no group ${group}`);
      if (!direct.has(username)) direct.set(username, new Set());
      direct.get(username)!.add(group);
    },
    removeMember: (group, username) => void direct.get(username)?.delete(group),
    block: (username) => void (users.get(username)!.blocked = true),
    async revoke(t) {
      const res = await fetch(`${base}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: t, client_id: opts.clientId, client_secret: opts.clientSecret }).toString() });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`revoking the token: ${res.status}`);
    },
    expire: (accessToken) => grants.expire(accessToken),
    close: server.close,
  };
}

function html(res: ServerResponse, status: number, text: string): void {
  htmlPage(res, status, "GitLab", text);
}
