// End-to-end: the CI robot `cicd` pushes through the real registry, logged in by the
// example ext_auth program (examples/ext/ext_auth.sh) which gives it the label
// group: [CICD]; the push is allowed by an ACL entry for that label, or by the example
// ext_authz program. Needs `apt-get install docker-registry skopeo`.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildOciImage, compareOciDirs } from "../helpers/oci-image.js";
import { ROOT, startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { parseTags, skopeoCopyPull, skopeoCopyPush, skopeoListTags } from "../helpers/skopeo.js";

const SERVICE = "ext-e2e.registry";
const ISSUER = "regauth ext e2e";
const SECRET = `ci-${randomBytes(12).toString("base64url")}`;
const cicd = { user: "cicd", pass: SECRET };
const reader = { user: "reader", pass: "reader-secret" };
const q = (s: string) => JSON.stringify(s);

interface Stack {
  regauth: RunningRegauth;
  registry: RunningRegistry;
  work: string;
  stop(): Promise<void>;
}

async function startStack(decide: string): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-ext-e2e-"));
  const keys = await writeKeyPair(dir, "token", "ec");
  // regauth's own environment has the secret; ext_auth.env passes it to the program.
  process.env.CICD_SECRET = SECRET;
  const regauth = await startRegauth(
    `
server:
  addr: "127.0.0.1:{{PORT}}"
token:
  issuer: ${q(ISSUER)}
  expiration: 300
  certificate: ${q(keys.cert)}
  key: ${q(keys.key)}
users:
  "reader":
    password: ${q(await testHash(reader.pass))}
ext_auth:
  command: ${q(join(ROOT, "examples", "ext", "ext_auth.sh"))}
  env: ["CICD_SECRET"]
  cache_ttl_seconds: 5
${decide}
`,
    { dir },
  );
  const registry = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: keys.cert });
  const work = join(dir, "work");
  return {
    regauth,
    registry,
    work,
    async stop() {
      await registry.stop();
      await regauth.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function stackTests(name: string, decide: string, method: RegExp) {
  describe(name, () => {
    let s: Stack;
    before(async () => {
      s = await startStack(decide);
    });
    after(async () => {
      await s?.stop();
    });

    test("the cicd robot pushes an image and pulls it back identical", async () => {
      const src = join(s.work, "src");
      await buildOciImage(src, "v1");
      const push = await skopeoCopyPush(src, "v1", `${s.registry.url}/ci/app:v1`, cicd);
      assert.equal(push.code, 0, push.stderr);
      const out = join(s.work, "pulled");
      const pull = await skopeoCopyPull(`${s.registry.url}/ci/app:v1`, out, "v1", cicd);
      assert.equal(pull.code, 0, pull.stderr);
      const cmp = await compareOciDirs(src, out, "v1");
      assert.ok(cmp.same, cmp.differences.join("\n"));
    });

    test("a wrong secret cannot push; a user without the label pulls but cannot push", async () => {
      const src = join(s.work, "src2");
      await buildOciImage(src, "v2");
      const wrong = await skopeoCopyPush(src, "v2", `${s.registry.url}/ci/app:v2`, { user: "cicd", pass: "not-the-ci-secret" });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /unauthorized|invalid username\/password/i);
      const pull = await skopeoCopyPull(`${s.registry.url}/ci/app:v1`, join(s.work, "reader-pull"), "v1", reader);
      assert.equal(pull.code, 0, pull.stderr);
      const push = await skopeoCopyPush(src, "v2", `${s.registry.url}/ci/app:v2`, reader);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /denied|unauthorized/i);
      assert.deepEqual(parseTags(await skopeoListTags(`${s.registry.url}/ci/app`, cicd)), ["v1"]);
    });

    test("regauth's log names ext_auth and the deciding rule, and never contains the secret", async () => {
      const entries = s.regauth
        .stdout()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, any>);
      const pushes = entries.filter((e) => e.event === "token" && e.account === "cicd" && e.status === 200);
      assert.ok(pushes.length > 0);
      assert.ok(pushes.every((e) => e.authn === "ext_auth"));
      assert.ok(pushes.some((e) => e.rules.some((r: string) => /^repository:ci\/app:pull,push <- /.test(r) && method.test(r))), JSON.stringify(pushes.map((e) => e.rules)));
      const all = s.regauth.stdout() + s.regauth.stderr();
      assert.ok(!all.includes(SECRET), "the CI secret is not in regauth's output");
      assert.ok(!all.includes("not-the-ci-secret"));
    });
  });
}

stackTests(
  "cicd pushes, allowed by an ACL entry for its label",
  `acl:
  - match: {labels: {group: CICD}, name: "ci/*"}
    actions: ["pull", "push"]
    comment: "the CI robot pushes CI images"
  - match: {account: "/.+/", name: "ci/*"}
    actions: ["pull"]`,
  /static ACL #0$/,
);

stackTests(
  "cicd pushes, allowed by the example ext_authz program",
  `acl: []
ext_authz:
  command: ${q(join(ROOT, "examples", "ext", "ext_authz.py"))}`,
  /ext_authz$/,
);
