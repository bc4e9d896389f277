// The GitLab sign-in provider against the GitLab stand-in (test/helpers/gitlab-server.ts),
// driven as the shared half drives it: the authorization URL, the browser's trip to GitLab
// (a fetch that does not follow the redirect back), the callback, and later revalidations.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildGitLabAuth, GitLabProvider, gitlabAuthBackend, type RawGitLabAuth } from "../../src/backends/websignin/gitlab.js";
import type { FlowSecrets, SignedInUser } from "../../src/backends/websignin/provider.js";
import { BackendError, SignInRefusedError } from "../../src/errors.js";
import { startGitLabStandIn, type GitLabStandIn } from "../helpers/gitlab-server.js";
import { browserTrip, flowSecrets } from "../helpers/oauth-standin.js";
import { freePort } from "../helpers/ports.js";
import { fakeContext } from "../helpers/section-context.js";

const CLIENT_ID = "5b0c9f1e2d3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const CLIENT_SECRET = "gloas-0123456789abcdef";
const CALLBACK = "http://127.0.0.1:5001/gitlab_auth";

const newFlow = (redirectUri = CALLBACK): FlowSecrets => flowSecrets(redirectUri);

async function provider(gl: { webUri: string; apiUri: string }, extra: Partial<RawGitLabAuth> = {}): Promise<GitLabProvider> {
  const ctx = fakeContext();
  const cfg = await buildGitLabAuth(
    { organization: "acme", client_id: CLIENT_ID, client_secret: CLIENT_SECRET, gitlab_web_uri: gl.webUri, gitlab_api_uri: gl.apiUri, grant_type: "authorization_code", redirect_uri: CALLBACK, http_timeout: "5s", ...extra },
    ctx,
  );
  assert.deepEqual(ctx.issues, []);
  return new GitLabProvider(cfg);
}

/** The browser's trip: open the authorization URL, land back on the callback with its query. */
const visit = (p: GitLabProvider, flow: FlowSecrets): Promise<URLSearchParams> => browserTrip(p, flow, "GitLab sends the browser back");

async function signIn(p: GitLabProvider, flow = newFlow()): Promise<SignedInUser> {
  return p.complete(await visit(p, flow), flow);
}

describe("gitlab_auth provider", () => {
  let gl: GitLabStandIn;
  let p: GitLabProvider;
  before(async () => {
    gl = await startGitLabStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: CALLBACK });
    for (const g of ["acme", "acme/platform", "acme/platform/registry", "acme/docs", "acmeish", "other"]) gl.addGroup(g);
    for (const u of ["alice", "bob", "carol", "dave"]) gl.addUser(u);
    gl.addMember("acme", "alice");
    gl.addMember("other", "alice");
    gl.addMember("acme/platform", "bob"); // only a subgroup: not a member of acme
    gl.addMember("acmeish", "carol");
    gl.addMember("acme", "dave");
    p = await provider(gl);
  });
  after(async () => {
    await gl.close();
  });

  test("the authorization URL asks for read_user and openid, with state and a PKCE S256 challenge", async () => {
    const flow = newFlow();
    const u = await p.authorizationUrl(flow);
    assert.equal(`${u.origin}${u.pathname}`, `${gl.webUri}/oauth/authorize`);
    assert.deepEqual(Object.fromEntries(u.searchParams), {
      client_id: CLIENT_ID,
      redirect_uri: CALLBACK,
      response_type: "code",
      state: flow.state,
      scope: "read_user openid",
      code_challenge: flow.codeChallenge,
      code_challenge_method: "S256",
    });
    assert.equal(p.redirectUri, CALLBACK);
    assert.equal(p.path, "/gitlab_auth");
  });

  test("a group member signs in as their username, with the group and its subgroups as labels", async () => {
    gl.signInAs("alice");
    const flow = newFlow();
    const user = await signIn(p, flow);
    assert.equal(user.account, "alice");
    assert.match(user.tokens.subject ?? "", /^\d+$/, "the user id is kept, stable across renames");
    assert.deepEqual(user.labels, { groups: ["acme", "acme/docs", "acme/platform", "acme/platform/registry"] });
    assert.ok(user.tokens.refreshToken);
    assert.ok(user.tokens.expiresAt! > Date.now());
    const sent = gl.tokenRequests.at(-1)!;
    assert.deepEqual([sent["grant_type"], sent["code_verifier"], sent["redirect_uri"]], ["authorization_code", flow.codeVerifier, CALLBACK]);
  });

  test("a member of only a subgroup, or of a group with a similar name, is refused", async () => {
    gl.signInAs("bob");
    await assert.rejects(signIn(p), (e: unknown) => e instanceof SignInRefusedError && /bob is not a member of the GitLab group acme/.test(e.message));
    gl.signInAs("carol");
    await assert.rejects(signIn(p), SignInRefusedError);
  });

  test("a declined consent is refused", async () => {
    gl.signInAs("alice");
    gl.denyConsent(true);
    try {
      await assert.rejects(signIn(p), (e: unknown) => e instanceof SignInRefusedError && /cancelled/.test(e.message));
    } finally {
      gl.denyConsent(false);
    }
  });

  test("a replayed code, a made-up code and a code with another attempt's verifier are refused", async () => {
    gl.signInAs("alice");
    const flow = newFlow();
    const callback = await visit(p, flow);
    await p.complete(callback, flow);
    await assert.rejects(p.complete(callback, flow), (e: unknown) => e instanceof SignInRefusedError && /did not accept the sign-in code/.test(e.message));
    await assert.rejects(p.complete(new URLSearchParams({ code: "feedface", state: flow.state }), flow), SignInRefusedError);
    const stolen = await visit(p, flow);
    await assert.rejects(p.complete(stolen, { ...flow, codeVerifier: newFlow().codeVerifier }), SignInRefusedError);
  });

  test("revalidation: still a member gives fresh groups; removed from the group is not ok", async () => {
    gl.signInAs("dave");
    const user = await signIn(p);
    assert.equal(p.revalidateAt(user, 5_000), 5_000 + 3_600_000);
    gl.addGroup("acme/new");
    const again = await p.revalidate(user.account, user.tokens);
    assert.ok(again.ok);
    assert.ok(again.labels["groups"]!.includes("acme/new"));
    gl.removeMember("acme", "dave");
    const gone = await p.revalidate(user.account, user.tokens);
    assert.equal(gone.ok, false);
    assert.match(gone.ok ? "" : gone.reason, /dave is not a member of the GitLab group acme/);
    gl.addMember("acme", "dave");
  });

  test("revalidation: an expired access token is renewed; a revoked authorization is not ok", async () => {
    gl.signInAs("alice");
    const user = await signIn(p);
    gl.expire(user.tokens.accessToken);
    const renewed = await p.revalidate(user.account, user.tokens);
    assert.ok(renewed.ok);
    assert.notEqual(renewed.tokens.accessToken, user.tokens.accessToken);
    assert.notEqual(renewed.tokens.refreshToken, user.tokens.refreshToken);
    // Also when regauth knows the token has expired: it renews before asking.
    const early = await p.revalidate(user.account, { ...renewed.tokens, expiresAt: Date.now() - 1 });
    assert.ok(early.ok);
    await gl.revoke(early.tokens.accessToken);
    const revoked = await p.revalidate(user.account, early.tokens);
    assert.equal(revoked.ok, false);
    assert.match(revoked.ok ? "" : revoked.reason, /no longer accepts|could not be renewed/);
  });

  test("revalidation: a blocked user is not ok", async () => {
    gl.addUser("mallory");
    gl.addMember("acme", "mallory");
    gl.signInAs("mallory");
    const user = await signIn(p);
    gl.block("mallory");
    const r = await p.revalidate(user.account, user.tokens);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /blocked/);
  });

  test("a wrong client secret is the server's fault (BackendError)", async () => {
    const wrong = await provider(gl, { client_secret: "nope-nope" });
    gl.signInAs("alice");
    await assert.rejects(signIn(wrong), (e: unknown) => e instanceof BackendError && /invalid_client/.test(e.message) && !e.message.includes("nope-nope"));
  });
});

