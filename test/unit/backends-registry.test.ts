// The one list of backends: docker_auth's order, every section known to config loading,
// and the refusal-cost policy handed to backends.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bcryptCost, hashPassword } from "../../src/authn/bcrypt.js";
import { RefusalCost } from "../../src/authn/refusal-cost.js";
import { BACKENDS, hasLaterAuthenticator } from "../../src/backends/registry.js";
import { knownKeysAt } from "../../src/config/schema.js";

describe("backend registry", () => {
  test("lists docker_auth's sections in the order its server builds the chains", () => {
    // auth_server/server/server.go, NewAuthServer: authenticators after static users, authorizers after the ACL.
    const authn = ["ext_auth", "google_auth", "github_auth", "oidc_auth", "gitlab_auth", "ldap_auth", "mongo_auth", "xorm_auth", "plugin_authn"];
    const authz = ["acl_mongo", "acl_xorm", "ext_authz", "plugin_authz", "casbin_authz"];
    assert.deepEqual(BACKENDS.filter((b) => b.role === "authn").map((b) => b.key), authn);
    assert.deepEqual(BACKENDS.filter((b) => b.role === "authz").map((b) => b.key), authz);
  });

  test("config loading knows every implemented section and its nested keys", () => {
    const top = knownKeysAt([]);
    for (const b of BACKENDS) {
      assert.ok(top.includes(b.key), b.key);
      assert.deepEqual(knownKeysAt([b.key]), Object.keys(b.shape));
      for (const [sub, shape] of Object.entries(b.nestedShapes ?? {})) assert.deepEqual(knownKeysAt([b.key, ...sub.split(".").map((p) => (p === "*" ? "anything" : p))]), Object.keys(shape), `${b.key}.${sub}`);
    }
  });

  test("an unknown user is passed on from a method only when a later one is configured", () => {
    const configured = (keys: string[]) => (k: string) => keys.includes(k);
    assert.equal(hasLaterAuthenticator("ldap_auth", configured(["ldap_auth"])), false);
    assert.equal(hasLaterAuthenticator("ldap_auth", configured(["ldap_auth", "plugin_authn"])), true);
    // ext_auth comes before LDAP: it does not make LDAP pass users on.
    assert.equal(hasLaterAuthenticator("ldap_auth", configured(["ext_auth", "ldap_auth"])), false);
    assert.equal(hasLaterAuthenticator("ext_auth", configured(["ext_auth", "ldap_auth"])), true);
  });
});

describe("refusal cost", () => {
  test("uses the cost most configured hashes use, and a dummy hash of that cost made once", async () => {
    const [a, b, c] = await Promise.all([hashPassword("a", 4), hashPassword("b", 5), hashPassword("c", 5)]);
    const r = new RefusalCost([a!, b!, c!]);
    assert.equal(r.cost, 5);
    assert.equal(r.bcryptInUse, true);
    const d = await r.dummyHash();
    assert.equal(bcryptCost(d), 5);
    assert.equal(await r.dummyHash(), d);
    assert.equal(await r.spend("anything"), false);
  });

  test("defaults to cost 10 with no hashes configured, and says bcrypt is not in use", () => {
    const r = new RefusalCost([]);
    assert.equal(r.cost, 10);
    assert.equal(r.bcryptInUse, false);
  });
});
