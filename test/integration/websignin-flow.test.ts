// Web sign-in with GitHub and GitLab through a running regauth (in this process) against the
// local stand-ins of GitHub and GitLab (test/helpers/github-server.ts, gitlab-server.ts), in
// plain HTTP as a browser would go: regauth's start URL (303 to the provider with state and
// PKCE, and the sealed state cookie), the provider's authorize page (auto-approving), its
// redirect back to regauth's callback, the result page with the generated password; then
// `docker login`'s token request (/auth with Basic) with that password, and later
// re-checks with the provider: a user removed from the organization is turned away, one
// still in keeps working, and GitHub being down is a 503, never a 401.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startGitHubStandIn, type GitHubStandIn } from "../helpers/github-server.js";
import { startGitLabStandIn, type GitLabStandIn } from "../helpers/gitlab-server.js";
import { freePort } from "../helpers/ports.js";
import { decodeJwt, serveInProcess, writeKeyPair, type InProcessServer } from "../helpers/regauth.js";
import { declareSecret } from "../helpers/secret-ledger.js";

const SERVICE = "registry.example.com";
/** The shortest revalidate_after the github_auth and gitlab_auth sections allow. */
const REVALIDATE_AFTER_MS = 1000;
/** Waits just past revalidate_after: every sign-in checked before now is due again. */
const pastRevalidation = () => new Promise((r) => setTimeout(r, REVALIDATE_AFTER_MS + 150));

interface SignInResult {
  /** The callback's status: 200 with a password, 403 refused... */
  status: number;
  html: string;
  password?: string;
  account?: string;
}

/** The message of a page: its text without tags, entities decoded (enough for regauth's pages). */
const pageText = (html: string) =>
  html
    .replace(/<[^>]+>/g, " ")
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");

/**
 * A browser's trip, by hand: regauth's start URL, the provider's authorize endpoint (which
 * approves at once as the user the stand-in was told), and back to regauth's callback with
 * the state cookie regauth set. Checks what regauth sent the browser to the provider with.
 */
async function signIn(base: string, path: string, authorizeEndpoint: string): Promise<SignInResult> {
  const start = await fetch(`${base}${path}`, { redirect: "manual" });
  await start.arrayBuffer();
  assert.equal(start.status, 303, "the start of the flow sends the browser to the provider");
  assert.equal(start.headers.get("cache-control"), "no-store");
  const setCookie = start.headers.getSetCookie();
  assert.equal(setCookie.length, 1, setCookie.join("\n"));
  assert.match(setCookie[0]!, new RegExp(`^regauth_signin=v1\\.[A-Za-z0-9_-]+; Path=${path}; Max-Age=600; HttpOnly; SameSite=Lax$`));
  const cookie = setCookie[0]!.split(";")[0]!;

  const authorize = new URL(start.headers.get("location")!);
  assert.equal(`${authorize.origin}${authorize.pathname}`, authorizeEndpoint);
  const q = authorize.searchParams;
  assert.match(q.get("state") ?? "", /^[A-Za-z0-9_-]{32,}$/, "an unguessable state");
  assert.match(q.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/, "a PKCE challenge: the SHA-256 of the verifier, base64url");
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.equal(q.get("redirect_uri"), `${base}${path}`, "the callback, derived from the request");
  assert.ok(!authorize.href.includes(cookie.slice("regauth_signin=".length)), "the sealed state stays in the cookie");

  const atProvider = await fetch(authorize, { redirect: "manual" });
  await atProvider.arrayBuffer();
  assert.ok(atProvider.status === 302 || atProvider.status === 303, `the provider sends the browser back (${atProvider.status})`);
  const back = new URL(atProvider.headers.get("location")!);
  assert.equal(`${back.origin}${back.pathname}`, `${base}${path}`);
  assert.equal(back.searchParams.get("state"), q.get("state"));

  const result = await fetch(back, { headers: { cookie }, redirect: "manual" });
  const html = await result.text();
  assert.match(result.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(result.headers.get("cache-control"), "no-store");
  assert.match(result.headers.getSetCookie().join("\n"), /^regauth_signin=; .*Max-Age=0/, "the attempt's cookie is cleared");
  const password = /<input id="password"[^>]*\svalue="([^"]*)"/.exec(html)?.[1];
  if (password) declareSecret(password);
  const account = /<strong id="account">([^<]*)<\/strong>/.exec(html)?.[1];
  return { status: result.status, html, password, account };
}

