// casbin_authz: docker_auth's labels JSON and labelMatch, its example model and policy giving
// the answers of docker_auth's own TestPermissions, and the problems found at load.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { AuthzRequest } from "../../src/authz/authorizer.js";
import { CasbinAuthorizer } from "../../src/backends/casbin/authorizer.js";
import { CasbinLoadError, loadEnforcer } from "../../src/backends/casbin/enforcer.js";
import { labelMatch, labelsJson, parseLabelsColumn } from "../../src/backends/casbin/labels.js";
import { parseConfig } from "../../src/config/load.js";
import { BackendError, ConfigError } from "../../src/errors.js";
import { ROOT } from "../helpers/regauth.js";

const MODEL = join(ROOT, "examples", "casbin", "model.conf");
const POLICY = join(ROOT, "examples", "casbin", "policy.csv");

test("labels go to casbin as Go's json.Marshal writes them: keys sorted, HTML characters escaped", () => {
  assert.equal(labelsJson({ d: ["e"], a: ["b", "c"] }), '{"a":["b","c"],"d":["e"]}');
  assert.equal(labelsJson({}), "{}");
  assert.equal(labelsJson({ team: ["r&d <core>"] }), '{"team":["r\\u0026d \\u003ccore\\u003e"]}');
  assert.deepEqual(parseLabelsColumn(labelsJson({ team: ["r&d <core>"] })), { team: ["r&d <core>"] });
});

test("labelMatch: every value the policy lists is among the user's (docker_auth's TestLabels)", () => {
  const cases: [Record<string, string[]>, Record<string, string[]>, boolean][] = [
    [{ a: ["b"] }, { a: ["b"] }, true],
    [{ a: ["b"] }, { a: ["c"] }, false],
    [{ a: ["b", "c"] }, { a: ["b"] }, true],
    [{ a: ["b"] }, { a: ["b", "c"] }, false],
    [{ a: ["b", "c"], d: ["e"] }, { a: ["b", "c"] }, true],
    [{ a: ["b"] }, { a: ["b", "c"], d: ["f"] }, false],
    [{}, {}, true],
  ];
  for (const [user, policy, want] of cases) assert.equal(labelMatch(user, policy), want, `${JSON.stringify(user)} vs ${JSON.stringify(policy)}`);
});

describe("docker_auth's example model and policy", () => {
  let a: CasbinAuthorizer;
  before(async () => {
    a = new CasbinAuthorizer(await loadEnforcer(MODEL, POLICY), POLICY);
  });
  const ask = (account: string, type: string, name: string, service: string, ip: string, labels: Record<string, string[]>) => {
    const req: AuthzRequest = { account, type, name, service, ip, labels, actions: ["write", "read", "delete"] };
    const r = a.decide(req);
    assert.equal(r.kind, "match", "casbin always answers: no other authorizer is asked");
    return r.kind === "match" ? [...r.actions].sort() : [];
  };
  const all = ["delete", "read", "write"];

  test("alice (a user): only from 1.2.3.4, only book1 at bookstore1, only with label a=b", () => {
    assert.deepEqual(ask("alice", "book", "book1", "bookstore1", "1.2.3.4", { a: ["b"] }), ["read", "write"]);
    assert.deepEqual(ask("alice", "book", "book1", "bookstore1", "1.2.3.3", { a: ["b"] }), []);
    assert.deepEqual(ask("alice", "book", "book2", "bookstore2", "1.2.3.4", { a: ["b"] }), []);
    assert.deepEqual(ask("alice", "pen", "book1", "bookstore1", "1.2.3.4", { a: ["b"] }), []);
    assert.deepEqual(ask("alice", "book", "book1", "bookstore1", "1.2.3.4", { a: ["c"] }), []);
    assert.deepEqual(ask("alice", "book", "book1", "bookstore1", "1.2.3.4", { a: ["b", "c"] }), ["read", "write"]);
  });

  test("bob (role1 by g): read from 192.168.1.0/24 with labels a=b and a=c", () => {
    assert.deepEqual(ask("bob", "book", "book2", "bookstore1", "192.168.1.123", { a: ["b", "c"], d: ["e"] }), ["read"]);
    assert.deepEqual(ask("bob", "book", "book2", "bookstore1", "192.168.1.123", { a: ["b"], d: ["e"] }), []);
    assert.deepEqual(ask("bob", "book", "book2", "bookstore1", "192.168.0.123", { a: ["b", "c"], d: ["e"] }), []);
    assert.deepEqual(ask("bob", "book", "book2", "bookstore1", "192.168.1.123", { a: ["b", "c"] }), ["read"]);
    assert.deepEqual(ask("bob", "book", "book2", "restaurant", "192.168.1.123", { a: ["b", "c"], d: ["e"] }), []);
  });

  test("admin can do anything", () => {
    assert.deepEqual(ask("admin", "book", "book1", "bookstore1", "1.2.3.4", { a: ["b"] }), all);
    assert.deepEqual(ask("admin", "book", "book1", "bookstore1", "1.2.3.3", { a: ["b"] }), all);
    assert.deepEqual(ask("admin", "book", "book2", "bookstore2", "1.2.3.4", { a: ["b"] }), all);
    assert.deepEqual(ask("admin", "pen", "book1", "bookstore1", "1.2.3.4", { a: ["b"] }), all);
    assert.deepEqual(ask("admin", "book", "book1", "bookstore1", "1.2.3.4", { a: ["c"] }), all);
  });

  test("a request without a client address (a unix socket) matches no IP pattern, and is no error", () => {
    const r = a.decide({ account: "alice", type: "book", name: "book1", service: "bookstore1", labels: { a: ["b"] }, actions: ["read"] });
    assert.deepEqual(r.kind === "match" && r.actions, []);
  });
});

