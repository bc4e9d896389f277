// gitlab_auth as docker_auth writes it, regauth's readings of it, and the problems reported at
// load (each at its file, line and key).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { GitLabAuthConfig } from "../../src/backends/websignin/gitlab.js";
import { knownKeysAt } from "../../src/config/schema.js";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-gitlab-config-"));
  await writeFile(join(dir, "gl-secret"), "gl-s3cret\n");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// "acl: []" is line 3, "gitlab_auth:" line 4, the section's keys from line 5.
const section = (lines: string[]) => ["acl: []", "gitlab_auth:", ...lines.map((l) => `  ${l}`)];
const load = async (lines: string[]) => {
  const cfg = await loadSection(dir, section(lines));
  return { cfg, gl: cfg.sections.get("gitlab_auth") as GitLabAuthConfig };
};
const issues = (lines: string[]) => sectionIssues(dir, section(lines));

async function oneIssue(lines: string[], key: string, line: number, fragment: RegExp): Promise<void> {
  const list = await issues(lines);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.deepEqual([list[0]!.key, list[0]!.line], [key, line], JSON.stringify(list[0]));
  assert.match(list[0]!.message, fragment);
}

const BASIC = ['client_id: "1223123456"', 'client_secret: "verysecret"'];

test("docker_auth's reference gitlab_auth section loads with its meaning", async () => {
  const { cfg, gl } = await load([
    'client_id: "1223123456"',
    `client_secret_file: "${join(dir, "gl-secret")}"`,
    "redis_token_db:",
    "  redis_options:",
    "    addr: localhost:6379",
    'http_timeout: "10s"',
    'revalidate_after: "1h"',
    'gitlab_web_uri: "https://gitlab.com"',
    'gitlab_api_uri: "https://gitlab.com/api/v4"',
    "registry_url: localhost:5000",
    'grant_type: "authorization_code"',
    'redirect_uri: "https://localhost:5001/gitlab_auth"',
  ]);
  assert.equal(gl.common.clientSecret.reveal(), "gl-s3cret");
  assert.deepEqual(gl.common.tokenDb, { kind: "redis", url: "redis://localhost:6379/0", password: undefined });
  assert.deepEqual([gl.webUri, gl.apiUri, gl.grantType, gl.redirectUri], ["https://gitlab.com", "https://gitlab.com/api/v4", "authorization_code", "https://localhost:5001/gitlab_auth"]);
  assert.deepEqual([gl.common.httpTimeoutMs, gl.revalidateAfterMs, gl.common.registryUrl], [10_000, 3_600_000, "localhost:5000"]);
  assert.equal(gl.organization, undefined);
  assert.ok(cfg.warnings.some((w) => /gitlab_auth has no organization: anyone with an account on https:\/\/gitlab\.com can sign in/.test(w)), cfg.warnings.join("\n"));
});

test("defaults are the documented ones; grant_type and redirect_uri may be left out", async () => {
  const { gl } = await load([...BASIC, "organization: /acme/platform/"]);
  assert.deepEqual([gl.webUri, gl.apiUri, gl.grantType, gl.redirectUri, gl.revalidateAfterMs], ["https://gitlab.com", "https://gitlab.com/api/v4", "authorization_code", undefined, 3_600_000]);
  assert.equal(gl.organization, "acme/platform");
});

test("the client id and secret are required", async () => {
  const list = await issues(["organization: acme"]);
  assert.deepEqual(list.map((i) => i.key).sort(), ["gitlab_auth.client_id", "gitlab_auth.client_secret"]);
});

test("bad values are reported at their file, line and key", async () => {
  await oneIssue([...BASIC, "grant_type: client_credentials"], "gitlab_auth.grant_type", 7, /must be authorization_code/);
  await oneIssue([...BASIC, "redirect_uri: https://auth.example.com/oauth/callback"], "gitlab_auth.redirect_uri", 7, /must end with \/gitlab_auth/);
  await oneIssue([...BASIC, "gitlab_web_uri: gitlab.example.com"], "gitlab_auth.gitlab_web_uri", 7, /not an absolute URL/);
  await oneIssue([...BASIC, "gitlab_api_uri: https://gitlab.example.com/api/v4?x=1"], "gitlab_auth.gitlab_api_uri", 7, /query/);
  await oneIssue([...BASIC, "organization: acme corp"], "gitlab_auth.organization", 7, /not a GitLab group path/);
  await oneIssue([...BASIC, "revalidate_after: 2y"], "gitlab_auth.revalidate_after", 7, /duration/);
  await oneIssue([...BASIC, "redirect_url: https://a.example.com/gitlab_auth"], "gitlab_auth.redirect_url", 7, /unknown key "redirect_url"; did you mean "redirect_uri"\?/);
});

test("plain http to another machine is warned about", async () => {
  const { cfg } = await load([...BASIC, "organization: acme", "gitlab_web_uri: http://gitlab.internal", "gitlab_api_uri: http://127.0.0.1:8080/api/v4"]);
  const plain = cfg.warnings.filter((w) => /plain http/.test(w));
  assert.equal(plain.length, 1, plain.join("\n"));
  assert.match(plain[0]!, /auth\.yml:8: gitlab_auth\.gitlab_web_uri: http:\/\/gitlab\.internal is plain http/);
});

test("the section's keys are docker_auth's plus regauth's additions", () => {
  assert.deepEqual(
    [...knownKeysAt(["gitlab_auth"])].sort(),
    [
      "client_id",
      "client_secret",
      "client_secret_env",
      "client_secret_file",
      "gcs_token_db",
      "gitlab_api_uri",
      "gitlab_web_uri",
      "grant_type",
      "http_timeout",
      "level_token_db",
      "organization",
      "password_lifetime",
      "redirect_uri",
      "redis_token_db",
      "registry_url",
      "revalidate_after",
    ],
  );
});