/** Signs in and expects a password. */
async function passwordFor(base: string, path: string, authorizeEndpoint: string, account: string): Promise<string> {
  const r = await signIn(base, path, authorizeEndpoint);
  assert.equal(r.status, 200, pageText(r.html));
  assert.equal(r.account, account);
  assert.match(r.password ?? "", /^regauth_pw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.match(pageText(r.html), new RegExp(`docker login REGISTRY --username ${account} --password-stdin`));
  return r.password!;
}

interface Grant {
  status: number;
  text: string;
  /** The token's `access` claim; [] without a token. */
  access: { type: string; name: string; actions: string[] }[];
}

/** docker login's token request: GET /auth with Basic credentials for one scope. */
async function grant(base: string, user: string, pass: string, scope: string): Promise<Grant> {
  const res = await fetch(`${base}/auth?service=${SERVICE}&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` },
  });
  const text = await res.text();
  const body = JSON.parse(text) as { token?: string };
  return { status: res.status, text, access: body.token ? (decodeJwt(body.token).payload["access"] as Grant["access"]) : [] };
}

async function assertGrants(base: string, user: string, pass: string, repo: string, actions: string[]): Promise<void> {
  const g = await grant(base, user, pass, `repository:${repo}:push,pull`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.access, [{ type: "repository", name: repo, actions }]);
}

