// The backend registry as the app uses it: chain order, reuse across reloads (and when a
// backend must not be reused), and each backend's readiness answer against the real thing.
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildApp, type App } from "../../src/app.js";
import { hashPassword } from "../../src/authn/bcrypt.js";
import { parseConfig } from "../../src/config/load.js";
import { SharedResources } from "../../src/runtime/shared-resources.js";
import { PEOPLE, READER_DN, READER_PW, skipWithoutSlapd, startSlapd, type RunningSlapd } from "../helpers/slapd.js";
import { startRegauth, writeKeyPair } from "../helpers/regauth.js";

let dir: string;
let keys: { cert: string; key: string };
let program: string;
const apps: App[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-backends-"));
  keys = await writeKeyPair(dir, "b", "ec");
  program = join(dir, "auth.sh");
  await writeFile(program, "#!/bin/sh\nexit 2\n");
  await chmod(program, 0o755);
});
after(async () => {
  await Promise.allSettled(apps.map((a) => a.stop()));
  await rm(dir, { recursive: true, force: true });
});

async function app(text: string, shared: SharedResources): Promise<App> {
  const a = await buildApp(await parseConfig(join(dir, "c.yml"), text, dir), undefined, shared);
  apps.push(a);
  return a;
}

const head = () => `
server: {addr: "127.0.0.1:0"}
token: {issuer: "b", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
acl: []
`;

const ldapAt = (port: number, bind = true) => `
ldap_auth:
  addr: "127.0.0.1:${port}"
  base: "${PEOPLE}"
  filter: "(uid=\${account})"
  ${bind ? `bind_dn: "${READER_DN}"\n  bind_password_file: "${join(dir, "bind-pw")}"` : ""}
  connect_timeout: 2s
  timeout: 2s
`;

describe("backends in the app", () => {
  test("the chains follow docker_auth's order: static users, ext_auth, LDAP; the static ACL, then ext_authz", async () => {
    await writeFile(join(dir, "bind-pw"), READER_PW);
    const a = await app(`${head()}users: {}\n${ldapAt(1)}ext_auth: {command: "${program}"}\n`, new SharedResources());
    assert.deepEqual(
      a.authn.authenticators.map((x) => x.name),
      ["static users", "ext_auth", "ldap"],
    );
    const y = await app(`${head()}users: {}\next_authz: {command: "${program}"}\n`, new SharedResources());
    assert.deepEqual(y.authz.authorizers.map((x) => x.name), ["static ACL", "ext_authz"]);
  });

  test("an unchanged section keeps its running instance across a reload; a changed one gets a new one", async () => {
    const shared = new SharedResources();
    const text = `${head()}${ldapAt(1)}ext_auth: {command: "${program}"}\n`;
    const a = await app(text, shared);
    const b = await app(text, shared);
    assert.equal(b.authn.authenticators[1], a.authn.authenticators[1], "LDAP instance reused");
    assert.equal(b.authn.authenticators[0], a.authn.authenticators[0], "ext_auth instance reused");
    const c = await app(text.replace("timeout: 2s\n", "timeout: 3s\n"), shared);
    assert.notEqual(c.authn.authenticators[1], b.authn.authenticators[1], "changed LDAP section, new instance");
    assert.equal(c.authn.authenticators[0], b.authn.authenticators[0], "ext_auth untouched");
  });

  test("a backend is rebuilt when what the server hands it changes, even if its own section did not", async () => {
    // LDAP's refusals pay a bcrypt of the static users' cost: a new cost must reach it.
    const shared = new SharedResources();
    const h4 = await hashPassword("x", 4);
    const h5 = await hashPassword("x", 5);
    const a = await app(`${head()}users: {"u": {password: "${h4}"}}\n${ldapAt(1)}`, shared);
    const b = await app(`${head()}users: {"u": {password: "${h4}"}, "v": {password: "${h4}"}}\n${ldapAt(1)}`, shared);
    assert.equal(b.authn.authenticators[1], a.authn.authenticators[1], "same cost: reused");
    const c = await app(`${head()}users: {"u": {password: "${h5}"}}\n${ldapAt(1)}`, shared);
    assert.notEqual(c.authn.authenticators[1], b.authn.authenticators[1], "cost changed: rebuilt");
  });
});

