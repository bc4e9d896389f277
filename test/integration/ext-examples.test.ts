// The programs and config shipped in examples/ext/ do what their comments say.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ExtAuthenticator } from "../../src/backends/ext/authenticator.js";
import { AclAuthorizer } from "../../src/authz/acl.js";
import { ExtAuthorizer } from "../../src/backends/ext/authorizer.js";
import { parseConfig } from "../../src/config/load.js";
import type { ExtAuthConfig, ExtAuthzConfig } from "../../src/backends/ext/section.js";
import { createLogger } from "../../src/log.js";
import { Secret } from "../../src/secret.js";
import { ROOT } from "../helpers/regauth.js";
import { EXAMPLES, LogSink } from "../fixtures/ext/harness.js";

const silent = () => createLogger("silent", new LogSink());
const HEAD = `server: {addr: "127.0.0.1:0"}\ntoken: {issuer: i, expiration: 60, certificate: t.crt, key: t.key}\nacl: []\n`;

async function section<T>(key: string, body: string): Promise<T> {
  return (await parseConfig("x.yml", HEAD + body, ROOT)).sections.get(key) as T;
}

describe("examples/ext/regauth-ext.yml", () => {
  test("is a valid config whose ext_auth names the example script, with its ACL compiling", async () => {
    process.env.CICD_SECRET = "example-secret";
    const file = join(EXAMPLES, "ext", "regauth-ext.yml");
    const cfg = await parseConfig(file, await readFile(file, "utf8"), ROOT);
    const ext = cfg.sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(ext.path, join(EXAMPLES, "ext", "ext_auth.sh"));
    assert.equal(ext.cacheTtlMs, 10_000);
    assert.deepEqual(ext.env, [{ name: "CICD_SECRET" }]);
    assert.doesNotThrow(() => new AclAuthorizer(cfg.acl!, cfg.where));
    assert.deepEqual(cfg.warnings, []);
  });

  test("its commented-out variants are valid too", async () => {
    const text = await readFile(join(EXAMPLES, "ext", "regauth-ext.yml"), "utf8");
    // Swap the active ext_auth for the commented REST one, and switch on ext_authz.
    const rest = text
      .replace(/\next_auth:\n(  .*\n|\s*\n)+/, "\n")
      .replace(/# ext_auth:\n((#   .*\n)+)/, (_m, body: string) => `ext_auth:\n${body.replace(/^# /gm, "")}`)
      .replace(/# ext_authz:\n((#   .*\n)+)/, (_m, body: string) => `ext_authz:\n${body.replace(/^# /gm, "")}`);
    process.env.USER_SERVICE_TOKEN = "t";
    const cfg = await parseConfig("variant.yml", rest, ROOT);
    assert.equal((cfg.sections.get("ext_auth") as ExtAuthConfig).path, join(EXAMPLES, "ext", "ext_auth_rest.py"));
    assert.equal((cfg.sections.get("ext_authz") as ExtAuthzConfig).path, join(EXAMPLES, "ext", "ext_authz.py"));
  });
});

describe("examples/ext/ext_auth.sh", () => {
  let a: ExtAuthenticator;
  before(async () => {
    process.env.CICD_SECRET = "example-secret";
    a = new ExtAuthenticator(await section<ExtAuthConfig>("ext_auth", `ext_auth:\n  command: "examples/ext/ext_auth.sh"\n  env: [CICD_SECRET]\n`), silent(), 10);
  });
  after(() => a?.stop());

  test("cicd with the secret gets group CICD; a wrong secret is denied; other users are no match", async () => {
    assert.deepEqual(await a.authenticate("cicd", new Secret("example-secret")), { kind: "match", labels: { group: ["CICD"] } });
    assert.deepEqual(await a.authenticate("cicd", new Secret("example-secret ")), { kind: "denied" });
    assert.deepEqual(await a.authenticate("cicd", new Secret("")), { kind: "denied" });
    assert.deepEqual(await a.authenticate("someone", new Secret("example-secret")), { kind: "no-match" });
  });
});

describe("examples/ext/ext_auth_rest.py against a user service", () => {
  let service: Server;
  let url: string;
  const seen: unknown[] = [];
  let a: ExtAuthenticator;
  before(async () => {
    service = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const { user, password } = JSON.parse(body) as { user: string; password: string };
        seen.push({ user, password, auth: req.headers.authorization });
        const answer = (status: number, json?: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(json === undefined ? "" : JSON.stringify(json));
        };
        if (user === "broken") return answer(500);
        if (user !== "dana" && user !== "dana two") return answer(404);
        if (password !== "dana's pass") return answer(401);
        answer(200, { groups: ["dev", "CICD"] });
      });
    });
    await new Promise<void>((r) => service.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/check`;
    process.env.USER_SERVICE_TOKEN = "svc-token";
    a = new ExtAuthenticator(
      await section<ExtAuthConfig>("ext_auth", `ext_auth:\n  command: "examples/ext/ext_auth_rest.py"\n  env: ["USER_SERVICE_URL=${url}", USER_SERVICE_TOKEN]\n`),
      silent(),
      10,
    );
  });
  after(async () => {
    await a?.stop();
    service?.close();
  });

  test("200 allows with the groups as labels; the service gets the user, the password and the token", async () => {
    assert.deepEqual(await a.authenticate("dana", new Secret("dana's pass")), { kind: "match", labels: { group: ["dev", "CICD"] } });
    assert.deepEqual(seen.at(-1), { user: "dana", password: "dana's pass", auth: "Bearer svc-token" });
  });

  test("401 denies, 404 is no match, 500 is an error (503)", async () => {
    assert.deepEqual(await a.authenticate("dana", new Secret("wrong")), { kind: "denied" });
    assert.deepEqual(await a.authenticate("erin", new Secret("x")), { kind: "no-match" });
    await assert.rejects(a.authenticate("broken", new Secret("x")), (e: Error & { status?: number }) => e.status === 503 && /status 3/.test(e.message));
  });

  test("an unreachable service is an error, not a denial", async () => {
    const down = new ExtAuthenticator(
      await section<ExtAuthConfig>("ext_auth", `ext_auth:\n  command: "examples/ext/ext_auth_rest.py"\n  env: ["USER_SERVICE_URL=http://127.0.0.1:1/check"]\n`),
      silent(),
      10,
    );
    await assert.rejects(down.authenticate("dana", new Secret("dana's pass")), /status 3/);
    await down.stop();
  });
});

describe("examples/ext/ext_authz.py", () => {
  let z: ExtAuthorizer;
  before(async () => {
    z = new ExtAuthorizer(await section<ExtAuthzConfig>("ext_authz", `users: {}\next_authz:\n  command: "examples/ext/ext_authz.py"\n`), silent());
  });
  after(() => z?.stop());
  const req = (account: string, name: string, labels: Record<string, string[]> = {}) => ({ account, type: "repository", name, service: "reg", ip: "10.0.0.7", actions: ["pull", "push"], labels });

  test("the CICD group pushes ci/*, other users pull it, anything else is denied", async () => {
    assert.deepEqual(await z.authorize(req("cicd", "ci/app", { group: ["CICD"] })), { kind: "match", actions: ["pull", "push"], rule: { source: "ext_authz" } });
    assert.deepEqual(await z.authorize(req("dev", "ci/app")), { kind: "match", actions: ["pull"], rule: { source: "ext_authz (listed actions)" } });
    assert.deepEqual(await z.authorize(req("", "ci/app")), { kind: "match", actions: [], rule: { source: "ext_authz" } });
    assert.deepEqual(await z.authorize(req("dev", "other/app")), { kind: "match", actions: [], rule: { source: "ext_authz" } });
  });
});
