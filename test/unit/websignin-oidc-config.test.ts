// oidc_auth and google_auth as docker_auth writes them, regauth's additions, and the problems
// reported at load (each at its file, line and key, never with a secret), through the real
// config loader. Also docker_auth's per-section token dbs: a Redis one becomes the token
// store when token_store is not set.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { OidcProviderConfig } from "../../src/backends/websignin/oidc.js";
import { GOOGLE_ISSUER } from "../../src/backends/websignin/google.js";
import { knownKeysAt } from "../../src/config/schema.js";
import type { Config } from "../../src/config/types.js";
import type { RedisStoreConfig } from "../../src/stores/redis/section.js";
import type { SqliteStoreConfig } from "../../src/stores/sqlite/section.js";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

let dir: string;
let secretFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-oidc-config-"));
  secretFile = join(dir, "client_secret.txt");
  await writeFile(secretFile, "  oidc-s3cret-from-file \n");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DAY_MS = 86_400_000;

// HEAD is lines 1-2; "acl: []" is line 3, the section's key line 4, its keys from line 5.
const sectionLines = (key: string, lines: string[], extra: string[] = []) => ["acl: []", `${key}:`, ...lines.map((l) => `  ${l}`), ...extra];

async function load(key: "oidc_auth" | "google_auth", lines: string[], extra: string[] = []): Promise<{ cfg: Config; c: OidcProviderConfig }> {
  const cfg = await loadSection(dir, sectionLines(key, lines, extra));
  return { cfg, c: cfg.sections.get(key) as OidcProviderConfig };
}
const issues = (key: "oidc_auth" | "google_auth", lines: string[], extra: string[] = []) => sectionIssues(dir, sectionLines(key, lines, extra));

async function oneIssue(key: "oidc_auth" | "google_auth", lines: string[], at: string, line: number, ...fragments: RegExp[]): Promise<string> {
  const list = await issues(key, lines);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, at, JSON.stringify(list[0]));
  assert.equal(list[0]!.line, line, JSON.stringify(list[0]));
  assert.equal(list[0]!.file, join(dir, "auth.yml"));
  for (const f of fragments) assert.match(list[0]!.message, f);
  return list[0]!.message;
}

const OIDC = ['issuer: "https://sso.example.com/realms/acme"', 'client_id: "regauth"', 'client_secret: "verysecret"'];
const GOOGLE = ['client_id: "1223123456-x.apps.googleusercontent.com"', 'client_secret: "verysecret"'];

