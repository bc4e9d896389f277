// A stand-in for GitHub's OAuth web flow and the REST endpoints github_auth calls, on 127.0.0.1,
// written from GitHub's public documentation (Authorizing OAuth apps; Troubleshooting OAuth app
// access token request errors; REST: users, orgs/members, teams, applications). It is laid out
// like GitHub Enterprise Server: the web flow at the root, the REST API under /api/v3.
//
// What it models: one OAuth app (client id, secret, registered callback URL); the authorize
// page auto-approving as the user the test names (or denying when told), with GitHub's rule
// that redirect_uri must be on the callback URL's host and port and under its path; one-use
// codes that expire after ten minutes, bound to the redirect_uri and PKCE S256 challenge of
// their authorization; token answers as GitHub gives them (HTTP 200 with an `error` field for
// bad codes and bad client credentials); optional expiring tokens with refresh tokens (a GitHub
// App's user tokens); `GET /user`; organization membership with GitHub's three answers (204,
// 404, and 302 to the public-members check when the requester is not a member or cannot see
// private membership for want of `read:org`); `GET /user/teams` paginated with Link headers;
// token revocation (`DELETE /applications/{client_id}/token`). A bad or revoked token gets 401
// {"message":"Bad credentials"}. Not modeled: device flow, rate limits, SAML SSO, GitHub Apps'
// installation tokens, e-mails, anything else of the API.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthorizationCodes, formParams, htmlPage, json, readBody, redirectBack, startStandInServer, TokenGrants, verifierMatches, type Challenge, type ForgeStandIn, type StandInRequest, type TokenGrant } from "./oauth-standin.js";

export interface GitHubStandInOptions {
  clientId: string;
  clientSecret: string;
  /** The OAuth app's registered callback URL. */
  callbackUrl: string;
  /** Issue tokens that expire after this many seconds, with refresh tokens (GitHub App user tokens). */
  tokenLifetimeSeconds?: number;
  /** The most teams per page `GET /user/teams` gives (GitHub: 100), to exercise pagination. */
  maxTeamsPerPage?: number;
}

interface Grant extends TokenGrant {
  login: string;
  scopes: string[];
}

/** What an authorization code stands for. */
interface Code {
  login: string;
  scopes: string[];
  redirectUri?: string;
  challenge?: Challenge;
}

interface Team {
  id: number;
  org: string;
  slug: string;
  parent?: string;
  members: Set<string>;
}

export interface GitHubStandIn extends ForgeStandIn {
  addOrgMember(org: string, login: string, opts?: { public?: boolean }): void;
  removeOrgMember(org: string, login: string): void;
  addTeam(org: string, slug: string, parent?: string): void;
  addTeamMember(org: string, slug: string, login: string): void;
  removeTeamMember(org: string, slug: string, login: string): void;
  /** Revokes a token through the API, as the app owner would (DELETE /applications/{client_id}/token). */
  revoke(accessToken: string): Promise<void>;
  /**
   * Stops listening (open connections are cut) but keeps every user, grant and code: GitHub
   * down for a while. `resume()` listens again on the same port, so its URLs stay valid.
   */
  suspend(): Promise<void>;
  resume(): Promise<void>;
}

const random = (prefix: string) => `${prefix}${randomBytes(18).toString("base64url")}`;
const DOCS = "https://docs.github.com/rest";

