// What the GitHub and GitLab stand-ins (github-server.ts, gitlab-server.ts) share: an HTTP
// server on 127.0.0.1 that can go away and come back, request and answer plumbing, and the
// bookkeeping of an OAuth 2 authorization server (one-use codes, PKCE, access and refresh
// tokens). Also the browser's side, for tests that drive a provider through a stand-in.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FlowSecrets, WebSignInProvider } from "../../src/backends/websignin/provider.js";

// ---------------------------------------------------------------------------
// The server.

export interface StandInRequest {
  method: string;
  path: string;
  /** Whether an Authorization header came with it (its value is never kept). */
  authorized: boolean;
}

/** What the tests can do with either stand-in. */
export interface ForgeStandIn {
  /** github_web_uri, gitlab_web_uri. */
  readonly webUri: string;
  /** github_api_uri, gitlab_api_uri. */
  readonly apiUri: string;
  /** Every request received, in order. */
  readonly requests: StandInRequest[];
  /** The parameters of each token request, client_secret left out. */
  readonly tokenRequests: Record<string, string>[];
  addUser(name: string): void;
  /** The user the authorize endpoint approves as (undefined: nobody is signed in, the sign-in page is shown). */
  signInAs(name: string | undefined): void;
  /** Whether the user declines on the authorize page. */
  denyConsent(deny: boolean): void;
  /** Revokes a token as the service lets an app or its user do. */
  revoke(token: string): Promise<void>;
  /** Makes an access token expired (its refresh token stays usable). */
  expire(accessToken: string): void;
  close(): Promise<void>;
}

export interface StandInServer {
  /** http://127.0.0.1:<port>, the same after suspend() and resume(). */
  readonly base: string;
  /** Stops listening (open connections are cut); the stand-in's state is kept. */
  suspend(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a free port); a handler that throws answers 500 {"message": ...}. */
export async function startStandInServer(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<StandInServer> {
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { message: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const stop = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((e) => (e ? reject(e) : resolve()));
    });
  return {
    base: `http://127.0.0.1:${port}`,
    suspend: stop,
    resume: () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      }),
    close: stop,
  };
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 1_000_000) req.destroy(new Error("request body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** A form body's parameters (a JSON one's too, as both forges accept it). */
export function formParams(req: IncomingMessage, body: string): Record<string, string> {
  return (req.headers["content-type"] ?? "").includes("json") ? (JSON.parse(body || "{}") as Record<string, string>) : Object.fromEntries(new URLSearchParams(body));
}

export function json(res: ServerResponse, status: number, v: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(v);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}

/** An HTML page titled after the service the stand-in plays. */
export function htmlPage(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html><title>${title}</title>${text}`);
}

/** The authorize endpoint sending the browser back: a 302 to `target` with `params` in its query. */
export function redirectBack(res: ServerResponse, target: string, params: Record<string, string>): void {
  const u = new URL(target);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  res.writeHead(302, { location: u.href }).end();
}

// ---------------------------------------------------------------------------
// OAuth bookkeeping.

export const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

/** A PKCE challenge as the authorize request gave it (RFC 7636). */
export interface Challenge {
  value: string;
  method: "S256" | "plain";
}

/** Whether the code exchange's verifier answers the authorization's challenge (no challenge: any verifier). */
export function verifierMatches(challenge: Challenge | undefined, verifier: string | undefined): boolean {
  if (challenge === undefined) return true;
  if (verifier === undefined) return false;
  return (challenge.method === "S256" ? s256(verifier) : verifier) === challenge.value;
}

/** Authorization codes: one use each, valid for ten minutes, each with what its authorization granted. */
export class AuthorizationCodes<T> {
  private readonly codes = new Map<string, { grant: T; expiresAt: number; used: boolean }>();

  issue(code: string, grant: T): void {
    this.codes.set(code, { grant, expiresAt: Date.now() + 600_000, used: false });
  }

  /** The code's authorization, the code used up; undefined for an unknown, used or expired code. */
  redeem(code: string | undefined): T | undefined {
    const c = this.codes.get(code ?? "");
    if (!c || c.used || c.expiresAt < Date.now()) return undefined;
    c.used = true;
    return c.grant;
  }
}

export interface TokenGrant {
  accessToken: string;
  refreshToken?: string;
  /** When the access token expires (ms since the epoch); absent: never. */
  expiresAt?: number;
  /** Revoked, or replaced by a refresh: neither of its tokens works any more. */
  revoked: boolean;
}

/** The tokens issued, found by their access or refresh token. */
export class TokenGrants<G extends TokenGrant> {
  private readonly byAccess = new Map<string, G>();
  private readonly byRefresh = new Map<string, G>();

  add(g: G): G {
    this.byAccess.set(g.accessToken, g);
    if (g.refreshToken !== undefined) this.byRefresh.set(g.refreshToken, g);
    return g;
  }

  /** Whatever its state. */
  byAccessToken(token: string): G | undefined {
    return this.byAccess.get(token);
  }

  /** Whatever its state. */
  byRefreshToken(token: string): G | undefined {
    return this.byRefresh.get(token);
  }

  /** A refresh: the grant of a live refresh token, revoked by this use (its successor is issued by the caller). */
  useRefreshToken(token: string | undefined): G | undefined {
    const g = this.byRefresh.get(token ?? "");
    if (!g || g.revoked) return undefined;
    g.revoked = true;
    return g;
  }

  /** Makes an access token expired (its refresh token stays usable). */
  expire(accessToken: string): void {
    const g = this.byAccess.get(accessToken);
    if (g) g.expiresAt = Date.now() - 1000;
  }
}

// ---------------------------------------------------------------------------
// The browser's side.

/** A sign-in attempt's secrets, as the shared half of web sign-in makes them. */
export function flowSecrets(redirectUri: string): FlowSecrets {
  const codeVerifier = randomBytes(32).toString("base64url");
  return {
    state: randomBytes(16).toString("base64url"),
    codeVerifier,
    codeChallenge: s256(codeVerifier),
    nonce: randomBytes(16).toString("base64url"),
    redirectUri,
  };
}

/**
 * The browser's trip: open the provider's authorization URL at the stand-in (which approves
 * at once), land back on the callback with its query. `sendsBack` is the assertion's message.
 */
export async function browserTrip(p: WebSignInProvider, flow: FlowSecrets, sendsBack: string): Promise<URLSearchParams> {
  const res = await fetch(await p.authorizationUrl(flow), { redirect: "manual" });
  await res.arrayBuffer();
  assert.equal(res.status, 302, sendsBack);
  const back = new URL(res.headers.get("location")!);
  assert.equal(`${back.origin}${back.pathname}`, flow.redirectUri);
  assert.equal(back.searchParams.get("state"), flow.state);
  return back.searchParams;
}