describe("gitlab_auth provider without an organization (docker_auth's reference section)", () => {
  let gl: GitLabStandIn;
  before(async () => {
    gl = await startGitLabStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: CALLBACK, scopes: ["read_user"] });
    gl.addUser("anyone");
  });
  after(async () => {
    await gl.close();
  });

  test("asks only for read_user and lets any GitLab user in, with no labels", async () => {
    const p = await provider(gl, { organization: undefined });
    assert.equal((await p.authorizationUrl(newFlow())).searchParams.get("scope"), "read_user");
    gl.signInAs("anyone");
    const user = await signIn(p);
    assert.deepEqual([user.account, user.labels], ["anyone", {}]);
    assert.ok((await p.revalidate("anyone", user.tokens)).ok);
  });

  test("an organization with an application that does not allow openid is a configuration problem", async () => {
    const p = await provider(gl);
    gl.signInAs("anyone");
    const flow = newFlow();
    const res = await fetch(await p.authorizationUrl(flow), { redirect: "manual" });
    await res.arrayBuffer();
    const back = new URL(res.headers.get("location")!).searchParams;
    assert.equal(back.get("error"), "invalid_scope");
    await assert.rejects(p.complete(back, flow), (e: unknown) => e instanceof BackendError && /openid/.test(e.message));
  });
});

describe("gitlab_auth provider when GitLab is down", () => {
  test("an unreachable GitLab is a BackendError at sign-in and at revalidation", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const p = await provider({ webUri: dead, apiUri: `${dead}/api/v4` });
    const flow = newFlow();
    await assert.rejects(p.complete(new URLSearchParams({ code: "abc", state: flow.state }), flow), (e: unknown) => e instanceof BackendError && e.status === 503);
    await assert.rejects(p.revalidate("alice", { accessToken: "x" }), BackendError);
  });

  test("a GitLab that went away after sign-in is a BackendError at revalidation", async () => {
    const gl = await startGitLabStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: CALLBACK });
    gl.addGroup("acme");
    gl.addUser("alice");
    gl.addMember("acme", "alice");
    gl.signInAs("alice");
    const p = await provider(gl);
    const user = await signIn(p);
    await gl.close();
    await assert.rejects(p.revalidate(user.account, user.tokens), (e: unknown) => e instanceof BackendError && !e.message.includes(user.tokens.accessToken));
  });
});

test("gitlab_auth's module is an authentication backend under docker_auth's key", () => {
  assert.equal(gitlabAuthBackend.key, "gitlab_auth");
  assert.equal(gitlabAuthBackend.role, "authn");
});