export async function startGitHubStandIn(opts: GitHubStandInOptions): Promise<GitHubStandIn> {
  const users = new Map<string, number>();
  const orgs = new Map<string, Map<string, { public: boolean }>>();
  const teams: Team[] = [];
  const codes = new AuthorizationCodes<Code>();
  const grants = new TokenGrants<Grant>();
  const requests: StandInRequest[] = [];
  const tokenRequests: Record<string, string>[] = [];
  let signedIn: string | undefined;
  let deny = false;
  let nextId = 1000;
  const callback = new URL(opts.callbackUrl);

  const server = await startStandInServer(handle);
  const base = server.base;
  const apiPrefix = "/api/v3";

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", base);
    requests.push({ method: req.method ?? "", path: url.pathname, authorized: req.headers.authorization !== undefined });
    const body = await readBody(req);
    if (url.pathname === "/login/oauth/authorize" && req.method === "GET") return authorize(url, res);
    if (url.pathname === "/login/oauth/access_token" && req.method === "POST") return token(req, body, res);
    if (!url.pathname.startsWith(`${apiPrefix}/`)) return html(res, 404, "<h1>404</h1>");
    const path = url.pathname.slice(apiPrefix.length);

    let m: RegExpExecArray | null;
    if ((m = /^\/applications\/([^/]+)\/token$/.exec(path)) && req.method === "DELETE") return revokeToken(decodeURIComponent(m[1]!), req, body, res);

    const grant = bearer(req);
    if (grant === "missing") return json(res, 401, { message: "Requires authentication", documentation_url: DOCS, status: "401" });
    if (grant === undefined) return json(res, 401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
    if (req.method !== "GET") return json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });

    if (path === "/user") return json(res, 200, { login: grant.login, id: users.get(grant.login), type: "User", site_admin: false });
    if ((m = /^\/orgs\/([^/]+)\/(members|public_members)\/([^/]+)$/.exec(path))) return membership(grant, decodeURIComponent(m[1]!), m[2] === "public_members", decodeURIComponent(m[3]!), res);
    if (path === "/user/teams") return userTeams(grant, url, res);
    return json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
  }

  function authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    if (q.get("client_id") !== opts.clientId) return html(res, 404, "<h1>404: this OAuth app does not exist</h1>");
    const state = q.get("state") ?? "";
    const given = q.get("redirect_uri") ?? undefined;
    const back = (target: string, params: Record<string, string>) => redirectBack(res, target, params);
    if (given !== undefined && !underCallback(given))
      return back(opts.callbackUrl, { error: "redirect_uri_mismatch", error_description: "The redirect_uri MUST match the registered callback URL for this application.", error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch", state });
    const redirect = given ?? opts.callbackUrl;
    const challenge = q.get("code_challenge") ?? undefined;
    if (challenge !== undefined && q.get("code_challenge_method") !== "S256") return back(redirect, { error: "invalid_request", error_description: "code_challenge_method must be S256", state });
    if (signedIn === undefined) return html(res, 200, "<h1>Sign in to GitHub</h1>");
    if (deny) return back(redirect, { error: "access_denied", error_description: "The user has denied your application access.", error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied", state });
    const code = randomBytes(10).toString("hex");
    const scopes = (q.get("scope") ?? "").split(/[\s,]+/).filter(Boolean);
    codes.issue(code, { login: signedIn, scopes, redirectUri: given, challenge: challenge === undefined ? undefined : { value: challenge, method: "S256" } });
    back(redirect, { code, state });
  }

  /** GitHub's rule: same host and port as the callback URL, path under its path. */
  function underCallback(given: string): boolean {
    let u: URL;
    try {
      u = new URL(given);
    } catch {
      return false;
    }
    const basePath = callback.pathname.replace(/\/+$/, "");
    return u.protocol === callback.protocol && u.host === callback.host && (u.pathname === callback.pathname || u.pathname.replace(/\/+$/, "") === basePath || u.pathname.startsWith(`${basePath}/`));
  }

  function token(req: IncomingMessage, body: string, res: ServerResponse): void {
    const p = formParams(req, body);
    const { client_secret: _secret, ...shown } = p;
    tokenRequests.push(shown);
    const answer = (v: Record<string, unknown>) => {
      if ((req.headers.accept ?? "").includes("application/json")) return json(res, 200, v);
      res.writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }).end(new URLSearchParams(Object.entries(v).map(([k, x]): [string, string] => [k, String(x)])).toString());
    };
    const fail = (error: string, error_description: string) => answer({ error, error_description, error_uri: `https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#${error.replaceAll("_", "-")}` });
    if (p["client_id"] !== opts.clientId || p["client_secret"] !== opts.clientSecret) return fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");

    if (p["grant_type"] === "refresh_token") {
      // Only expiring tokens come with refresh tokens.
      const old = grants.useRefreshToken(p["refresh_token"]);
      if (!old) return fail("bad_refresh_token", "The refresh token passed is incorrect or expired.");
      return answer(issue(old.login, old.scopes));
    }
    const code = codes.redeem(p["code"]);
    if (!code) return fail("bad_verification_code", "The code passed is incorrect or expired.");
    if (p["redirect_uri"] !== undefined && code.redirectUri !== undefined && p["redirect_uri"] !== code.redirectUri) return fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.");
    if (!verifierMatches(code.challenge, p["code_verifier"])) return fail("bad_verification_code", "The code passed is incorrect or expired.");
    answer(issue(code.login, code.scopes));
  }

  function issue(login: string, scopes: string[]): Record<string, unknown> {
    const g: Grant = { login, scopes, accessToken: random(opts.tokenLifetimeSeconds !== undefined ? "ghu_" : "gho_"), revoked: false };
    const out: Record<string, unknown> = { access_token: g.accessToken, token_type: "bearer", scope: scopes.join(",") };
    if (opts.tokenLifetimeSeconds !== undefined) {
      g.refreshToken = random("ghr_");
      g.expiresAt = Date.now() + opts.tokenLifetimeSeconds * 1000;
      Object.assign(out, { expires_in: opts.tokenLifetimeSeconds, refresh_token: g.refreshToken, refresh_token_expires_in: 15_897_600 });
    }
    grants.add(g);
    return out;
  }

  function bearer(req: IncomingMessage): Grant | "missing" | undefined {
    const h = req.headers.authorization;
    if (h === undefined) return "missing";
    const m = /^(?:bearer|token)\s+(\S+)$/i.exec(h);
    const g = m ? grants.byAccessToken(m[1]!) : undefined;
    if (!g || g.revoked || (g.expiresAt !== undefined && g.expiresAt <= Date.now())) return undefined;
    return g;
  }

  function membership(grant: Grant, org: string, publicOnly: boolean, login: string, res: ServerResponse): void {
    const members = [...orgs.entries()].find(([name]) => name.toLowerCase() === org.toLowerCase())?.[1];
    if (!members) return json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
    const find = (l: string) => [...members.entries()].find(([name]) => name.toLowerCase() === l.toLowerCase())?.[1];
    const target = find(login);
    if (publicOnly) return void (target?.public ? res.writeHead(204).end() : json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" }));
    const requester = find(grant.login);
    const seesPrivate = grant.scopes.includes("read:org") || grant.scopes.includes("admin:org");
    const requesterCounts = requester !== undefined && (requester.public || seesPrivate);
    if (!requesterCounts) {
      res.writeHead(302, { location: `${base}${apiPrefix}/orgs/${encodeURIComponent(org)}/public_members/${encodeURIComponent(login)}` }).end();
      return;
    }
    if (target !== undefined && (target.public || seesPrivate)) return void res.writeHead(204).end();
    json(res, 404, { message: "User does not exist or is not a member of the organization", documentation_url: DOCS, status: "404" });
  }

  function userTeams(grant: Grant, url: URL, res: ServerResponse): void {
    if (!grant.scopes.some((s) => ["read:org", "admin:org", "user", "repo"].includes(s))) return json(res, 403, { message: "Resource not accessible by integration", documentation_url: DOCS, status: "403" });
    const mine = teams.filter((t) => t.members.has(grant.login));
    const perPage = Math.min(Number(url.searchParams.get("per_page") ?? "30") || 30, opts.maxTeamsPerPage ?? 100);
    const page = Math.max(1, Number(url.searchParams.get("page") ?? "1") || 1);
    const last = Math.max(1, Math.ceil(mine.length / perPage));
    const slice = mine.slice((page - 1) * perPage, page * perPage);
    const pageUrl = (n: number) => {
      const u = new URL(url.href);
      u.searchParams.set("per_page", String(perPage));
      u.searchParams.set("page", String(n));
      return u.href;
    };
    const links: string[] = [];
    if (page < last) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(last)}>; rel="last"`);
    if (page > 1) links.push(`<${pageUrl(page - 1)}>; rel="prev"`, `<${pageUrl(1)}>; rel="first"`);
    const teamJson = (t: Team) => {
      const parent = t.parent ? teams.find((x) => x.org === t.org && x.slug === t.parent) : undefined;
      return {
        id: t.id,
        name: t.slug,
        slug: t.slug,
        url: `${base}${apiPrefix}/teams/${t.id}`,
        organization: { login: t.org, id: 1 },
        parent: parent ? { id: parent.id, name: parent.slug, slug: parent.slug } : null,
      };
    };
    json(res, 200, slice.map(teamJson), links.length ? { link: links.join(", ") } : {});
  }

  function revokeToken(clientId: string, req: IncomingMessage, body: string, res: ServerResponse): void {
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const [id, secret] = basic ? Buffer.from(basic[1]!, "base64").toString().split(":") : [];
    if (id !== opts.clientId || secret !== opts.clientSecret || clientId !== opts.clientId) return json(res, 401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
    const g = grants.byAccessToken((JSON.parse(body || "{}") as { access_token?: string }).access_token ?? "");
    if (!g || g.revoked) return json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
    g.revoked = true;
    res.writeHead(204).end();
  }

  return {
    webUri: base,
    apiUri: `${base}${apiPrefix}`,
    requests,
    tokenRequests,
    addUser: (login) => void users.set(login, nextId++),
    signInAs: (login) => void (signedIn = login),
    denyConsent: (d) => void (deny = d),
    addOrgMember(org, login, o = {}) {
      if (!orgs.has(org)) orgs.set(org, new Map());
      orgs.get(org)!.set(login, { public: o.public ?? false });
    },
    removeOrgMember(org, login) {
      orgs.get(org)?.delete(login);
      for (const t of teams) if (t.org === org) t.members.delete(login);
    },
    addTeam: (org, slug, parent) => void teams.push({ id: nextId++, org, slug, parent, members: new Set() }),
    addTeamMember: (org, slug, login) => void teams.find((t) => t.org === org && t.slug === slug)!.members.add(login),
    removeTeamMember: (org, slug, login) => void teams.find((t) => t.org === org && t.slug === slug)?.members.delete(login),
    async revoke(accessToken) {
      const res = await fetch(`${base}${apiPrefix}/applications/${encodeURIComponent(opts.clientId)}/token`, {
        method: "DELETE",
        headers: { authorization: `Basic ${Buffer.from(`${opts.clientId}:${opts.clientSecret}`).toString("base64")}`, "content-type": "application/json", accept: "application/vnd.github+json" },
        body: JSON.stringify({ access_token: accessToken }),
      });
      await res.arrayBuffer();
      if (res.status !== 204) throw new Error(`revoking the token: ${res.status}`);
    },
    expire: (accessToken) => grants.expire(accessToken),
    suspend: server.suspend,
    resume: server.resume,
    close: server.close,
  };
}

function html(res: ServerResponse, status: number, text: string): void {
  htmlPage(res, status, "GitHub", text);
}