/** The log lines (JSON) that carry `msg` and mention every one of `parts`. */
function logLines(logs: string, msg: string, ...parts: string[]): Record<string, unknown>[] {
  return logs
    .split("\n")
    .filter((l) => l.includes(msg) && parts.every((p) => l.includes(p)))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("github_auth through regauth, against the GitHub stand-in", () => {
  const CLIENT_ID = "Iv1.flow0123456789ab";
  const CLIENT_SECRET = "gh-flow-client-secret-0123456789";
  let dir: string;
  let gh: GitHubStandIn;
  let s: InProcessServer;
  let base: string;
  let authorizeEndpoint: string;
  const passwords: string[] = [];
  let octocat: string;
  let leaver: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-websignin-flow-gh-"));
    declareSecret(CLIENT_SECRET);
    const keys = await writeKeyPair(dir, "token", "ec");
    // The stand-in needs regauth's callback URL, regauth the stand-in's address: the port comes first.
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gh = await startGitHubStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: `${base}/github_auth` });
    authorizeEndpoint = `${gh.webUri}/login/oauth/authorize`;
    for (const u of ["octocat", "leaver", "outsider"]) gh.addUser(u);
    gh.addOrgMember("acme", "octocat");
    gh.addOrgMember("acme", "leaver");
    gh.addOrgMember("elsewhere", "outsider");
    for (const t of ["platform", "docs", "ops"]) gh.addTeam("acme", t);
    gh.addTeamMember("acme", "platform", "octocat");
    gh.addTeamMember("acme", "docs", "leaver");
    s = await serveInProcess(
      join(dir, "regauth.yml"),
      `
server: {addr: "127.0.0.1:${port}"}
token: {issuer: "websignin-flow", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
# Every /auth reaches the authenticator (and so the re-check), not a cached answer.
credential_cache: {ttl_seconds: 0}
token_store: {sqlite: {path: "${join(dir, "tokens.db")}"}}
github_auth:
  organization: acme
  client_id: "${CLIENT_ID}"
  client_secret: "${CLIENT_SECRET}"
  github_web_uri: "${gh.webUri}"
  github_api_uri: "${gh.apiUri}"
  revalidate_after: 1s
  http_timeout: 5s
acl:
  - match: {account: "/.+/", name: "\${labels:teams}/*"}
    actions: ["*"]
`,
      dir,
    );
    assert.equal(s.url, base);
  });
  after(async () => {
    await s?.close();
    await gh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a member signs in on the web and gets a password; /auth with it grants what the ACL gives their teams", async () => {
    gh.signInAs("octocat");
    octocat = await passwordFor(base, "/github_auth", authorizeEndpoint, "octocat");
    passwords.push(octocat);
    const sent = gh.tokenRequests.at(-1)!;
    assert.match(sent["code_verifier"] ?? "", /^[A-Za-z0-9_-]{43}$/, "the code exchange carries the PKCE verifier");
    assert.equal(sent["redirect_uri"], `${base}/github_auth`);

    await assertGrants(base, "octocat", octocat, "platform/x", ["pull", "push"]);
    await assertGrants(base, "octocat", octocat, "docs/x", []);
    assert.ok(logLines(s.logs(), "web sign-in: a docker login password was issued", '"account":"octocat"').length === 1);
  });

  test("someone outside the organization gets a 403 page that says why, and no password", async () => {
    gh.signInAs("outsider");
    const r = await signIn(base, "/github_auth", authorizeEndpoint);
    assert.equal(r.status, 403);
    assert.equal(r.password, undefined);
    const text = pageText(r.html);
    assert.match(text, /You cannot sign in here/);
    assert.match(text, /outsider is not a member of the GitHub organization acme/);
  });

  test("the generated password is its own account's only", async () => {
    gh.signInAs("leaver");
    leaver = await passwordFor(base, "/github_auth", authorizeEndpoint, "leaver");
    passwords.push(leaver);
    assert.equal((await grant(base, "leaver", octocat, "repository:platform/x:pull")).status, 401, "octocat's password as leaver");
    assert.equal((await grant(base, "octocat", leaver, "repository:docs/x:pull")).status, 401, "leaver's password as octocat");
    assert.equal((await grant(base, "someone", octocat, "repository:platform/x:pull")).status, 401);
    await assertGrants(base, "leaver", leaver, "docs/x", ["pull", "push"]);
  });

  test("after revalidate_after: a user removed from the organization is turned away (401), one still in keeps working with fresh teams", async () => {
    await pastRevalidation();
    gh.removeOrgMember("acme", "leaver");
    gh.addTeamMember("acme", "ops", "octocat");
    const gone = await grant(base, "leaver", leaver, "repository:docs/x:pull");
    assert.equal(gone.status, 401, gone.text);
    const ended = logLines(s.logs(), "web sign-in password ended", '"account":"leaver"');
    assert.equal(ended.length, 1, s.logs());
    assert.equal(ended[0]!["backend"], "github_auth");
    assert.match(String(ended[0]!["reason"]), /leaver is not a member of the GitHub organization acme/);

    await assertGrants(base, "octocat", octocat, "platform/x", ["pull", "push"]);
    await assertGrants(base, "octocat", octocat, "ops/x", ["pull", "push"]);
    assert.ok(logLines(s.logs(), "web sign-in re-checked with the provider", '"account":"octocat"').length >= 1);

    // Ended is ended: taken back into the organization, leaver must sign in again.
    gh.addOrgMember("acme", "leaver");
    assert.equal((await grant(base, "leaver", leaver, "repository:docs/x:pull")).status, 401);
  });

  test("GitHub down at a re-check is a 503, not a 401; the password works again once GitHub is back", async () => {
    await pastRevalidation();
    await gh.suspend();
    try {
      const down = await grant(base, "octocat", octocat, "repository:platform/x:pull");
      assert.equal(down.status, 503, down.text);
      assert.match(down.text, /GitHub cannot be reached/);
      assert.ok(!down.text.includes(gh.webUri), "the answer does not name GitHub's address");
    } finally {
      await gh.resume();
    }
    await assertGrants(base, "octocat", octocat, "platform/x", ["pull", "push"]);
    assert.equal(logLines(s.logs(), "web sign-in password ended", '"account":"octocat"').length, 0, "a provider that is down ends nothing");
  });

  test("neither the passwords nor the client secret reached the log", () => {
    const logs = s.logs();
    assert.ok(logs.length > 0);
    for (const p of passwords) assert.ok(!logs.includes(p), "a generated password was logged");
    assert.ok(!logs.includes(CLIENT_SECRET), "the client secret was logged");
  });
});

