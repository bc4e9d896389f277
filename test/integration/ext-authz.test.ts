// ext_authz with real programs in bash and in Python: docker_auth's stdin JSON and exit
// statuses, the printed list of actions, labels from authentication, errors and timeouts.
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { grantedSubset } from "../../src/authz/granted-subset.js";
import { extAuthzInput } from "../../src/backends/ext/authorizer.js";
import type { ExtAuthorizer } from "../../src/backends/ext/authorizer.js";
import { testHash } from "../helpers/regauth.js";
import { errorMessage, granted, LANGUAGES, q, startTestServer, tracked, type TestServer } from "../fixtures/ext/harness.js";

describe("the request ext_authz writes and the actions it grants", () => {
  test("stdin is docker_auth's JSON: capitalised fields, IP empty when unknown, labels an object", () => {
    const req = { account: "a", type: "repository", name: "x/y", service: "reg", actions: ["pull", "push"], labels: {} };
    assert.equal(extAuthzInput(req), '{"Account":"a","Type":"repository","Name":"x/y","Service":"reg","IP":"","Actions":["pull","push"],"Labels":{}}');
    assert.equal(JSON.parse(extAuthzInput({ ...req, ip: "::1", labels: { g: ["v"] } })).IP, "::1");
  });

  test("a listed action is granted only if requested; * grants everything requested", () => {
    assert.deepEqual(grantedSubset(["pull", "push"], ["pull", "delete"]), ["pull"]);
    assert.deepEqual(grantedSubset(["pull"], ["*"]), ["pull"]);
    assert.deepEqual(grantedSubset(["pull", "push"], []), []);
    assert.deepEqual(grantedSubset(["*"], ["pull"]), []);
  });
});

for (const { lang, authz } of LANGUAGES) {
  describe(`ext_authz with a ${lang} program`, () => {
    let s: TestServer;
    before(async () => {
      const adminHash = await testHash("admin-pass");
      s = await startTestServer(
        (dir) => `
users:
  "admin":
    password: ${q(adminHash)}
  "robot":
    labels: {group: [CICD]}
  "dev": {}
ext_authz:
  command: ${q(authz)}
  timeout_seconds: 3
  env: [${q(`MARK_DIR=${dir}`)}]
acl:
  - match: {account: "admin"}
    actions: ["*"]
    comment: "the static ACL is asked first"
`,
      );
    });
    after(async () => {
      await s?.stop();
    });
    const last = async () => JSON.parse(await readFile(join(s.dir, "authz-last.json"), "utf8"));

    test("exit 0 with no output grants the requested actions; exit 1 denies", async () => {
      const r = await s.token("dev", "any", "repository:allowed/app:push,pull", "repository:denied/app:pull");
      assert.deepEqual(granted(r), { "allowed/app": ["pull", "push"], "denied/app": [] });
      const entry = await s.log.entry((e) => e.event === "token" && e.account === "dev");
      assert.ok(entry?.rules.some((x: string) => x.endsWith("<- ext_authz")));
    });

    test("the program gets docker_auth's field names with the request's values, per scope", async () => {
      await s.token("robot", "any", "repository:allowed/app:push,pull");
      const req = await last();
      assert.deepEqual(Object.keys(req).sort(), ["Account", "Actions", "IP", "Labels", "Name", "Service", "Type"]);
      assert.deepEqual(req, { Account: "robot", Type: "repository", Name: "allowed/app", Service: "reg", IP: "127.0.0.1", Actions: ["pull", "push"], Labels: { group: ["CICD"] } });
    });

    test("a printed JSON list grants exactly those actions, of the requested ones", async () => {
      const r = await s.token("dev", "any", "repository:listed/a:pull,push", "repository:listed/b:push", "repository:extra/c:pull,push", "repository:star/d:pull,push", "repository:empty/e:pull");
      assert.deepEqual(granted(r), { "listed/a": ["pull"], "listed/b": [], "extra/c": ["pull"], "star/d": ["pull", "push"], "empty/e": [] });
    });

    test("labels from authentication reach the program: the CICD group pushes, others only pull", async () => {
      assert.deepEqual(granted(await s.token("robot", "any", "repository:ci/app:pull,push")), { "ci/app": ["pull", "push"] });
      assert.deepEqual(granted(await s.token("dev", "any", "repository:ci/app:pull,push")), { "ci/app": ["pull"] });
    });

    test("the static ACL decides first; the program is run only when no entry matches", async () => {
      await rm(join(s.dir, "authz-last.json"), { force: true });
      assert.deepEqual(granted(await s.token("admin", "admin-pass", "repository:denied/app:pull")), { "denied/app": ["pull"] });
      await assert.rejects(readFile(join(s.dir, "authz-last.json")), { code: "ENOENT" });
    });

    test("exit 5, and exit 2 (not a 'no match' for ext_authz, as in docker_auth), are errors: 503, stderr logged", async () => {
      const crash = await s.token("dev", "any", "repository:crash/app:pull");
      assert.equal(crash.status, 503);
      assert.match(errorMessage(crash), /^ext_authz: the program exited with status 5/);
      assert.ok(s.log.entries().some((e) => e.msg === "program stderr" && e.backend === "ext_authz" && /authz backend down/.test(e.stderr)));
      const two = await s.token("dev", "any", "repository:two/app:pull");
      assert.equal(two.status, 503);
      assert.match(errorMessage(two), /status 2/);
    });

    test("malformed output is a clear 503: broken JSON, or JSON that is not a list of actions", async () => {
      const bad = await s.token("dev", "any", "repository:badjson/app:pull");
      assert.equal(bad.status, 503);
      assert.match(errorMessage(bad), /ext_authz: the program's output is not valid JSON/);
      const obj = await s.token("dev", "any", "repository:object/app:pull");
      assert.equal(obj.status, 503);
      assert.match(errorMessage(obj), /must be a JSON list of actions/);
      assert.deepEqual(granted(await s.token("dev", "any", "repository:allowed/app:pull")), { "allowed/app": ["pull"] });
    });

    test("a hanging program is killed at the timeout: 503, and other requests are served meanwhile", async () => {
      await rm(join(s.dir, "authz-last.json"), { force: true });
      const hang = tracked(s.token("dev", "any", "repository:hang/app:pull"));
      // The program runs when its copy of stdin appears.
      const deadline = Date.now() + 20_000;
      while (!(await readFile(join(s.dir, "authz-last.json"), "utf8").then((t) => t.includes("hang/app"), () => false))) {
        if (Date.now() > deadline) throw new Error("the program did not start");
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(granted(await s.token("dev", "any", "repository:listed/x:pull")), { "listed/x": ["pull"] });
      assert.equal(hang.settled(), false);
      const r = await hang.promise;
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /^ext_authz: the program gave no answer within 3 s and was killed$/);
      assert.equal((s.authorizer("ext_authz") as ExtAuthorizer).running, 0);
    });
  });
}