describe("problems", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-casbin-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  test("a policy's labels that are not JSON are refused at load, with the rule and how to quote", async () => {
    const p = await file("bad-labels.csv", 'p, alice, repository, app, registry, 1.2.3.4, pull, "{a:[b]}"\n');
    await assert.rejects(loadEnforcer(MODEL, p), (e: Error) => e instanceof CasbinLoadError && e.file === "policy_path" && /p, alice, repository, app.*not a JSON object of lists.*CSV quoting/.test(e.message));
  });

  test("a model whose request is not docker_auth's seven values is refused", async () => {
    const m = await file("short.conf", "[request_definition]\nr = sub, obj, act\n[policy_definition]\np = sub, obj, act\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = r.sub == p.sub\n");
    await assert.rejects(loadEnforcer(m, POLICY), (e: Error) => e instanceof CasbinLoadError && e.file === "model_path" && /7 values.*but r = sub, obj, act/.test(e.message));
  });

  test("a policy IP that is not an address is a 503-worthy error when evaluated, not a silent deny", async () => {
    const p = await file("bad-ip.csv", 'p, alice, repository, app, registry, 10.0.0.300, pull, ""\n');
    const a = new CasbinAuthorizer(await loadEnforcer(MODEL, p), p);
    assert.throws(
      () => a.decide({ account: "alice", type: "repository", name: "app", service: "registry", ip: "10.0.0.1", labels: {}, actions: ["pull"] }),
      (e: Error) => e instanceof BackendError && e.status === 503 && /10\.0\.0\.300.*not an IP address or CIDR/.test(e.message),
    );
  });

  test("the section: both paths required; a file that cannot be loaded is named with its key and line", async () => {
    const head = ['server: {addr: ":5001", certificate: /x.pem, key: /x.key}', "token: {issuer: i, expiration: 900}"];
    const issues = async (lines: string[]) => {
      try {
        await parseConfig(join(dir, "auth.yml"), [...head, ...lines].join("\n"), dir);
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.issues;
      }
      assert.fail("accepted");
    };
    const missing = await issues(["casbin_authz:", `  model_path: ${MODEL}`]);
    assert.ok(missing.some((i) => i.key === "casbin_authz" && /policy_path is required/.test(i.message)), JSON.stringify(missing));
    const absent = await issues(["casbin_authz:", `  model_path: ${join(dir, "nope.conf")}`, `  policy_path: ${POLICY}`]);
    const issue = absent.find((i) => i.key === "casbin_authz.model_path");
    assert.ok(issue && /cannot load the casbin model/.test(issue.message) && issue.line === 4, JSON.stringify(absent));
  });
});