describe("oidc_auth", () => {
  test("docker_auth's reference oidc_auth section loads with its meaning (its placeholder URLs made real, the secret from a file)", async () => {
    const { cfg, c } = await load("oidc_auth", [
      '# --- required ---',
      'issuer: "https://sso.example.com/realms/acme"',
      'redirect_url: "https://auth.example.com/oidc_auth"',
      'client_id: "be4ut1fu1-cl13n7-1d"',
      `client_secret_file: "${secretFile}"`,
      "level_token_db:",
      '  path: "/path/to/tokens.ldb"',
      "  # token_hash_cost: 5",
      "# --- optional ---",
      'http_timeout: "10s"',
      'registry_url: "url_of_my_beautiful_docker_registry"',
      "user_claim: email",
      "label_claims:",
      "  - groups",
      "scopes:",
      "  - openid",
      "  - email",
    ]);
    assert.equal(c.key, "oidc_auth");
    assert.equal(c.path, "/oidc_auth");
    assert.equal(c.title, "OpenID Connect");
    assert.equal(c.issuer, "https://sso.example.com/realms/acme");
    assert.equal(c.redirectUrl, "https://auth.example.com/oidc_auth");
    assert.equal(c.common.clientId, "be4ut1fu1-cl13n7-1d");
    assert.equal(c.common.clientSecret.reveal(), "oidc-s3cret-from-file", "read from the file and trimmed");
    assert.equal(String(c.common.clientSecret), "***");
    assert.deepEqual(c.common.tokenDb, { kind: "embedded" }, "a LevelDB is the embedded store");
    assert.equal(c.common.httpTimeoutMs, 10_000);
    assert.equal(c.common.registryUrl, "url_of_my_beautiful_docker_registry");
    assert.equal(c.userClaim, "email");
    assert.deepEqual(c.labelClaims, ["groups"]);
    assert.deepEqual(c.scopes, ["openid", "email"]);
    assert.equal(c.common.passwordLifetimeMs, 30 * DAY_MS);
    // The passwords go to the token store: the embedded SQLite one, not the LevelDB path.
    assert.equal(cfg.tokenStore.backend, "sqlite");
    assert.ok(!cfg.warnings.some((w) => w.includes("oidc-s3cret-from-file")));

    // The reference as it is, with its client_secret written in: the same.
    const inline = await load("oidc_auth", ['issuer: "https://sso.example.com/realms/acme"', 'redirect_url: "https://auth.example.com/oidc_auth"', 'client_id: "be4ut1fu1-cl13n7-1d"', 'client_secret: "be4ut1fu1-cl13n7-s3cr37"']);
    assert.equal(inline.c.common.clientSecret.reveal(), "be4ut1fu1-cl13n7-s3cr37");
  });

  test("the reference's placeholders are not URLs, and are reported as such", async () => {
    const list = await issues("oidc_auth", ['issuer: "my_issuer_url"', 'redirect_url: "my_redirect_uri/oidc_auth"', 'client_id: "x"', 'client_secret: "verysecret"']);
    assert.deepEqual(
      list.map((i) => [i.key, i.line]),
      [
        ["oidc_auth.issuer", 5],
        ["oidc_auth.redirect_url", 6],
      ],
    );
    assert.ok(list.every((i) => /is not a URL/.test(i.message)), JSON.stringify(list));
  });

  test("defaults: user_claim email, scopes openid and email, title OpenID Connect, http_timeout 10s, passwords for 30 days", async () => {
    const { c } = await load("oidc_auth", OIDC);
    assert.equal(c.userClaim, "email");
    assert.deepEqual(c.scopes, ["openid", "email"]);
    assert.deepEqual(c.labelClaims, []);
    assert.equal(c.title, "OpenID Connect");
    assert.equal(c.common.httpTimeoutMs, 10_000);
    assert.equal(c.common.passwordLifetimeMs, 30 * DAY_MS);
    assert.equal(c.redirectUrl, undefined, "derived from the request");
    assert.equal(c.common.registryUrl, undefined);
    assert.equal(c.common.tokenDb, undefined);
    assert.equal(c.refuse, undefined, "no rules of its own beyond the provider's word");
  });

  test("regauth's additions: name, password_lifetime; other values as written", async () => {
    const { c } = await load("oidc_auth", [...OIDC, 'name: "Example SSO"', "password_lifetime: 168h", "http_timeout: 3s", "user_claim: preferred_username", "scopes: [openid, profile, groups]"]);
    assert.equal(c.title, "Example SSO");
    assert.equal(c.common.passwordLifetimeMs, 168 * 3_600_000);
    assert.equal(c.common.httpTimeoutMs, 3000);
    assert.equal(c.userClaim, "preferred_username");
    assert.deepEqual(c.scopes, ["openid", "profile", "groups"]);
    await oneIssue("oidc_auth", [...OIDC, "password_lifetime: 30s"], "oidc_auth.password_lifetime", 8, /between 1m and 87600h/);
    await oneIssue("oidc_auth", [...OIDC, "http_timeout: 10m"], "oidc_auth.http_timeout", 8, /at most 5m/);
  });

  test("labels_claims (docker_auth's code) and label_claims (its reference file) are both read; both at once are refused", async () => {
    assert.deepEqual((await load("oidc_auth", [...OIDC, "labels_claims: [groups, roles]"])).c.labelClaims, ["groups", "roles"]);
    assert.deepEqual((await load("oidc_auth", [...OIDC, "label_claims: [groups]"])).c.labelClaims, ["groups"]);
    await oneIssue("oidc_auth", [...OIDC, "labels_claims: [groups]", "label_claims: [roles]"], "oidc_auth.label_claims", 9, /set only one of labels_claims and label_claims/);
  });

  test("scopes without openid are refused: no ID token would come", async () => {
    await oneIssue("oidc_auth", [...OIDC, "scopes: [email, profile]"], "oidc_auth.scopes", 8, /must include openid/);
  });

  test("the issuer must be https, or http on loopback only", async () => {
    await oneIssue("oidc_auth", ['issuer: "http://sso.example.com"', 'client_id: "x"', 'client_secret: "verysecret"'], "oidc_auth.issuer", 5, /https:\/\/ URL \(http:\/\/ only on loopback\)/);
    await oneIssue("oidc_auth", ['issuer: "http://10.0.0.7:8080"', 'client_id: "x"', 'client_secret: "verysecret"'], "oidc_auth.issuer", 5, /https/);
    for (const issuer of ["http://127.0.0.1:8080", "http://localhost:9000/realms/test", "http://[::1]:8080"])
      assert.equal((await load("oidc_auth", [`issuer: "${issuer}"`, 'client_id: "x"', 'client_secret: "verysecret"'])).c.issuer, issuer);
    assert.equal((await load("oidc_auth", ['issuer: "https://sso.example.com/"', 'client_id: "x"', 'client_secret: "verysecret"'])).c.issuer, "https://sso.example.com", "the trailing slash is dropped");
    await oneIssue("oidc_auth", ['client_id: "x"', 'client_secret: "verysecret"'], "oidc_auth.issuer", 4, /is required/);
  });

  test("redirect_url must end with /oidc_auth, and be https (or loopback http)", async () => {
    await oneIssue("oidc_auth", [...OIDC, 'redirect_url: "https://auth.example.com/callback"'], "oidc_auth.redirect_url", 8, /must end with \/oidc_auth/);
    await oneIssue("oidc_auth", [...OIDC, 'redirect_url: "http://auth.example.com/oidc_auth"'], "oidc_auth.redirect_url", 8, /https/);
    assert.equal((await load("oidc_auth", [...OIDC, 'redirect_url: "https://auth.example.com/prefix/oidc_auth"'])).c.redirectUrl, "https://auth.example.com/prefix/oidc_auth");
    assert.equal((await load("oidc_auth", [...OIDC, 'redirect_url: "http://127.0.0.1:5001/oidc_auth"'])).c.redirectUrl, "http://127.0.0.1:5001/oidc_auth");
  });

  test("client_id and client_secret are required, reported at the section's file and line", async () => {
    const list = await issues("oidc_auth", ['issuer: "https://sso.example.com"']);
    assert.deepEqual(
      list.map((i) => [i.file, i.line, i.key]).sort(),
      [
        [join(dir, "auth.yml"), 4, "oidc_auth.client_id"],
        [join(dir, "auth.yml"), 4, "oidc_auth.client_secret"],
      ],
    );
    assert.ok(list.every((i) => /is required/.test(i.message)), JSON.stringify(list));
    await oneIssue("oidc_auth", ['issuer: "https://sso.example.com"', 'client_id: "x"', 'client_secret: ""'], "oidc_auth.client_secret", 7, /is empty/);
    await oneIssue("oidc_auth", ['issuer: "https://sso.example.com"', 'client_id: "x"', `client_secret_file: "${join(dir, "missing")}"`], "oidc_auth.client_secret_file", 7, /cannot read/);
  });

  test("client_secret and client_secret_file both set are refused, without showing the secret", async () => {
    const message = await oneIssue("oidc_auth", [...OIDC, `client_secret_file: "${secretFile}"`], "oidc_auth.client_secret", 7, /set only one of client_secret, client_secret_file and client_secret_env/);
    assert.ok(!message.includes("verysecret"));
  });

  test("gcs_token_db is refused, naming what to use instead", async () => {
    const message = await oneIssue("oidc_auth", [...OIDC, "gcs_token_db:", '  bucket: "tokenBucket"', '  client_secret_file: "/path/to/client_secret.json"'], "oidc_auth.gcs_token_db", 8, /Google Cloud Storage is not offered/);
    assert.match(message, /level_token_db/);
    assert.match(message, /token_store: \{redis: \{url: \.\.\.\}\}/);
    await oneIssue("oidc_auth", [...OIDC, "level_token_db: {path: /x.ldb}", "redis_token_db: {redis_options: {addr: localhost:6379}}"], "oidc_auth.redis_token_db", 9, /set only one token db/);
  });

  test("the section's keys are docker_auth's plus regauth's additions", () => {
    assert.deepEqual(
      [...knownKeysAt(["oidc_auth"])].sort(),
      ["client_id", "client_secret", "client_secret_env", "client_secret_file", "gcs_token_db", "http_timeout", "issuer", "label_claims", "labels_claims", "level_token_db", "name", "password_lifetime", "redirect_url", "redis_token_db", "registry_url", "scopes", "user_claim"],
    );
  });
});

