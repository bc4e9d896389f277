// github_auth as docker_auth writes it, regauth's additions, and the problems reported at load
// (each at its file, line and key, never with the client secret).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { GitHubAuthConfig } from "../../src/backends/websignin/github.js";
import { nextLink } from "../../src/backends/websignin/github.js";
import { knownKeysAt } from "../../src/config/schema.js";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-github-config-"));
  await writeFile(join(dir, "gh-secret"), "  s3cret-from-file \n");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// HEAD is lines 1-2; "acl: []" is line 3, "github_auth:" line 4, the section's keys from line 5.
const section = (lines: string[]) => ["acl: []", "github_auth:", ...lines.map((l) => `  ${l}`)];
const load = async (lines: string[]) => {
  const cfg = await loadSection(dir, section(lines));
  return { cfg, gh: cfg.sections.get("github_auth") as GitHubAuthConfig };
};
const issues = (lines: string[]) => sectionIssues(dir, section(lines));

async function oneIssue(lines: string[], key: string, line: number, ...fragments: RegExp[]): Promise<void> {
  const list = await issues(lines);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, key, JSON.stringify(list[0]));
  assert.equal(list[0]!.line, line, JSON.stringify(list[0]));
  assert.equal(list[0]!.file, join(dir, "auth.yml"));
  for (const f of fragments) assert.match(list[0]!.message, f);
}

const BASIC = ['client_id: "1223123456"', 'client_secret: "verysecret"'];

test("docker_auth's reference github_auth section loads with its meaning", async () => {
  const { gh } = await load([
    'organization: "acme"',
    'client_id: "1223123456"',
    `client_secret_file: "${join(dir, "gh-secret")}"`,
    "level_token_db:",
    '  path: "/somewhere/to/put/github_tokens.ldb"',
    '  token_hash_cost: 5',
    'http_timeout: "10s"',
    'revalidate_after: "1h"',
    'github_web_uri: "https://github.acme.com"',
    'github_api_uri: "https://github.acme.com/api/v3"',
    "registry_url: localhost:5000",
  ]);
  assert.equal(gh.organization, "acme");
  assert.equal(gh.common.clientId, "1223123456");
  assert.equal(gh.common.clientSecret.reveal(), "s3cret-from-file");
  assert.deepEqual(gh.common.tokenDb, { kind: "embedded" });
  assert.deepEqual([gh.common.httpTimeoutMs, gh.revalidateAfterMs], [10_000, 3_600_000]);
  assert.deepEqual([gh.webUri, gh.apiUri], ["https://github.acme.com", "https://github.acme.com/api/v3"]);
  assert.equal(gh.common.registryUrl, "localhost:5000");
  assert.equal(gh.redirectUrl, undefined);
});

test("defaults: github.com, api.github.com, revalidate after 1h; no organization is allowed but warned about", async () => {
  const { cfg, gh } = await load(BASIC);
  assert.deepEqual([gh.webUri, gh.apiUri, gh.revalidateAfterMs, gh.common.httpTimeoutMs], ["https://github.com", "https://api.github.com", 3_600_000, 10_000]);
  assert.equal(gh.organization, undefined);
  assert.ok(cfg.warnings.some((w) => /github_auth has no organization: anyone with a GitHub account can sign in/.test(w)), cfg.warnings.join("\n"));
  assert.ok(!cfg.warnings.some((w) => w.includes("verysecret")));
  // docker_auth: 0 means the default; an empty organization is none.
  const zero = await load([...BASIC, 'revalidate_after: "0"', 'organization: ""']);
  assert.deepEqual([zero.gh.revalidateAfterMs, zero.gh.organization], [3_600_000, undefined]);
});

