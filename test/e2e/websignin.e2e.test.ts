// Web sign-in end to end: a real OpenID provider on loopback (oidc-provider), a real browser
// (Debian's Chromium through playwright-core) on regauth's pages, then the generated password
// used by the docker CLI (Debian's engine) and skopeo through the real registry. Google is an
// OpenID provider too: google_auth runs the same flow with its issuer pointed at the local one
// (the real accounts.google.com cannot be reached here). Screenshots are kept as artefacts.
// Needs `apt-get install chromium docker.io docker-registry skopeo redis-server` and root (dockerd).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { accessibilityViolations, browserMissing, launchBrowser, screenshot } from "../helpers/browser.js";
import { enginesMissing, startDocker, type RunningDocker } from "../helpers/engines.js";
import { buildOciImage } from "../helpers/oci-image.js";
import { startOidc, type RunningOidc } from "../helpers/oidc-server.js";
import { freePort } from "../helpers/ports.js";
import { skipWithoutRedis, startRedis, type RunningRedis } from "../helpers/redis.js";
import { BIN, startRegauth, writeKeyPair, type KeyFiles, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { skipOrFailInCi } from "../helpers/requirements.js";
import { declareSecret } from "../helpers/secret-ledger.js";
import { skopeoCopyPull, skopeoCopyPush } from "../helpers/skopeo.js";

const run = promisify(execFile);
const SERVICE = "websignin.registry";
const noBrowser = await skipOrFailInCi(browserMissing());
const noEngines = await enginesMissing();

/** Signs in on the provider's own pages: its login form (any registered user), then its consent page. */
async function signInAtProvider(page: Page, login: string): Promise<void> {
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any-password");
  await page.click('button[type="submit"]');
  await page.click('button:has-text("Continue")');
}

interface SignedIn {
  account: string;
  password: string;
  command: string;
  headers: Record<string, string>;
}

/**
 * From regauth's sign-in page through the provider and back to the result page, in a fresh
 * browser context (no session at the provider yet: its login form and consent page come up).
 */
async function signIn(browser: Browser, base: string, button: string, login: string, shot?: { name: string; dir: string }, javaScriptEnabled = true): Promise<SignedIn & { page: Page }> {
  const context = await browser.newContext({ javaScriptEnabled });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByRole("link", { name: button }).click();
  const result = page.waitForResponse((r) => /\/(oidc|google)_auth\?/.test(r.url()) && r.request().method() === "GET");
  await signInAtProvider(page, login);
  const response = await result;
  await page.waitForLoadState();
  assert.equal(response.status(), 200, await page.content());
  if (shot) await screenshot(page, shot.name, shot.dir);
  const password = await page.inputValue("#password");
  declareSecret(password);
  return { page, account: (await page.textContent("#account"))!, password, command: await page.inputValue("#command"), headers: response.headers() };
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
const tokenFor = (base: string, user: string, pass: string, scope = "repository:team-a/x:pull") => fetch(`${base}/auth?service=${SERVICE}&scope=${scope}`, { headers: { authorization: basic(user, pass) } });

describe("web sign-in with a real browser, then docker and skopeo with the generated password", { skip: noBrowser ?? noEngines }, () => {
  let dir: string;
  let oidc: RunningOidc;
  let regauth: RunningRegauth;
  let registry: RunningRegistry;
  let docker: RunningDocker;
  let browser: Browser;
  let page: Page;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-websignin-"));
    const keys = await writeKeyPair(dir, "token", "ec");
    // Each names the others before they start: the ports are chosen first.
    const [oidcPort, regauthPort] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${oidcPort}`;
    const base = `http://127.0.0.1:${regauthPort}`;
    registry = await startRegistry({ realm: `${base}/auth`, service: SERVICE, issuer: "websignin", rootCertBundle: keys.cert });
    oidc = await startOidc({
      port: oidcPort,
      redirectUris: [`${base}/oidc_auth`, `${base}/google_auth`],
      // Access tokens that expire at once: every use after a second re-checks the user with the provider.
      accessTokenTtl: 31,
      users: {
        alice: { email: "alice@example.com", groups: ["team-a"] },
        bob: { email: "bob@example.com", groups: ["team-b"] },
        gina: { email: "gina@example.com", hd: "example.com" },
        outsider: { email: "out@elsewhere.org", hd: "elsewhere.org" },
      },
    });
    declareSecret(oidc.clientSecret);
    await writeFile(join(dir, "client-secret"), `${oidc.clientSecret}\n`);
    regauth = await startRegauth(
      `
server: { addr: "127.0.0.1:{{PORT}}" }
token: { issuer: "websignin", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
# Every login reaches the provider check, not a cached answer.
credential_cache: { ttl_seconds: 0 }
oidc_auth:
  issuer: "${issuer}"
  name: "Example SSO"
  client_id: ${oidc.clientId}
  client_secret_file: "${join(dir, "client-secret")}"
  registry_url: "${registry.url}"
  labels_claims: [groups]
  scopes: [openid, email, groups]
  level_token_db: { path: "${join(dir, "tokens.ldb")}" }
google_auth:
  issuer: "${issuer}"
  domain: example.com
  client_id: ${oidc.clientId}
  client_secret_file: "${join(dir, "client-secret")}"
acl:
  - match: { account: "/.+/", name: "\${labels:groups}/*" }
    actions: ["*"]
  - match: { account: "/^[a-z]+@example[.]com$/", name: "shared/*" }
    actions: ["pull"]
`,
      { dir, port: regauthPort },
    );
    [docker, browser] = await Promise.all([startDocker(), launchBrowser()]);
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await docker?.stop();
    await registry?.stop();
    await regauth?.stop();
    await oidc?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("the sign-in page lists the providers, with a strict CSP and no framing, and passes an accessibility check", async () => {
    const res = await page.goto(`${regauth.url}/`);
    assert.equal(res?.status(), 200);
    const h = res!.headers();
    assert.match(h["content-security-policy"] ?? "", /default-src 'none'/);
    assert.match(h["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    assert.match(h["content-security-policy"] ?? "", /script-src 'self'/);
    assert.equal(h["x-frame-options"], "DENY");
    const links = await page.getByRole("link").allTextContents();
    assert.deepEqual(links, ["Sign in with Google", "Sign in with Example SSO"], "google_auth before oidc_auth, docker_auth's order");
    await screenshot(page, "websignin-index", dir);
    assert.deepEqual(await accessibilityViolations(page), []);
    // Keyboard only: Tab reaches the first provider, Enter starts its sign-in.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(`document.activeElement.textContent`), "Sign in with Google");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(`document.activeElement.textContent`), "Sign in with Example SSO");
    await Promise.all([page.waitForURL(/\/interaction\//), page.keyboard.press("Enter")]);
    // API clients still get the JSON answer.
    const json = await fetch(`${regauth.url}/`);
    assert.equal(((await json.json()) as { name: string }).name, "regauth");
  });

  test("OIDC: sign in, get a password and the docker login command; docker logs in, pushes and pulls, and is denied outside its group", async () => {
    const s = await signIn(browser, regauth.url, "Sign in with Example SSO", "alice", { name: "websignin-result", dir });
    assert.equal(s.account, "alice@example.com");
    assert.match(s.password, /^regauth_pw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(s.command, `docker login ${registry.url} --username alice@example.com --password-stdin`);
    assert.equal(s.headers["cache-control"], "no-store");
    assert.match(s.headers["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    assert.deepEqual(await accessibilityViolations(s.page), []);
    // The copy button is there once the page's own script runs, and copies.
    await s.page.click('button[data-copy="password"]');
    // Page-side code as text: these tests compile without the DOM's types.
    await s.page.waitForFunction(`document.getElementById("copied").textContent !== ""`);
    assert.equal(await s.page.textContent("#copied"), "Copied password.");
    assert.equal(await s.page.evaluate(`navigator.clipboard.readText()`), s.password);
    await s.page.context().close();

    const login = await docker.docker(["login", registry.url, "--username", s.account, "--password-stdin"], s.password);
    assert.equal(login.code, 0, login.stderr);
    const rootfs = join(dir, "rootfs");
    await mkdir(rootfs, { recursive: true });
    await writeFile(join(rootfs, "hello.txt"), "signed in with a browser\n");
    await run("tar", ["-C", rootfs, "-cf", join(dir, "rootfs.tar"), "."]);
    const image = `${registry.url}/team-a/hello:v1`;
    assert.equal((await docker.docker(["import", join(dir, "rootfs.tar"), image])).code, 0);
    const push = await docker.docker(["push", image]);
    assert.equal(push.code, 0, push.stderr + push.stdout);
    assert.equal((await docker.docker(["rmi", image])).code, 0);
    const pull = await docker.docker(["pull", image]);
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    const other = `${registry.url}/team-b/hello:v1`;
    assert.equal((await docker.docker(["tag", image, other])).code, 0);
    const denied = await docker.docker(["push", other]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /denied|unauthorized|insufficient_scope|authentication required/i, denied.stderr);

    // skopeo with the same password.
    const oci = await buildOciImage(join(dir, "oci"), "v1");
    const copied = await skopeoCopyPush(oci.dir, "v1", `${registry.url}/team-a/skopeo:v1`, { user: s.account, pass: s.password });
    assert.equal(copied.code, 0, copied.stderr);
    const back = await skopeoCopyPull(`${registry.url}/team-a/skopeo:v1`, join(dir, "oci-back"), "v1", { user: s.account, pass: s.password });
    assert.equal(back.code, 0, back.stderr);
  });

  test("without JavaScript the result page still shows the password and the command; the copy buttons stay hidden", async () => {
    const s = await signIn(browser, regauth.url, "Sign in with Example SSO", "alice", undefined, false);
    assert.match(s.password, /^regauth_pw_/);
    assert.equal(s.command, `docker login ${registry.url} --username alice@example.com --password-stdin`);
    assert.equal(await s.page.isVisible('button[data-copy="password"]'), false);
    assert.equal((await tokenFor(regauth.url, s.account, s.password)).status, 200);
    await s.page.context().close();
  });

  test("signing in again replaces the previous password", async () => {
    const first = await signIn(browser, regauth.url, "Sign in with Example SSO", "alice");
    assert.equal((await tokenFor(regauth.url, first.account, first.password)).status, 200);
    const second = await signIn(browser, regauth.url, "Sign in with Example SSO", "alice");
    assert.notEqual(second.password, first.password);
    assert.equal((await tokenFor(regauth.url, first.account, first.password)).status, 401, "the old password is gone");
    assert.equal((await tokenFor(regauth.url, second.account, second.password)).status, 200);
    assert.equal((await tokenFor(regauth.url, "bob@example.com", second.password)).status, 401, "a password is only its own account's");
    // The operator sees one live web password for the account, never its secret.
    const listed = await run(process.execPath, [BIN, "tokens", "list", regauth.configPath, "--account", "alice@example.com"], { cwd: regauth.dir });
    assert.equal(listed.stdout.split("\n").filter((l) => /\bweb password\s+alice@example\.com\b/.test(l)).length, 1, listed.stdout);
    assert.ok(!listed.stdout.includes(second.password.slice(-43)));
  });

  test("Google: an account of the domain signs in; one outside it is refused with a page that says why", async () => {
    const s = await signIn(browser, regauth.url, "Sign in with Google", "gina");
    await s.page.context().close();
    const page = await (await browser.newContext()).newPage();
    assert.equal(s.account, "gina@example.com");
    assert.equal((await tokenFor(regauth.url, s.account, s.password, "repository:shared/base:pull")).status, 200);

    await page.goto(`${regauth.url}/`);
    await page.getByRole("link", { name: "Sign in with Google" }).click();
    const refused = page.waitForResponse((r) => r.url().includes("/google_auth?"));
    await signInAtProvider(page, "outsider");
    assert.equal((await refused).status(), 403);
    assert.match((await page.textContent("main")) ?? "", /Only accounts of example\.com may sign in here/);
    await screenshot(page, "websignin-refused", dir);
    assert.deepEqual(await accessibilityViolations(page), []);
    assert.equal((await tokenFor(regauth.url, "out@elsewhere.org", "regauth_pw_0000000000000000_" + "A".repeat(43))).status, 401);
  });

  test("a callback with the wrong state, without the browser's cookie, or replayed is refused", async () => {
    const page = await (await browser.newContext()).newPage();
    // Watched, not intercepted: the browser completes its own sign-in, and the test replays what it saw.
    let setCookie: Promise<string | null> | undefined;
    let callback: string | undefined;
    page.on("response", (r) => {
      const u = new URL(r.url());
      // headers() leaves Set-Cookie out; headerValue reads the raw headers.
      if (u.pathname === "/oidc_auth" && !u.search) setCookie = r.headerValue("set-cookie");
    });
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/oidc_auth" && u.searchParams.has("code")) callback = r.url();
    });
    await page.goto(`${regauth.url}/`);
    await page.getByRole("link", { name: "Sign in with Example SSO" }).click();
    const done = page.waitForResponse((r) => new URL(r.url()).searchParams.has("code"));
    await signInAtProvider(page, "bob");
    assert.equal((await done).status(), 200, "the browser's own callback signs in");
    const cookieHeader = await setCookie;
    assert.ok(cookieHeader && callback);
    assert.match(cookieHeader, /^regauth_signin=v1\.[A-Za-z0-9_-]+; Path=\/oidc_auth; Max-Age=600; HttpOnly; SameSite=Lax$/, "over plain http the cookie cannot be Secure");
    assert.deepEqual((await page.context().cookies(`${regauth.url}/oidc_auth`)).filter((c) => c.name === "regauth_signin"), [], "the attempt's cookie is cleared");
    const cookie = cookieHeader.split(";")[0]!;
    const url = new URL(callback);

    const wrongState = new URL(url);
    wrongState.searchParams.set("state", "not-the-state");
    const r1 = await fetch(wrongState, { headers: { cookie } });
    assert.equal(r1.status, 400);
    assert.match(await r1.text(), /does not belong to the sign-in this browser started/);

    const r2 = await fetch(url);
    assert.equal(r2.status, 400, "no cookie: another browser");
    assert.match(await r2.text(), /already used, has expired, or was started in another browser/);

    const replay = await fetch(url, { headers: { cookie } });
    assert.equal(replay.status, 403, "the provider refuses a code used once");
    assert.match(await replay.text(), /refused the sign-in \(invalid_grant\)/);
    await page.context().close();
  });

  test("the state cookie is Secure behind a TLS-offloading proxy", async () => {
    const r = await fetch(`${regauth.url}/oidc_auth`, { redirect: "manual", headers: { "x-forwarded-proto": "https" } });
    assert.equal(r.status, 303);
    const set = r.headers.get("set-cookie") ?? "";
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Lax/);
    assert.match(set, /Secure/);
    const target = new URL(r.headers.get("location")!);
    assert.equal(target.searchParams.get("redirect_uri"), `https://127.0.0.1:${regauth.port}/oidc_auth`);
    assert.equal(target.searchParams.get("code_challenge_method"), "S256");
    assert.ok(target.searchParams.get("nonce"));
  });

  test("re-checks with the provider: a user still there keeps working, one removed at the provider is turned away", async () => {
    const bob = await signIn(browser, regauth.url, "Sign in with Example SSO", "bob");
    const alice = await signIn(browser, regauth.url, "Sign in with Example SSO", "alice");
    // The access tokens last 31 s and are re-checked 30 s early: after a second both are due.
    await new Promise((r) => setTimeout(r, 1500));
    oidc.users.delete("bob");
    assert.equal((await tokenFor(regauth.url, bob.account, bob.password, "repository:team-b/x:pull")).status, 401);
    assert.equal((await tokenFor(regauth.url, alice.account, alice.password)).status, 200);
    assert.match(regauth.stdout(), /web sign-in re-checked with the provider/);
    assert.match(regauth.stdout(), /web sign-in password ended/);
    // Once ended, it stays ended even if the provider took the user back.
    oidc.users.set("bob", { email: "bob@example.com", groups: ["team-b"] });
    assert.equal((await tokenFor(regauth.url, bob.account, bob.password, "repository:team-b/x:pull")).status, 401);
  });
});

describe("two replicas sharing one Redis store: a password generated through one works on the other", { skip: noBrowser ?? (await skipWithoutRedis()) }, () => {
  let dir: string;
  let keys: KeyFiles;
  let redis: RunningRedis;
  let oidc: RunningOidc;
  let a: RunningRegauth;
  let b: RunningRegauth;
  let browser: Browser;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-websignin-ha-"));
    keys = await writeKeyPair(dir, "token", "ec");
    redis = await startRedis();
    const [oidcPort, portA] = [await freePort(), await freePort()];
    oidc = await startOidc({ port: oidcPort, redirectUris: [`http://127.0.0.1:${portA}/oidc_auth`], users: { alice: { email: "alice@example.com", groups: ["team-a"] } } });
    declareSecret(oidc.clientSecret);
    const config = (store: string) => `
server: { addr: "127.0.0.1:{{PORT}}" }
token: { issuer: "websignin", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
oidc_auth:
  issuer: "http://127.0.0.1:${oidcPort}"
  client_id: ${oidc.clientId}
  client_secret: "${oidc.clientSecret}"
  labels_claims: [groups]
  scopes: [openid, email, groups]
${store}
acl:
  - match: { account: "/.+/", name: "\${labels:groups}/*" }
    actions: ["*"]
`;
    const addr = new URL(redis.url).host;
    // docker_auth's own key on one replica, regauth's on the other: the same Redis either way.
    await mkdir(join(dir, "a"));
    await mkdir(join(dir, "b"));
    a = await startRegauth(config(`  redis_token_db: { redis_options: { addr: "${addr}" } }`), { dir: join(dir, "a"), port: portA });
    b = await startRegauth(config(`token_store: { redis: { url: "redis://${addr}/0" } }`), { dir: join(dir, "b") });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await oidc?.close();
    await redis?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  test("signed in through replica A, docker login's token request succeeds on replica B", async () => {
    const s = await signIn(browser, a.url, "Sign in with OpenID Connect", "alice");
    const onB = await tokenFor(b.url, s.account, s.password, "repository:team-a/app:push,pull");
    assert.equal(onB.status, 200, await onB.clone().text());
    const access = JSON.parse(Buffer.from(((await onB.json()) as { token: string }).token.split(".")[1]!, "base64url").toString()).access;
    assert.deepEqual(access, [{ type: "repository", name: "team-a/app", actions: ["pull", "push"] }]);
  });
});
