// Rotating the signing key without downtime, through the real registry and skopeo: the registry's
// rootcertbundle holds the old and the new certificate; regauth switches keys by a reload (no
// restart); pushes work before, during and after, and a token signed with the old key stays
// good until it expires. Then the bundle drops the old certificate. Needs docker-registry and skopeo.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildOciImage } from "../helpers/oci-image.js";
import { decodeJwt, startRegauth, testHash, writeKeyPair, type KeyFiles, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { skopeoCopyPush } from "../helpers/skopeo.js";

const SERVICE = "rotation.registry";
const ISSUER = "regauth rotation";
const user = { user: "ci", pass: "rotation-Passw0rd" };

describe("signing key rotation without downtime", () => {
  let dir: string;
  let oldKey: KeyFiles;
  let newKey: KeyFiles;
  let regauth: RunningRegauth;
  let registry: RunningRegistry;
  const config = (k: KeyFiles, hash: string) => `
server: {addr: "127.0.0.1:{{PORT}}", workers: 1}
token: {issuer: "${ISSUER}", expiration: 300, certificate: "${k.cert}", key: "${k.key}"}
users:
  "${user.user}": {password: "${hash}"}
acl:
  - match: {account: "${user.user}"}
    actions: ["*"]
`;
  let hash: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-rotation-"));
    oldKey = await writeKeyPair(dir, "old", "ec");
    newKey = await writeKeyPair(dir, "new", "ec");
    hash = await testHash(user.pass);
    // Step 1: the registry trusts both certificates before regauth changes keys.
    const bundle = join(dir, "bundle.pem");
    await writeFile(bundle, (await readFile(oldKey.cert, "utf8")) + (await readFile(newKey.cert, "utf8")));
    regauth = await startRegauth(config(oldKey, hash), { dir });
    registry = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: bundle });
  });
  after(async () => {
    await registry?.stop();
    await regauth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function push(tag: string): Promise<void> {
    const src = join(dir, `src-${tag}`);
    await buildOciImage(src, tag);
    const r = await skopeoCopyPush(src, tag, `${registry.url}/ci/app:${tag}`, user);
    assert.equal(r.code, 0, r.stderr);
  }

  async function tokenFor(scope: string): Promise<string> {
    const res = await fetch(`${regauth.url}/auth?service=${SERVICE}&scope=${scope}`, { headers: { authorization: `Basic ${Buffer.from(`${user.user}:${user.pass}`).toString("base64")}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { token: string }).token;
  }

  async function registryAccepts(token: string): Promise<number> {
    const res = await fetch(`http://${registry.url}/v2/ci/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    return res.status;
  }

  test("push with the old key; reload to the new one; the old token still works, new tokens carry the new key; push again", async () => {
    await push("v1");
    const oldToken = await tokenFor("repository:ci/app:pull");
    const oldKid = decodeJwt(oldToken).header["kid"];

    // Step 2: regauth signs with the new key, by a reload: no restart, nothing dropped.
    const reloads = () => regauth.stdout().match(/"msg":"config reloaded"/g)?.length ?? 0;
    const n = reloads();
    await writeFile(regauth.configPath, config(newKey, hash).replaceAll("{{PORT}}", String(regauth.port)));
    regauth.proc.kill("SIGHUP");
    for (let i = 0; i < 400 && reloads() === n; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(reloads() > n, "regauth reloaded");

    const newToken = await tokenFor("repository:ci/app:pull");
    assert.notEqual(decodeJwt(newToken).header["kid"], oldKid, "new tokens are signed with the new key");
    assert.equal(await registryAccepts(oldToken), 200, "a token signed before the switch is still accepted");
    assert.equal(await registryAccepts(newToken), 200);
    await push("v2");

    // Step 3, once the old tokens have expired: the bundle keeps only the new certificate.
    // A registry with that bundle refuses the old key's token and takes the new one's.
    const onlyNew = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: newKey.cert });
    try {
      const status = async (t: string) => (await fetch(`http://${onlyNew.url}/v2/ci/app/tags/list`, { headers: { authorization: `Bearer ${t}` } })).status;
      assert.equal(await status(oldToken), 401);
      assert.notEqual(await status(newToken), 401);
    } finally {
      await onlyNew.stop();
    }
  });
});