describe("gitlab_auth through regauth, against the GitLab stand-in", () => {
  const CLIENT_ID = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
  const CLIENT_SECRET = "gloas-flow-0123456789abcdef";
  let dir: string;
  let gl: GitLabStandIn;
  let s: InProcessServer;
  let base: string;
  let authorizeEndpoint: string;
  const passwords: string[] = [];
  let alice: string;
  let carol: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-websignin-flow-gl-"));
    declareSecret(CLIENT_SECRET);
    const keys = await writeKeyPair(dir, "token", "ec");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gl = await startGitLabStandIn({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: `${base}/gitlab_auth` });
    authorizeEndpoint = `${gl.webUri}/oauth/authorize`;
    for (const g of ["acme", "acme/platform", "other"]) gl.addGroup(g);
    for (const u of ["alice", "bob", "carol"]) gl.addUser(u);
    gl.addMember("acme", "alice");
    gl.addMember("other", "bob");
    gl.addMember("acme/platform", "carol");
    gl.addMember("acme", "carol");
    s = await serveInProcess(
      join(dir, "regauth.yml"),
      `
server: {addr: "127.0.0.1:${port}"}
token: {issuer: "websignin-flow", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
token_store: {sqlite: {path: "${join(dir, "tokens.db")}"}}
gitlab_auth:
  organization: acme
  client_id: "${CLIENT_ID}"
  client_secret: "${CLIENT_SECRET}"
  gitlab_web_uri: "${gl.webUri}"
  gitlab_api_uri: "${gl.apiUri}"
  grant_type: authorization_code
  revalidate_after: 1s
  http_timeout: 5s
acl:
  - match: {account: "/.+/", name: "\${labels:groups}/*"}
    actions: ["*"]
`,
      dir,
    );
  });
  after(async () => {
    await s?.close();
    await gl?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a group member signs in on the web; /auth with the password grants what the ACL gives their groups", async () => {
    gl.signInAs("alice");
    alice = await passwordFor(base, "/gitlab_auth", authorizeEndpoint, "alice");
    passwords.push(alice);
    const sent = gl.tokenRequests.at(-1)!;
    assert.equal(sent["grant_type"], "authorization_code");
    assert.match(sent["code_verifier"] ?? "", /^[A-Za-z0-9_-]{43}$/);
    // A member of acme is a member of its subgroups: the `groups` label has both paths.
    await assertGrants(base, "alice", alice, "acme/x", ["pull", "push"]);
    await assertGrants(base, "alice", alice, "acme/platform/x", ["pull", "push"]);
    await assertGrants(base, "alice", alice, "other/x", []);
  });

  test("asks GitLab for read_user and openid (to see the groups), with a code response", async () => {
    const start = await fetch(`${base}/gitlab_auth`, { redirect: "manual" });
    await start.arrayBuffer();
    const q = new URL(start.headers.get("location")!).searchParams;
    assert.equal(q.get("scope"), "read_user openid");
    assert.equal(q.get("response_type"), "code");
    assert.equal(q.get("client_id"), CLIENT_ID);
  });

  test("someone outside the group gets a 403 page that says why", async () => {
    gl.signInAs("bob");
    const r = await signIn(base, "/gitlab_auth", authorizeEndpoint);
    assert.equal(r.status, 403);
    assert.equal(r.password, undefined);
    assert.match(pageText(r.html), /bob is not a member of the GitLab group acme/);
  });

  test("the generated password is its own account's only", async () => {
    gl.signInAs("carol");
    carol = await passwordFor(base, "/gitlab_auth", authorizeEndpoint, "carol");
    passwords.push(carol);
    assert.equal((await grant(base, "carol", alice, "repository:acme/x:pull")).status, 401);
    assert.equal((await grant(base, "alice", carol, "repository:acme/x:pull")).status, 401);
    await assertGrants(base, "carol", carol, "acme/platform/x", ["pull", "push"]);
  });

  test("after revalidate_after: a user removed from the group is turned away (401), one still in keeps working", async () => {
    await pastRevalidation();
    gl.removeMember("acme", "carol");
    const gone = await grant(base, "carol", carol, "repository:acme/platform/x:pull");
    assert.equal(gone.status, 401, gone.text);
    const ended = logLines(s.logs(), "web sign-in password ended", '"account":"carol"');
    assert.equal(ended.length, 1, s.logs());
    assert.equal(ended[0]!["backend"], "gitlab_auth");
    assert.match(String(ended[0]!["reason"]), /carol is not a member of the GitLab group acme/);
    await assertGrants(base, "alice", alice, "acme/platform/x", ["pull", "push"]);
    assert.ok(logLines(s.logs(), "web sign-in re-checked with the provider", '"account":"alice"').length >= 1);
  });

  test("neither the passwords nor the client secret reached the log", () => {
    const logs = s.logs();
    for (const p of passwords) assert.ok(!logs.includes(p), "a generated password was logged");
    assert.ok(!logs.includes(CLIENT_SECRET), "the client secret was logged");
  });
});
