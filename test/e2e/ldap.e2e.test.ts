// End-to-end with LDAP: slapd (users, groups, memberOf) + regauth (as its own process, with
// ldap_auth over StartTLS) + the real docker-registry + skopeo. An LDAP user in group dev
// pushes and pulls dev-shared/*; a user in ops is refused the push; the static CI robot keeps
// pushing while LDAP is down. Needs docker-registry, skopeo, slapd and ldap-utils.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildOciImage, compareOciDirs } from "../helpers/oci-image.js";
import { startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { PEOPLE, READER_DN, READER_PW, skipWithoutSlapd, startSlapd, type RunningSlapd } from "../helpers/slapd.js";
import { skopeoCopyPull, skopeoCopyPush } from "../helpers/skopeo.js";

const skip = await skipWithoutSlapd();
const SERVICE = "e2e.registry";
const ISSUER = "regauth ldap e2e";
const alice = { user: "alice", pass: "alice-password" };
const bob = { user: "bob", pass: "bob-password" };
const carol = { user: "carol", pass: "carol-password" };
const robot = { user: "ci-robot", pass: "robot-password" };

describe("LDAP users through the real registry", { skip }, () => {
  let dir: string;
  let ldap: RunningSlapd;
  let regauth: RunningRegauth;
  let registry: RunningRegistry;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-ldap-e2e-"));
    ldap = await startSlapd({
      users: [
        { uid: "alice", password: alice.pass },
        { uid: "bob", password: bob.pass },
        { uid: "carol", password: carol.pass },
      ],
      groups: [
        { cn: "dev", members: ["alice"] },
        { cn: "ops", members: ["bob"] },
      ],
    });
    const keys = await writeKeyPair(dir, "token", "ec");
    await writeFile(join(dir, "ldap-bind-password"), `${READER_PW}\n`);
    regauth = await startRegauth(
      `
server:
  addr: "127.0.0.1:{{PORT}}"
token:
  issuer: "${ISSUER}"
  expiration: 300
  certificate: "${keys.cert}"
  key: "${keys.key}"
users:
  "${robot.user}":
    password: "${await testHash(robot.pass)}"
ldap_auth:
  addr: "127.0.0.1:${ldap.port}"
  tls: starttls
  ca_certificate: "${ldap.caFile}"
  bind_dn: "${READER_DN}"
  bind_password_file: "ldap-bind-password"
  base: "${PEOPLE}"
  filter: "(&(uid=\${account})(objectClass=inetOrgPerson))"
  labels:
    groups:
      attribute: memberOf
      parse_cn: true
  connect_timeout: 2s
  timeout: 2s
acl:
  - match: {account: "${robot.user}", name: "ci/*"}
    actions: ["pull", "push"]
  - match: {name: "\${labels:groups}-shared/*"}
    actions: ["pull", "push"]
`,
      { dir },
    );
    registry = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: keys.cert });
  });

  after(async () => {
    await registry?.stop();
    await regauth?.stop();
    await ldap?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("alice (group dev) pushes dev-shared/app and pulls it back identical", async () => {
    const src = join(dir, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${registry.url}/dev-shared/app:v1`, alice);
    assert.equal(push.code, 0, `${push.stderr}\n${regauth.stdout()}`);
    const out = join(dir, "pulled");
    const pull = await skopeoCopyPull(`${registry.url}/dev-shared/app:v1`, out, "v1", alice);
    assert.equal(pull.code, 0, pull.stderr);
    const cmp = await compareOciDirs(src, out, "v1");
    assert.ok(cmp.same, cmp.differences.join("\n"));
    assert.match(regauth.stdout(), /"account":"alice".*"authn":"ldap"/);
  });

  test("bob (group ops) cannot push to dev-shared; a wrong password cannot either", async () => {
    const src = join(dir, "src-bob");
    await buildOciImage(src, "v1");
    const bobPush = await skopeoCopyPush(src, "v1", `${registry.url}/dev-shared/bob:v1`, bob);
    assert.notEqual(bobPush.code, 0);
    assert.match(bobPush.stderr, /denied|unauthorized|authentication required/i);
    const wrong = await skopeoCopyPush(src, "v1", `${registry.url}/dev-shared/app:v2`, { user: "alice", pass: "not-her-password" });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401|unauthorized|invalid username or password/i);
  });

  test("with LDAP down the CI robot still pushes, carol gets a clear 503; LDAP back, alice pushes again", async () => {
    await ldap.stop();
    try {
      const src = join(dir, "src-robot");
      await buildOciImage(src, "v1");
      const push = await skopeoCopyPush(src, "v1", `${registry.url}/ci/app:v1`, robot);
      assert.equal(push.code, 0, push.stderr);
      // carol has not signed in yet: no verified credential is cached for her (alice's still is).
      const down = await fetch(`${regauth.url}/auth?service=${SERVICE}&scope=repository:carol/app:pull`, {
        headers: { authorization: `Basic ${Buffer.from(`${carol.user}:${carol.pass}`).toString("base64")}` },
      });
      assert.equal(down.status, 503);
      // The client learns the directory is unusable, not where it is; the log has the detail.
      const shown = ((await down.json()) as { errors: { message: string }[] }).errors[0]!.message;
      assert.match(shown, /^LDAP: the directory cannot be used right now/);
      assert.ok(!shown.includes("127.0.0.1"), shown);
      // The log line is written asynchronously by another process: give it a moment.
      for (let i = 0; i < 100 && !/"detail":"LDAP: cannot connect to the directory/.test(regauth.stdout()); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(regauth.stdout(), /"detail":"LDAP: cannot connect to the directory/);
    } finally {
      await ldap.start();
    }
    const src = join(dir, "src-again");
    await buildOciImage(src, "v2");
    const again = await skopeoCopyPush(src, "v2", `${registry.url}/dev-shared/app:v2`, alice);
    assert.equal(again.code, 0, again.stderr);
  });
});