describe("docker_auth's redis_token_db", () => {
  test("with no token_store, it becomes the token store: that Redis, its db, its password (never shown)", async () => {
    const { cfg, c } = await load("oidc_auth", [...OIDC, "redis_token_db:", "  redis_options:", '    addr: "10.0.0.5:6380"', "    db: 2", '    password: "pw"']);
    assert.equal(c.common.tokenDb?.kind, "redis");
    assert.equal(cfg.tokenStore.backend, "redis");
    const redis = cfg.tokenStore.settings as RedisStoreConfig;
    assert.equal(redis.mode, "standalone");
    assert.deepEqual(redis.nodes, [{ host: "10.0.0.5", port: 6380 }]);
    assert.equal(redis.db, 2);
    assert.equal(redis.password?.reveal(), "pw");
    assert.equal(redis.address, "redis://10.0.0.5:6380/2");
    const shown = JSON.stringify({ ...cfg, sections: [...cfg.sections] });
    assert.ok(!shown.includes('"pw"') && !shown.includes(":pw@"), shown);

    // A longer password, to look for anywhere in what the config shows.
    const pw = "r3dis-Pass/word@with:specials";
    const long = await load("oidc_auth", [...OIDC, `redis_token_db: {redis_options: {addr: "10.0.0.5:6380", db: 2, password: "${pw}"}}`]);
    const settings = long.cfg.tokenStore.settings as RedisStoreConfig;
    assert.equal(settings.password?.reveal(), pw, "special characters survive the trip through a URL");
    assert.ok(!JSON.stringify({ ...long.cfg, sections: [...long.cfg.sections] }).includes(pw));
    assert.ok(!long.cfg.warnings.join("\n").includes(pw));
  });

  test("go-redis's defaults: localhost:6379, db 0, no password", async () => {
    const { cfg } = await load("oidc_auth", [...OIDC, "redis_token_db: {redis_options: {}}"]);
    const redis = cfg.tokenStore.settings as RedisStoreConfig;
    assert.deepEqual([cfg.tokenStore.backend, redis.nodes, redis.db, redis.password], ["redis", [{ host: "localhost", port: 6379 }], 0, undefined]);
  });

  test("a Redis cluster is refused, pointing at token_store's cluster setting", async () => {
    await oneIssue("oidc_auth", [...OIDC, "redis_token_db:", "  redis_cluster_options:", '    addrs: ["localhost:7000"]'], "oidc_auth.redis_token_db.redis_cluster_options", 9, /token_store: \{redis: \{cluster:/);
  });

  const withTokenStore = () =>
    load("oidc_auth", [...OIDC, 'redis_token_db: {redis_options: {addr: "10.0.0.5:6380", db: 2, password: "pw"}}'], [`token_store: {sqlite: {path: "${join(dir, "tokens.db")}"}}`]);

  test("with token_store set as well, token_store wins", async () => {
    const { cfg } = await withTokenStore();
    assert.equal(cfg.tokenStore.backend, "sqlite");
    assert.equal((cfg.tokenStore.settings as SqliteStoreConfig).path, join(dir, "tokens.db"));
    assert.ok(!cfg.warnings.join("\n").includes(":pw@"));
  });

  test("with token_store set as well, the ignored redis_token_db is warned about", async () => {
    const { cfg } = await withTokenStore();
    assert.ok(
      cfg.warnings.some((w) => /oidc_auth\.redis_token_db ignored: token_store keeps the web sign-in passwords/.test(w)),
      cfg.warnings.join("\n"),
    );
    assert.ok(!cfg.warnings.join("\n").includes(":pw@"));
  });

  test("two sections naming different Redis servers are refused; the same one is fine", async () => {
    const gh = ["github_auth:", "  organization: acme", '  client_id: "1"', '  client_secret: "verysecret"'];
    const list = await issues("oidc_auth", [...OIDC, 'redis_token_db: {redis_options: {addr: "10.0.0.5:6380"}}'], [...gh, '  redis_token_db: {redis_options: {addr: "10.0.0.6:6380"}}']);
    assert.ok(list.some((i) => /one token store/.test(i.message)), JSON.stringify(list));
    const same = await load("oidc_auth", [...OIDC, 'redis_token_db: {redis_options: {addr: "10.0.0.5:6380"}}'], [...gh, '  redis_token_db: {redis_options: {addr: "10.0.0.5:6380"}}']);
    assert.equal(same.cfg.tokenStore.backend, "redis");
  });

  test("an addr that is not host:port is a config problem at its key, not a crash", async () => {
    for (const addr of ["my host:6379", "10.0.0.5:99999"]) {
      const list = await issues("oidc_auth", [...OIDC, `redis_token_db: {redis_options: {addr: "${addr}", password: "pw-not-shown"}}`]);
      assert.ok(list.length >= 1);
      assert.ok(!JSON.stringify(list).includes("pw-not-shown"));
    }
  });
});

describe("google_auth", () => {
  test("docker_auth's reference google_auth section loads with its meaning", async () => {
    const { c } = await load("google_auth", [
      'domain: "example.com"',
      'client_id: "1223123456-somethingsomething.apps.googleusercontent.com"',
      '# client_secret: "verysecret"',
      `client_secret_file: "${secretFile}"`,
      "level_token_db:",
      '  path: "/somewhere/to/put/google_tokens.ldb"',
      "  # token_hash_cost: 5",
      'http_timeout: "10s"',
    ]);
    assert.equal(c.key, "google_auth");
    assert.equal(c.path, "/google_auth");
    assert.equal(c.title, "Google");
    assert.equal(c.issuer, GOOGLE_ISSUER);
    assert.equal(c.common.clientId, "1223123456-somethingsomething.apps.googleusercontent.com");
    assert.equal(c.common.clientSecret.reveal(), "oidc-s3cret-from-file");
    assert.deepEqual(c.common.tokenDb, { kind: "embedded" });
    assert.equal(c.common.httpTimeoutMs, 10_000);
    assert.equal(c.authParams?.["hd"], "example.com");
  });

  test("defaults: Google's issuer, the e-mail as the user name, openid and email, a refresh token asked for", async () => {
    const { c } = await load("google_auth", GOOGLE);
    assert.equal(GOOGLE_ISSUER, "https://accounts.google.com");
    assert.equal(c.issuer, "https://accounts.google.com");
    assert.equal(c.userClaim, "email");
    assert.deepEqual(c.scopes, ["openid", "email"]);
    assert.deepEqual(c.labelClaims, []);
    assert.deepEqual(c.authParams, { access_type: "offline", prompt: "consent" }, "no hd without a domain");
    assert.equal(c.common.httpTimeoutMs, 10_000);
    assert.equal(c.common.passwordLifetimeMs, 30 * DAY_MS);
    assert.equal(c.redirectUrl, undefined);
  });

  test("the domain is lower-cased, and only its verified accounts are let in", async () => {
    const { c } = await load("google_auth", [...GOOGLE, 'domain: "Example.COM"']);
    assert.equal(c.authParams?.["hd"], "example.com");
    const refuse = c.refuse!;
    assert.equal(refuse({ email: "Gina@Example.com", email_verified: true, hd: "example.com" }), undefined);
    assert.equal(refuse({ email: "gina@example.com", email_verified: true }), undefined, "hd absent: the e-mail decides");
    assert.match(refuse({ email: "gina@example.com", email_verified: false }) ?? "", /not verified/);
    assert.match(refuse({ email: "out@elsewhere.org", email_verified: true, hd: "elsewhere.org" }) ?? "", /Only accounts of example\.com may sign in here/);
    assert.match(refuse({ email: "out@elsewhere.org", email_verified: true, hd: "example.com" }) ?? "", /Only accounts of example\.com/, "hd alone does not let in");
    assert.match(refuse({ email: "gina@sub.example.com", email_verified: true }) ?? "", /Only accounts of example\.com/);
    // Without a domain, any verified Google account.
    const open = (await load("google_auth", GOOGLE)).c.refuse!;
    assert.equal(open({ email: "anyone@gmail.com", email_verified: true }), undefined);
    assert.match(open({ email: "anyone@gmail.com" }) ?? "", /not verified/);
  });

  test("a bad domain is refused at its key", async () => {
    for (const domain of ["example", "exa mple.com", "-example.com", "@example.com", "https://example.com"])
      await oneIssue("google_auth", [...GOOGLE, `domain: "${domain}"`], "google_auth.domain", 7, /is not a domain name/);
  });

  test("regauth's additions: issuer (https, or loopback http) and redirect_url ending with /google_auth", async () => {
    assert.equal((await load("google_auth", [...GOOGLE, 'issuer: "http://127.0.0.1:9000"'])).c.issuer, "http://127.0.0.1:9000");
    await oneIssue("google_auth", [...GOOGLE, 'issuer: "http://accounts.example.com"'], "google_auth.issuer", 7, /https/);
    assert.equal((await load("google_auth", [...GOOGLE, 'redirect_url: "https://auth.example.com/google_auth"'])).c.redirectUrl, "https://auth.example.com/google_auth");
    await oneIssue("google_auth", [...GOOGLE, 'redirect_url: "https://auth.example.com/oidc_auth"'], "google_auth.redirect_url", 7, /must end with \/google_auth/);
  });

  test("client_id and client_secret are required; gcs_token_db is refused", async () => {
    const list = await issues("google_auth", ['domain: "example.com"']);
    assert.deepEqual(list.map((i) => [i.line, i.key]).sort(), [
      [4, "google_auth.client_id"],
      [4, "google_auth.client_secret"],
    ]);
    await oneIssue("google_auth", [...GOOGLE, "gcs_token_db: {bucket: b}"], "google_auth.gcs_token_db", 7, /Google Cloud Storage is not offered/, /level_token_db/);
  });
});
