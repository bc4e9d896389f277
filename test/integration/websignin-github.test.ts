// The GitHub sign-in provider against the GitHub stand-in (test/helpers/github-server.ts),
// driven as the shared half drives it: the authorization URL, the browser's trip to GitHub
// (a fetch that does not follow the redirect back), the callback, and later revalidations.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { buildGitHubAuth, GitHubProvider, githubAuthBackend, type RawGitHubAuth } from "../../src/backends/websignin/github.js";
import type { FlowSecrets, SignedInUser } from "../../src/backends/websignin/provider.js";
import { BackendError, SignInRefusedError } from "../../src/errors.js";
import { startGitHubStandIn, type GitHubStandIn } from "../helpers/github-server.js";
import { browserTrip, flowSecrets } from "../helpers/oauth-standin.js";
import { freePort } from "../helpers/ports.js";
import { fakeContext } from "../helpers/section-context.js";

const CLIENT_ID = "Iv1.0123456789abcdef";
const CLIENT_SECRET = "gh-client-secret-0123456789";
const CALLBACK = "http://127.0.0.1:5001/github_auth";

const newFlow = (redirectUri = CALLBACK): FlowSecrets => flowSecrets(redirectUri);

async function provider(gh: { webUri: string; apiUri: string }, extra: Partial<RawGitHubAuth> = {}): Promise<GitHubProvider> {
  const ctx = fakeContext();
  const cfg = await buildGitHubAuth({ organization: "acme", client_id: CLIENT_ID, client_secret: CLIENT_SECRET, github_web_uri: gh.webUri, github_api_uri: gh.apiUri, http_timeout: "5s", ...extra }, ctx);
  assert.deepEqual(ctx.issues, []);
  return new GitHubProvider(cfg);
}

/** The browser's trip: open the authorization URL, land back on the callback with its query. */
const visit = (p: GitHubProvider, flow: FlowSecrets): Promise<URLSearchParams> => browserTrip(p, flow, "GitHub sends the browser back");

async function signIn(p: GitHubProvider, flow = newFlow()): Promise<SignedInUser> {
  return p.complete(await visit(p, flow), flow);
}