describe("backend health", async () => {
  const skip = await skipWithoutSlapd();
  let ldap: RunningSlapd;
  before(async () => {
    if (!skip) ldap = await startSlapd();
  });
  after(() => ldap?.destroy());

  test("LDAP: ready when a server answers and the search account binds; not ready, with the reason, when it is down; ready again when it returns", { skip }, async () => {
    await writeFile(join(dir, "bind-pw"), READER_PW);
    const a = await app(`${head()}${ldapAt(ldap.port)}`, new SharedResources());
    assert.deepEqual(await a.health(), new Map([["ldap_auth", { ok: true }]]));
    await ldap.stop();
    const down = (await a.health()).get("ldap_auth")!;
    assert.equal(down.ok, false);
    assert.match(down.detail!, new RegExp(`127\\.0\\.0\\.1:${ldap.port}`));
    await ldap.start();
    assert.deepEqual((await a.health()).get("ldap_auth"), { ok: true });
  });

  test("LDAP: a search account the directory refuses is not ready", { skip }, async () => {
    await writeFile(join(dir, "bind-pw-wrong"), "not-the-password");
    const a = await app(`${head()}${ldapAt(ldap.port).replace(join(dir, "bind-pw"), join(dir, "bind-pw-wrong"))}`, new SharedResources());
    const h = (await a.health()).get("ldap_auth")!;
    assert.equal(h.ok, false);
    assert.match(h.detail!, /refused the search account/);
  });

  test("ext_auth / ext_authz: not ready once the program is gone", async () => {
    const p = join(dir, "gone.sh");
    await writeFile(p, "#!/bin/sh\nexit 0\n");
    await chmod(p, 0o755);
    const a = await app(`${head()}ext_auth: {command: "${p}"}\next_authz: {command: "${p}"}\n`, new SharedResources());
    assert.deepEqual(await a.health(), new Map([["ext_auth", { ok: true }], ["ext_authz", { ok: true }]]));
    await rm(p);
    const h = await a.health();
    assert.equal(h.get("ext_auth")!.ok, false);
    assert.match(h.get("ext_authz")!.detail!, /gone\.sh cannot be run: ENOENT/);
  });
});

describe("GET /readyz", () => {
  test("200 while every backend is healthy, 503 naming the backend (not the reason) when one is not; the log has the reason once", async () => {
    const p = join(dir, "ready.sh");
    await writeFile(p, "#!/bin/sh\nexit 0\n");
    await chmod(p, 0o755);
    const srv = await startRegauth(`${head().replace('"127.0.0.1:0"', '"127.0.0.1:{{PORT}}", workers: 1')}ext_auth: {command: "${p}"}\n`);
    try {
      const first = await fetch(`${srv.url}/readyz`);
      assert.equal(first.status, 200, srv.stdout() + srv.stderr());
      assert.deepEqual(await first.json(), { status: "ready", backends: { ext_auth: { ok: true } } });
      await rm(p);
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${srv.url}/readyz`);
        assert.equal(r.status, 503);
        const body = await r.text();
        assert.deepEqual(JSON.parse(body), { status: "not ready", backends: { ext_auth: { ok: false } } });
        assert.doesNotMatch(body, /ready\.sh/);
      }
      // The log is written asynchronously, in order: once a line written after the probes is out, so are theirs.
      await fetch(`${srv.url}/auth?service=after-the-probes`);
      for (let i = 0; i < 250 && !srv.stdout().includes("after-the-probes"); i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(srv.stdout().split("\n").filter((l) => l.includes('"backend_not_ready"')).length, 1, srv.stdout());
      assert.match(srv.stdout(), /ready\.sh cannot be run: ENOENT/);
      assert.equal((await fetch(`${srv.url}/readyz`, { method: "POST" })).status, 405);
    } finally {
      await srv.stop();
    }
  });
});
