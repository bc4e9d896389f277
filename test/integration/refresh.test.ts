// Refresh tokens through the real binary (two workers on one SQLite file): the offline GET
// docker login sends, the OAuth2 POST grants, re-authorization on every use, revocation by
// the CLI, expiry, idle timeout, rotation opt-in, and a store that is down.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createLogger } from "../../src/log.js";
import { SqliteTokenStore } from "../../src/stores/sqlite/sqlite-store.js";
import { BIN, decodeJwt, startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";

const run = promisify(execFile);
const PASSWORD = "s3cret-Passw0rd";
let dir: string;
let r: RunningRegauth;
let config: string;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
const FORM = { "content-type": "application/x-www-form-urlencoded" };

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${r.url}${path}`, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}
const post = (form: Record<string, string>) => call("/auth", { method: "POST", headers: FORM, body: new URLSearchParams(form).toString() });
const refresh = (token: string, o: Record<string, string> = {}) =>
  post({ grant_type: "refresh_token", refresh_token: token, service: "registry", client_id: "docker", scope: "repository:alice/app:pull,push", ...o });
const login = async (user = "alice", client = "docker") => {
  const res = await call(`/auth?service=registry&offline_token=true&client_id=${client}&scope=repository:${user}/app:pull`, { headers: { authorization: basic(user, PASSWORD) } });
  assert.equal(res.status, 200, res.text);
  return res.json;
};
const access = (token: string) => decodeJwt(token).payload.access as { name: string; actions: string[] }[];

async function reload(edit: (text: string) => string) {
  const before = r.stdout().match(/"msg":"config reloaded"/g)?.length ?? 0;
  config = edit(config);
  await writeFile(r.configPath, config.replaceAll("{{PORT}}", String(r.port)));
  r.proc.kill("SIGHUP");
  for (let i = 0; i < 1200 && (r.stdout().match(/"msg":"config reloaded"/g)?.length ?? 0) <= before; i++) await new Promise((res) => setTimeout(res, 25));
  assert.ok((r.stdout().match(/"msg":"config reloaded"/g)?.length ?? 0) > before, r.stdout());
  // The primary reports a reload only once every worker has swapped.
}

const tokensCli = (...args: string[]) => run(process.execPath, [BIN, "tokens", ...args, r.configPath], { cwd: r.dir });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-refresh-"));
  const keys = await writeKeyPair(dir, "token", "ec");
  const hash = await testHash(PASSWORD);
  config = `
server: { addr: "127.0.0.1:{{PORT}}", workers: 2 }
token: { issuer: "regauth-test", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
token_store:
  sqlite: { path: "${dir}/store/regauth.db" }
refresh_tokens:
  rotate_client_ids: [rotating]
  max_per_account: 3
users:
  "alice": { password: "${hash}", labels: { team: [dev] } }
  "bob": { password: "${hash}" }
  "carol": { password: "${hash}" }
  "": {}
acl:
  - match: { account: "/.+/", name: "\${account}/*" }
    actions: ["pull", "push"]
  - match: { account: "" }
    actions: ["pull"]
`;
  r = await startRegauth(config, { dir });
});
after(async () => {
  await r?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("refresh tokens", () => {
  test("docker login's GET (offline_token=true) answers a recognisable refresh token; the refresh grant then works without a password", async () => {
    const j = await login();
    assert.match(j.refresh_token, /^regauth_rt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const res = await refresh(j.refresh_token);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.access_token, res.json.token);
    assert.equal(decodeJwt(res.json.token).payload.sub, "alice");
    assert.deepEqual(access(res.json.token), [{ type: "repository", name: "alice/app", actions: ["pull", "push"] }]);
    assert.equal(res.json.scope, "repository:alice/app:pull,push");
    assert.equal(typeof res.json.expires_in, "number");
    assert.ok(!Number.isNaN(Date.parse(res.json.issued_at)));
    assert.equal(res.json.refresh_token, undefined, "not rotated by default: the docker engine keeps the one from login");
    // Used again and again (the engine does, for every pull).
    assert.equal((await refresh(j.refresh_token)).status, 200);
  });

  test("without offline access no refresh token is made; the anonymous user never gets one", async () => {
    const plain = await call("/auth?service=registry&scope=repository:alice/app:pull", { headers: { authorization: basic("alice", PASSWORD) } });
    assert.equal(plain.status, 200);
    assert.equal(plain.json.refresh_token, undefined);
    const anon = await call("/auth?service=registry&offline_token=true&client_id=docker&scope=repository:x/y:pull");
    assert.equal(anon.status, 200);
    assert.equal(anon.json.refresh_token, undefined);
  });

  test("the OAuth2 password form with access_type=offline answers a refresh token beside the granted scope", async () => {
    const res = await post({ grant_type: "password", username: "alice", password: PASSWORD, service: "registry", client_id: "ci", access_type: "offline", scope: "repository:alice/app:pull repository:other/x:push" });
    assert.equal(res.status, 200, res.text);
    assert.match(res.json.refresh_token, /^regauth_rt_/);
    assert.equal(res.json.scope, "repository:alice/app:pull", "only what was granted");
    assert.equal((await refresh(res.json.refresh_token, { client_id: "ci" })).status, 200);
  });

  test("RFC 6749 errors: another client or service, a wrong or malformed token, missing fields, other grants, a wrong password", async () => {
    const { refresh_token: t } = await login();
    const other = await refresh(t, { client_id: "evil" });
    assert.equal(other.status, 400);
    assert.equal(other.json.error, "invalid_grant");
    assert.match(other.json.error_description, /issued to client_id "docker", not "evil"/);
    // docker login's token is read by skopeo/podman (client_id containers/image) from the same config.json.
    assert.equal((await refresh(t, { client_id: "containers/image" })).status, 200);
    const svc = await refresh(t, { service: "elsewhere" });
    assert.equal(svc.json.error, "invalid_grant");
    assert.match(svc.json.error_description, /issued for service "registry"/);
    // A right id with a wrong secret reads exactly like an unknown token.
    const forged = await refresh(t.slice(0, -4) + (t.endsWith("AAAA") ? "BBBB" : "AAAA"));
    const unknown = await refresh(`regauth_rt_0000000000000000_${"A".repeat(43)}`);
    assert.equal(forged.status, 400);
    assert.deepEqual(forged.json, unknown.json);
    assert.equal((await refresh("not-a-token")).json.error, "invalid_grant");
    const missing = await post({ grant_type: "refresh_token", service: "registry", client_id: "docker" });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error, "invalid_request");
    const grant = await post({ grant_type: "authorization_code", code: "x" });
    assert.equal(grant.status, 400);
    assert.equal(grant.json.error, "unsupported_grant_type");
    const wrong = await post({ grant_type: "password", username: "alice", password: "nope", service: "registry" });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error, "invalid_grant");
    const json = await call("/auth", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(json.status, 415);
    assert.equal(json.json.error, "invalid_request");
    // The GET keeps the registry's error shape.
    const get = await call("/auth?service=registry", { headers: { authorization: basic("alice", "nope") } });
    assert.equal(get.status, 401);
    assert.equal(get.json.errors[0].code, "UNAUTHORIZED");
  });

  test("curl sees each error path with its status and a JSON body that says what is wrong", async () => {
    const curl = async (...args: string[]) => {
      const r = await run("curl", ["-sS", "-o", "-", "-w", "\n%{http_code}", ...args]);
      const lines = r.stdout.trimEnd().split("\n");
      return { status: Number(lines.pop()), json: JSON.parse(lines.join("\n")) };
    };
    const url = `${r.url}/auth`;
    const cases: [string[], number, string, RegExp][] = [
      [["-d", "grant_type=refresh_token&service=registry&client_id=docker"], 400, "invalid_request", /needs a refresh_token/],
      [["-d", "grant_type=refresh_token&refresh_token=regauth_rt_nope&service=registry&client_id=docker"], 400, "invalid_grant", /not valid/],
      [["-d", "grant_type=implicit"], 400, "unsupported_grant_type", /"implicit" is not supported/],
      [["-d", "grant_type=refresh_token&refresh_token=%ZZ"], 400, "invalid_request", /percent|encod|malformed/i],
      [["-H", "content-type: text/plain", "--data-binary", "grant_type=password"], 415, "invalid_request", /x-www-form-urlencoded/],
      [["-d", `grant_type=password&username=alice&password=nope&service=registry`], 400, "invalid_grant", /invalid username or password/],
    ];
    for (const [args, status, error, description] of cases) {
      const res = await curl(...args, url);
      assert.equal(res.status, status, args.join(" "));
      assert.equal(res.json.error, error, args.join(" "));
      assert.match(res.json.error_description, description, args.join(" "));
    }
    // Not the OAuth2 form at all: the registry's error shape, with Allow.
    const put = await curl("-X", "PUT", url);
    assert.equal(put.status, 405);
    assert.match(put.json.errors[0].message, /PUT is not allowed on \/auth; use GET or POST/);
    // An overlong form is refused before it is read whole.
    const big = await curl("-d", `grant_type=refresh_token&refresh_token=${"A".repeat(70_000)}`, url);
    assert.equal(big.status, 413);
    assert.equal(big.json.error, "invalid_request");
  });

  test("tokens list shows who and when, never the secret; revoke by account stops the token at once on every worker", async () => {
    const { refresh_token: t } = await login("bob");
    const list = await tokensCli("list", "--account", "bob");
    const id = t.slice("regauth_rt_".length, "regauth_rt_".length + 16);
    assert.match(list.stdout, new RegExp(`^id\\s+kind\\s+account\\s+client\\s+service\\s+method\\s+created\\s+last used\\s+expires\\n${id}\\s+refresh\\s+bob\\s+docker\\s+registry\\s+static users\\s`));
    assert.ok(!list.stdout.includes(t.slice(-43)), "the secret is not shown");
    const json = JSON.parse((await tokensCli("list", "--json")).stdout) as { id: string; secretHash?: string }[];
    assert.ok(json.some((c) => c.id === id));
    assert.ok(json.every((c) => c.secretHash === undefined && !("attachment" in c)));
    assert.equal((await refresh(t, { scope: "repository:bob/app:pull" })).status, 200);
    const revoked = await tokensCli("revoke", "--account", "bob");
    assert.match(revoked.stdout, /revoked 1 refresh token or web sign-in password of account "bob" \(sqlite\)/);
    // Several requests, so that both workers answer at least once.
    for (let i = 0; i < 6; i++) {
      const res = await refresh(t, { scope: "repository:bob/app:pull" });
      assert.equal(res.status, 400);
      assert.equal(res.json.error, "invalid_grant");
    }
    // By id, or by pasting the token itself.
    const { refresh_token: t2 } = await login("bob");
    assert.match((await tokensCli("revoke", "--id", t2)).stdout, /revoked 1 refresh token or web sign-in password with id/);
    assert.equal((await refresh(t2, { scope: "repository:bob/app:pull" })).status, 400);
    await assert.rejects(tokensCli("revoke"), (e: { code: number; stderr: string }) => e.code === 2 && /exactly one of --account NAME, --id ID or --all/.test(e.stderr));
  });

  test("an account holds at most max_per_account live tokens: logins in a loop retire the oldest", async () => {
    await tokensCli("revoke", "--account", "carol");
    const tokens: string[] = [];
    // A few ms apart, so that "oldest" is told by the creation time alone.
    for (let i = 0; i < 5; i++) {
      tokens.push((await login("carol")).refresh_token);
      await new Promise((res) => setTimeout(res, 5));
    }
    const listed = JSON.parse((await tokensCli("list", "--json", "--account", "carol")).stdout) as { id: string }[];
    assert.deepEqual(listed.map((c) => c.id), tokens.slice(2).map((t) => t.slice(11, 27)), "the three newest are kept");
    assert.equal((await refresh(tokens[0]!, { scope: "repository:carol/app:pull" })).status, 400);
    assert.equal((await refresh(tokens[4]!, { scope: "repository:carol/app:pull" })).status, 200);
  });

  test("expired and idle tokens are refused", async () => {
    const { refresh_token: idle } = await login();
    const { refresh_token: old } = await login();
    const idOf = (t: string) => t.slice(11, 27);
    // Time is moved by writing the records the way the store would find them later.
    const store = new SqliteTokenStore(join(dir, "store", "regauth.db"), createLogger("silent"));
    try {
      const now = Date.now();
      await store.touch(idOf(idle), now - 1000, now - 1);
      const rec = (await store.get(idOf(old), now))!;
      await store.put({ ...rec, expiresAt: now - 1 });
    } finally {
      await store.close();
    }
    for (const t of [idle, old]) {
      const res = await refresh(t);
      assert.equal(res.status, 400);
      assert.equal(res.json.error, "invalid_grant");
    }
  });

  test("opt-in rotation for a client_id: the answer has a new token and the old one is dead", async () => {
    const { refresh_token: first } = await login("alice", "rotating");
    const res = await refresh(first, { client_id: "rotating" });
    assert.equal(res.status, 200);
    assert.match(res.json.refresh_token, /^regauth_rt_/);
    assert.notEqual(res.json.refresh_token, first);
    assert.equal((await refresh(first, { client_id: "rotating" })).status, 400);
    assert.equal((await refresh(res.json.refresh_token, { client_id: "rotating" })).status, 200);
  });

  test("a changed password (reloaded) ends the account's refresh tokens; a login with the new one gets a working token", async () => {
    const { refresh_token: t } = await login("bob");
    const asBob = { scope: "repository:bob/app:pull" };
    assert.equal((await refresh(t, asBob)).status, 200);
    const newHash = await testHash("bob-new-Passw0rd");
    // A function, not a replacement string: a bcrypt hash is full of "$".
    await reload((c) => c.replace(/^( {2}"bob": \{ password: ")[^"]+(")/m, (_m, a: string, b: string) => `${a}${newHash}${b}`));
    const old = await refresh(t, asBob);
    assert.equal(old.status, 400);
    assert.match(old.json.error_description, /password of "bob" was changed since this refresh token was issued/);
    const fresh = await call("/auth?service=registry&offline_token=true&client_id=docker", { headers: { authorization: basic("bob", "bob-new-Passw0rd") } });
    assert.equal(fresh.status, 200);
    assert.equal((await refresh(fresh.json.refresh_token, asBob)).status, 200);
  });

  test("every use re-authorizes: an ACL change and a removed user take effect at the next refresh", async () => {
    const { refresh_token: t } = await login();
    await reload((c) => c.replace('actions: ["pull", "push"]', 'actions: ["pull"]'));
    const narrowed = await refresh(t);
    assert.equal(narrowed.status, 200);
    assert.deepEqual(access(narrowed.json.token)[0]!.actions, ["pull"]);
    await reload((c) => c.replace(/^ {2}"alice":.*\n/m, ""));
    const gone = await refresh(t);
    assert.equal(gone.status, 400);
    assert.match(gone.json.error_description, /account "alice" no longer exists in static users/);
  });

  test("no refresh token, password or token secret reaches the log", () => {
    const logs = r.stdout() + r.stderr();
    assert.ok(!/regauth_rt_[0-9a-f]{16}_/.test(logs), "a refresh token was logged");
    assert.ok(!logs.includes(PASSWORD));
    assert.match(logs, /"refresh_token_issued":true/);
  });
});

describe("refresh tokens with the store down", () => {
  test("logins go on without a refresh token (the log says why); refresh grants get a 503; both recover without a restart", async () => {
    const d = await mkdtemp(join(tmpdir(), "regauth-refresh-down-"));
    const keys = await writeKeyPair(d, "token", "ec");
    await writeFile(join(d, "blocked"), "a file where the store's directory should be");
    const s = await startRegauth(
      `
server: { addr: "127.0.0.1:{{PORT}}", workers: 1 }
token: { issuer: "t", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
token_store: { sqlite: { path: "${d}/blocked/regauth.db" } }
users: { "alice": { password: "${await testHash(PASSWORD)}" } }
acl: [{ match: { account: alice }, actions: ["*"] }]
`,
      { dir: d },
    );
    try {
      const url = `${s.url}/auth?service=registry&offline_token=true&client_id=docker&scope=repository:a/b:pull`;
      const down = await fetch(url, { headers: { authorization: basic("alice", PASSWORD) } });
      assert.equal(down.status, 200);
      const j = (await down.json()) as { token?: string; refresh_token?: string };
      assert.ok(j.token);
      assert.equal(j.refresh_token, undefined);
      for (let i = 0; i < 500 && !/refresh_token_not_issued/.test(s.stdout()); i++) await new Promise((res) => setTimeout(res, 20));
      assert.match(s.stdout(), /"event":"refresh_token_not_issued".*blocked\/regauth\.db/);
      const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: `regauth_rt_0123456789abcdef_${"A".repeat(43)}`, service: "registry", client_id: "docker" });
      const grant = await fetch(`${s.url}/auth`, { method: "POST", headers: FORM, body });
      assert.equal(grant.status, 503);
      const g = (await grant.json()) as { error: string; error_description: string };
      assert.equal(g.error, "temporarily_unavailable");
      assert.equal(g.error_description, "the token store is unavailable; try again shortly", "the client is not told the path");

      // The directory is fixed: the same server hands refresh tokens out again.
      await rm(join(d, "blocked"));
      await mkdir(join(d, "blocked"));
      const up = (await (await fetch(url, { headers: { authorization: basic("alice", PASSWORD) } })).json()) as { refresh_token?: string };
      assert.match(up.refresh_token ?? "", /^regauth_rt_/);
      body.set("refresh_token", up.refresh_token!);
      assert.equal((await fetch(`${s.url}/auth`, { method: "POST", headers: FORM, body })).status, 200);
    } finally {
      await s.stop();
      await rm(d, { recursive: true, force: true });
    }
  });
});