describe("github_auth provider", () => {
  let gh: GitHubStandIn;
  let p: GitHubProvider;
  before(async () => {
    gh = await startGitHubStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: CALLBACK, maxTeamsPerPage: 2 });
    for (const u of ["octocat", "Hubot", "outsider", "leaver"]) gh.addUser(u);
    gh.addOrgMember("acme", "octocat");
    gh.addOrgMember("acme", "Hubot", { public: true });
    gh.addOrgMember("acme", "leaver");
    gh.addOrgMember("elsewhere", "outsider");
    gh.addTeam("acme", "engineering");
    gh.addTeam("acme", "platform", "engineering");
    gh.addTeam("acme", "docs");
    gh.addTeam("acme", "oncall");
    gh.addTeam("elsewhere", "secret-team");
    for (const t of ["platform", "docs", "oncall"]) gh.addTeamMember("acme", t, "octocat");
    gh.addTeamMember("elsewhere", "secret-team", "octocat");
    gh.addTeamMember("acme", "docs", "leaver");
    p = await provider(gh);
  });
  after(async () => {
    await gh.close();
  });

  test("the authorization URL asks GitHub for read:org with state and a PKCE S256 challenge", async () => {
    const flow = newFlow();
    const u = await p.authorizationUrl(flow);
    assert.equal(`${u.origin}${u.pathname}`, `${gh.webUri}/login/oauth/authorize`);
    assert.deepEqual(Object.fromEntries(u.searchParams), {
      client_id: CLIENT_ID,
      redirect_uri: CALLBACK,
      scope: "read:org",
      state: flow.state,
      code_challenge: flow.codeChallenge,
      code_challenge_method: "S256",
    });
    assert.equal(p.path, "/github_auth");
    assert.equal(p.title, "GitHub");
  });

  test("a member signs in as their GitHub login, with the organization's teams and their parents as labels", async () => {
    gh.signInAs("octocat");
    const flow = newFlow();
    const user = await signIn(p, flow);
    assert.equal(user.account, "octocat");
    assert.match(user.tokens.subject ?? "", /^\d+$/, "the user id is kept, stable across renames");
    // Three teams over two pages; engineering is platform's parent; elsewhere's team is left out.
    assert.deepEqual(user.labels, { teams: ["docs", "engineering", "oncall", "platform"] });
    assert.ok(user.tokens.accessToken.length > 10);
    const sent = gh.tokenRequests.at(-1)!;
    assert.equal(sent["code_verifier"], flow.codeVerifier);
    assert.equal(sent["redirect_uri"], CALLBACK);
    assert.equal(sent["client_secret"], undefined, "the stand-in does not keep the secret; it checked it");
  });

  test("a public member signs in too, with no teams", async () => {
    gh.signInAs("Hubot");
    const user = await signIn(p);
    assert.deepEqual([user.account, user.labels], ["Hubot", { teams: [] }]);
  });

  test("someone outside the organization is refused, saying so", async () => {
    gh.signInAs("outsider");
    const before = gh.requests.length;
    await assert.rejects(signIn(p), (e: unknown) => e instanceof SignInRefusedError && /outsider is not a member of the GitHub organization acme/.test(e.message));
    // GitHub redirects a non-member's membership check to the public-members one; regauth asks that itself.
    const paths = gh.requests.slice(before).map((r) => r.path);
    assert.ok(paths.includes("/api/v3/orgs/acme/members/outsider"));
    assert.ok(paths.includes("/api/v3/orgs/acme/public_members/outsider"));
  });

  test("a declined consent is refused", async () => {
    gh.signInAs("octocat");
    gh.denyConsent(true);
    try {
      await assert.rejects(signIn(p), (e: unknown) => e instanceof SignInRefusedError && /cancelled/.test(e.message));
    } finally {
      gh.denyConsent(false);
    }
  });

  test("a replayed code, a made-up code and a code with another attempt's verifier are refused", async () => {
    gh.signInAs("octocat");
    const flow = newFlow();
    const callback = await visit(p, flow);
    await p.complete(callback, flow);
    await assert.rejects(p.complete(callback, flow), SignInRefusedError);
    await assert.rejects(p.complete(new URLSearchParams({ code: "0123456789abcdef0123", state: flow.state }), flow), SignInRefusedError);
    const other = newFlow();
    const stolen = await visit(p, flow);
    await assert.rejects(p.complete(stolen, { ...flow, codeVerifier: other.codeVerifier }), (e: unknown) => e instanceof SignInRefusedError && /did not accept the sign-in code/.test(e.message));
    await assert.rejects(p.complete(new URLSearchParams({ state: flow.state }), flow), (e: unknown) => e instanceof SignInRefusedError && /no authorization code/.test(e.message));
  });

  test("revalidation: still a member gives fresh teams; removed from the organization is not ok", async () => {
    gh.signInAs("leaver");
    const user = await signIn(p);
    assert.deepEqual(user.labels, { teams: ["docs"] });
    assert.equal(p.revalidateAt(user, 1_000_000), 1_000_000 + 3_600_000);
    gh.addTeamMember("acme", "oncall", "leaver");
    const again = await p.revalidate(user.account, user.tokens);
    assert.ok(again.ok);
    assert.deepEqual(again.labels, { teams: ["docs", "oncall"] });
    assert.equal(again.tokens.accessToken, user.tokens.accessToken);
    gh.removeOrgMember("acme", "leaver");
    const gone = await p.revalidate(user.account, user.tokens);
    assert.equal(gone.ok, false);
    assert.match(gone.ok ? "" : gone.reason, /leaver is not a member of the GitHub organization acme/);
  });

  test("revalidation: a revoked token is not ok", async () => {
    gh.signInAs("octocat");
    const user = await signIn(p);
    assert.ok((await p.revalidate(user.account, user.tokens)).ok);
    await gh.revoke(user.tokens.accessToken);
    const r = await p.revalidate(user.account, user.tokens);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /no longer accepts/);
    assert.ok(!(r.ok ? "" : r.reason).includes(user.tokens.accessToken));
  });

  test("revalidation: a token for someone else is not ok", async () => {
    gh.signInAs("octocat");
    const user = await signIn(p);
    const r = await p.revalidate("Hubot", user.tokens);
    assert.equal(r.ok, false);
  });

  test("a wrong client secret is the server's fault (BackendError), not the user's", async () => {
    const wrong = await provider(gh, { client_secret: "not-the-secret" });
    gh.signInAs("octocat");
    await assert.rejects(signIn(wrong), (e: unknown) => e instanceof BackendError && /incorrect_client_credentials/.test(e.message) && !e.message.includes("not-the-secret"));
  });
});