test("regauth's additions: redirect_url, client_secret_env, password_lifetime; trailing slashes are dropped", async () => {
  process.env["REGAUTH_TEST_GH_SECRET"] = "from-env";
  try {
    const { gh } = await load([
      'client_id: "x"',
      "client_secret_env: REGAUTH_TEST_GH_SECRET",
      "organization: acme",
      "redirect_url: https://auth.example.com/prefix/github_auth",
      "password_lifetime: 168h",
      "github_web_uri: https://github.example.com/",
      "github_api_uri: https://github.example.com/api/v3//",
      "revalidate_after: 15m",
    ]);
    assert.equal(gh.common.clientSecret.reveal(), "from-env");
    assert.equal(gh.redirectUrl, "https://auth.example.com/prefix/github_auth");
    assert.equal(gh.common.passwordLifetimeMs, 168 * 3_600_000);
    assert.deepEqual([gh.webUri, gh.apiUri, gh.revalidateAfterMs], ["https://github.example.com", "https://github.example.com/api/v3", 900_000]);
  } finally {
    delete process.env["REGAUTH_TEST_GH_SECRET"];
  }
});

test("the client id and secret are required", async () => {
  const list = await issues(["organization: acme"]);
  assert.deepEqual(list.map((i) => i.key).sort(), ["github_auth.client_id", "github_auth.client_secret"]);
  assert.ok(list.every((i) => i.line === 4 && /is required/.test(i.message)), JSON.stringify(list));
});

test("bad values are reported at their file, line and key", async () => {
  await oneIssue([...BASIC, "github_web_uri: github.example.com"], "github_auth.github_web_uri", 7, /not an absolute URL/);
  await oneIssue([...BASIC, "github_api_uri: ftp://github.example.com"], "github_auth.github_api_uri", 7, /http or https/);
  await oneIssue([...BASIC, "revalidate_after: soon"], "github_auth.revalidate_after", 7, /duration/);
  await oneIssue([...BASIC, "revalidate_after: 3600"], "github_auth.revalidate_after", 7, /bare number/);
  await oneIssue([...BASIC, 'revalidate_after: "-1h"'], "github_auth.revalidate_after", 7, /negative/);
  await oneIssue([...BASIC, "organization: acme/devs"], "github_auth.organization", 7, /not a GitHub organization name/);
  await oneIssue([...BASIC, "redirect_url: https://auth.example.com/callback"], "github_auth.redirect_url", 7, /must end with \/github_auth/);
  await oneIssue([...BASIC, "redirect_url: /github_auth"], "github_auth.redirect_url", 7, /absolute URL/);
  await oneIssue([...BASIC, "http_timeout: 10m"], "github_auth.http_timeout", 7, /at most 5m/);
  await oneIssue([...BASIC, "gcs_token_db: {bucket: b, client_secret_file: f}"], "github_auth.gcs_token_db", 7, /Google Cloud Storage is not offered/);
});

test("an unknown key is refused with the nearest known one", async () => {
  await oneIssue([...BASIC, "organisation: acme"], "github_auth.organisation", 7, /unknown key "organisation"; did you mean "organization"\?/);
  await oneIssue([...BASIC, "teams: [a]"], "github_auth.teams", 7, /unknown key "teams"/);
});

test("a secret given twice is refused without showing it", async () => {
  const list = await issues(['client_id: "x"', "client_secret: verysecret", `client_secret_file: ${join(dir, "gh-secret")}`]);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, "github_auth.client_secret");
  assert.ok(!JSON.stringify(list).includes("verysecret"));
});

test("the section's keys are docker_auth's plus regauth's additions", () => {
  assert.deepEqual(
    [...knownKeysAt(["github_auth"])].sort(),
    [
      "client_id",
      "client_secret",
      "client_secret_env",
      "client_secret_file",
      "gcs_token_db",
      "github_api_uri",
      "github_web_uri",
      "http_timeout",
      "level_token_db",
      "organization",
      "password_lifetime",
      "redirect_url",
      "redis_token_db",
      "registry_url",
      "revalidate_after",
    ],
  );
});

test("GitHub's Link header: the next page's URL", () => {
  const h = '<https://api.github.com/user/teams?per_page=100&page=2>; rel="next", <https://api.github.com/user/teams?per_page=100&page=5>; rel="last"';
  assert.equal(nextLink(h), "https://api.github.com/user/teams?per_page=100&page=2");
  assert.equal(nextLink('<https://api.github.com/user/teams?page=1>; rel="first", <https://api.github.com/user/teams?page=4>; rel="prev"'), undefined);
  assert.equal(nextLink(null), undefined);
});