describe("github_auth provider without an organization", () => {
  let gh: GitHubStandIn;
  before(async () => {
    gh = await startGitHubStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: CALLBACK });
    gh.addUser("anyone");
  });
  after(async () => {
    await gh.close();
  });

  test("asks for no scope and lets any GitHub user in, with no labels", async () => {
    const p = await provider(gh, { organization: undefined });
    assert.equal((await p.authorizationUrl(newFlow())).searchParams.get("scope"), null);
    gh.signInAs("anyone");
    const user = await signIn(p);
    assert.deepEqual([user.account, user.labels], ["anyone", {}]);
    assert.ok((await p.revalidate("anyone", user.tokens)).ok);
  });
});

describe("github_auth provider with expiring tokens (a GitHub App)", () => {
  let gh: GitHubStandIn;
  before(async () => {
    gh = await startGitHubStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: CALLBACK, tokenLifetimeSeconds: 28_800 });
    gh.addUser("octocat");
    gh.addOrgMember("acme", "octocat");
    gh.signInAs("octocat");
  });
  after(async () => {
    await gh.close();
  });

  test("an expired access token is renewed with the refresh token at revalidation", async () => {
    const p = await provider(gh);
    const user = await signIn(p);
    assert.ok(user.tokens.refreshToken);
    assert.ok(user.tokens.expiresAt! > Date.now());
    gh.expire(user.tokens.accessToken);
    const r = await p.revalidate(user.account, user.tokens);
    assert.ok(r.ok);
    assert.notEqual(r.tokens.accessToken, user.tokens.accessToken);
    assert.notEqual(r.tokens.refreshToken, user.tokens.refreshToken);
    // The old refresh token was used up: a second renewal with it fails, and is not ok.
    const stale = await p.revalidate(user.account, { ...user.tokens, expiresAt: 0 });
    assert.equal(stale.ok, false);
  });
});

describe("github_auth provider when GitHub is down or talks nonsense", () => {
  test("an unreachable GitHub is a BackendError at sign-in and at revalidation", async () => {
    const port = await freePort();
    const dead = `http://127.0.0.1:${port}`;
    const p = await provider({ webUri: dead, apiUri: `${dead}/api/v3` });
    const flow = newFlow();
    await assert.rejects(p.complete(new URLSearchParams({ code: "abc", state: flow.state }), flow), (e: unknown) => e instanceof BackendError && e.status === 503);
    await assert.rejects(p.revalidate("octocat", { accessToken: "gho_whatever" }), BackendError);
  });

  test("a GitHub that went away after sign-in is a BackendError at revalidation", async () => {
    const gh = await startGitHubStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: CALLBACK });
    gh.addUser("octocat");
    gh.addOrgMember("acme", "octocat");
    gh.signInAs("octocat");
    const p = await provider(gh);
    const user = await signIn(p);
    await gh.close();
    await assert.rejects(p.revalidate(user.account, user.tokens), (e: unknown) => e instanceof BackendError && !e.message.includes(user.tokens.accessToken));
  });

  test("an answer over 1 MiB is refused unread, a non-JSON one is nonsense", async () => {
    let mode: "big" | "html" = "big";
    const server = createServer((_req, res) => {
      if (mode === "html") return void res.writeHead(200, { "content-type": "text/html" }).end("<h1>maintenance</h1>");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`{"access_token":"${"x".repeat(2 * 1024 * 1024)}"}`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const p = await provider({ webUri: base, apiUri: base });
      const flow = newFlow();
      const callback = new URLSearchParams({ code: "abc", state: flow.state });
      await assert.rejects(p.complete(callback, flow), (e: unknown) => e instanceof BackendError && /bytes/.test(e.message));
      mode = "html";
      await assert.rejects(p.complete(callback, flow), (e: unknown) => e instanceof BackendError && /no access_token/.test(e.message));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

test("github_auth's module is an authentication backend under docker_auth's key", () => {
  assert.equal(githubAuthBackend.key, "github_auth");
  assert.equal(githubAuthBackend.role, "authn");
});
