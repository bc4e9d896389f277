// End-to-end: the real Debian docker-registry (2.8) trusts regauth's tokens, and skopeo
// pushes and pulls through both. Needs `apt-get install docker-registry skopeo`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildOciImage, compareOciDirs } from "../helpers/oci-image.js";
import { BIN, decodeJwt, startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { parseTags, skopeoCopyPull, skopeoCopyPush, skopeoListTags } from "../helpers/skopeo.js";

const SERVICE = "e2e.registry";
const ISSUER = "regauth e2e";
const admin = { user: "admin", pass: "admin-secret" };
const reader = { user: "reader", pass: "reader-secret" };

async function configText(keys: { cert: string; key: string }, extra: { server?: string; token?: string } = {}): Promise<string> {
  return `
server:
  addr: "127.0.0.1:{{PORT}}"
${extra.server ?? ""}
token:
  issuer: "${ISSUER}"
  expiration: 300
  certificate: "${keys.cert}"
  key: "${keys.key}"
${extra.token ?? ""}
users:
  "admin":
    password: "${await testHash(admin.pass)}"
  "reader":
    password: "${await testHash(reader.pass)}"
    labels: {team: [readers]}
  "": {}   # anonymous
acl:
  - match: {account: "admin"}
    actions: ["*"]
    comment: "admin does everything, catalog included"
  - match: {labels: {team: readers}, name: "team/*"}
    actions: ["pull"]
    comment: "readers pull team images"
  - match: {account: "", name: "public/*"}
    actions: ["pull"]
    comment: "anonymous pulls public images"
`;
}

interface Stack {
  dir: string;
  regauth: RunningRegauth;
  registry: RunningRegistry;
  stop(): Promise<void>;
}

async function startStack(keyType: "rsa" | "ec", opts: { tls?: boolean; token?: string } = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), `regauth-e2e-${keyType}-`));
  const keys = await writeKeyPair(dir, "token", keyType);
  let server = "";
  let tlsPair: { cert: string; key: string } | undefined;
  if (opts.tls) {
    tlsPair = await writeKeyPair(dir, "tls", "ec", ["127.0.0.1", "localhost"]);
    server = `  certificate: "${tlsPair.cert}"\n  key: "${tlsPair.key}"`;
  }
  const regauth = await startRegauth(await configText(keys, { server, token: opts.token }), { dir, tls: opts.tls });
  const registry = await startRegistry({
    realm: `${regauth.url}/auth`,
    service: SERVICE,
    issuer: ISSUER,
    rootCertBundle: keys.cert,
    ...(tlsPair ? { tls: tlsPair } : {}),
  });
  return {
    dir,
    regauth,
    registry,
    async stop() {
      await registry.stop();
      await regauth.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function basic(c: { user: string; pass: string }): string {
  return `Basic ${Buffer.from(`${c.user}:${c.pass}`).toString("base64")}`;
}

describe("ES256 tokens through the real registry", () => {
  let s: Stack;
  let work: string;
  before(async () => {
    s = await startStack("ec");
    work = await mkdtemp(join(tmpdir(), "regauth-e2e-img-"));
  });
  after(async () => {
    await s?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("admin pushes an image, pulls it back identical, and lists its tags", async () => {
    const src = join(work, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${s.registry.url}/team/app:v1`, admin);
    assert.equal(push.code, 0, push.stderr);
    const out = join(work, "pulled");
    const pull = await skopeoCopyPull(`${s.registry.url}/team/app:v1`, out, "v1", admin);
    assert.equal(pull.code, 0, pull.stderr);
    const cmp = await compareOciDirs(src, out, "v1");
    assert.ok(cmp.same, cmp.differences.join("\n"));
    const tags = await skopeoListTags(`${s.registry.url}/team/app`, admin);
    assert.deepEqual(parseTags(tags), ["v1"]);
  });

  test("the token regauth issued carries x5c, a libtrust kid, a string aud and sorted actions", async () => {
    const res = await fetch(`${s.regauth.url}/auth?service=${SERVICE}&scope=repository:team/app:push,pull`, { headers: { authorization: basic(admin) } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    const { header, payload } = decodeJwt(body.token);
    assert.equal(header.alg, "ES256");
    assert.ok(Array.isArray(header.x5c) && header.x5c.length === 1);
    assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(payload.aud, SERVICE);
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.sub, "admin");
    assert.ok(Number.isInteger(payload.exp) && Number.isInteger(payload.nbf) && Number.isInteger(payload.iat));
    assert.deepEqual(payload.access, [{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
  });

  test("admin reads the catalog with a registry:catalog:* token; a reader cannot", async () => {
    const tokenFor = async (c: { user: string; pass: string }) => {
      const r = await fetch(`${s.regauth.url}/auth?service=${SERVICE}&scope=registry:catalog:*`, { headers: { authorization: basic(c) } });
      assert.equal(r.status, 200);
      return ((await r.json()) as { token: string }).token;
    };
    const ok = await fetch(`${s.registry.baseUrl}/v2/_catalog`, { headers: { authorization: `Bearer ${await tokenFor(admin)}` } });
    assert.equal(ok.status, 200);
    assert.ok(((await ok.json()) as { repositories: string[] }).repositories.includes("team/app"));
    const denied = await fetch(`${s.registry.baseUrl}/v2/_catalog`, { headers: { authorization: `Bearer ${await tokenFor(reader)}` } });
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get("www-authenticate") ?? "", /insufficient_scope/);
  });

  test("a pull-only user pulls but cannot push", async () => {
    const out = join(work, "reader-pull");
    const pull = await skopeoCopyPull(`${s.registry.url}/team/app:v1`, out, "v1", reader);
    assert.equal(pull.code, 0, pull.stderr);
    const src = join(work, "reader-src");
    await buildOciImage(src, "v2");
    const push = await skopeoCopyPush(src, "v2", `${s.registry.url}/team/app:v2`, reader);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|unauthorized/i);
    const tags = await skopeoListTags(`${s.registry.url}/team/app`, admin);
    assert.deepEqual(parseTags(tags), ["v1"], "the denied push left no tag behind");
  });

  test("a wrong password is refused with the registry's error body", async () => {
    const pull = await skopeoCopyPull(`${s.registry.url}/team/app:v1`, join(work, "wrong"), "v1", { user: "admin", pass: "nope" });
    assert.notEqual(pull.code, 0);
    assert.match(pull.stderr, /unauthorized|invalid username\/password/i);
    const unknown = await skopeoCopyPull(`${s.registry.url}/team/app:v1`, join(work, "unknown"), "v1", { user: "mallory", pass: "x" });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unauthorized|invalid username\/password/i);
  });

  test("anonymous access only where the ACL grants it", async () => {
    const src = join(work, "public-src");
    await buildOciImage(src, "v1");
    assert.equal((await skopeoCopyPush(src, "v1", `${s.registry.url}/public/base:v1`, admin)).code, 0);
    const anonPull = await skopeoCopyPull(`${s.registry.url}/public/base:v1`, join(work, "anon"), "v1", null);
    assert.equal(anonPull.code, 0, anonPull.stderr);
    assert.ok((await compareOciDirs(src, join(work, "anon"), "v1")).same);
    const anonPrivate = await skopeoCopyPull(`${s.registry.url}/team/app:v1`, join(work, "anon2"), "v1", null);
    assert.notEqual(anonPrivate.code, 0);
    const anonPush = await skopeoCopyPush(src, "v1", `${s.registry.url}/public/base:v2`, null);
    assert.notEqual(anonPush.code, 0);
  });
});

describe("RS256 tokens with a registry-3 style kid (disable_legacy_key_id)", () => {
  let s: Stack;
  let work: string;
  before(async () => {
    s = await startStack("rsa", { token: "  disable_legacy_key_id: true" });
    work = await mkdtemp(join(tmpdir(), "regauth-e2e-img-"));
  });
  after(async () => {
    await s?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("push and pull round-trip with RS256; the kid is the JWK thumbprint", async () => {
    const src = join(work, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${s.registry.url}/team/rsa:v1`, admin);
    assert.equal(push.code, 0, push.stderr);
    const pull = await skopeoCopyPull(`${s.registry.url}/team/rsa:v1`, join(work, "out"), "v1", admin);
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok((await compareOciDirs(src, join(work, "out"), "v1")).same);
    const r = await fetch(`${s.regauth.url}/auth?service=${SERVICE}&scope=repository:team/rsa:pull`, { headers: { authorization: basic(admin) } });
    const { header } = decodeJwt(((await r.json()) as { token: string }).token);
    assert.equal(header.alg, "RS256");
    assert.match(String(header.kid), /^[A-Za-z0-9_-]{43}$/);
  });
});

describe("regauth and the registry both over https, verified", () => {
  let s: Stack;
  let work: string;
  before(async () => {
    s = await startStack("ec", { tls: true });
    work = await mkdtemp(join(tmpdir(), "regauth-e2e-img-"));
  });
  after(async () => {
    await s?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("skopeo with TLS verification trusts only the test CA and pushes and pulls", async () => {
    const ca = join(s.dir, "tls.crt");
    const env = { SSL_CERT_FILE: ca };
    const src = join(work, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${s.registry.url}/team/tls:v1`, admin, { tlsVerify: true, env });
    assert.equal(push.code, 0, push.stderr);
    const pull = await skopeoCopyPull(`${s.registry.url}/team/tls:v1`, join(work, "out"), "v1", admin, { tlsVerify: true, env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok((await compareOciDirs(src, join(work, "out"), "v1")).same);
    // Without the CA the https token server is not trusted.
    const untrusted = join(work, "empty-ca.crt");
    await writeFile(untrusted, "");
    const bad = await skopeoCopyPull(`${s.registry.url}/team/tls:v1`, join(work, "out2"), "v1", admin, { tlsVerify: true, env: { SSL_CERT_FILE: untrusted } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /certificate|x509/i);
  });
});

describe("skopeo with an identity token (a refresh token in its auth file)", () => {
  let s: Stack;
  let work: string;
  before(async () => {
    s = await startStack("ec");
    work = await mkdtemp(join(tmpdir(), "regauth-e2e-rt-"));
  });
  after(async () => {
    await s?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("pushes and pulls with no password, through POST grant_type=refresh_token; after revocation it is refused", async () => {
    // What `docker login` leaves in config.json: the user with an empty password ("admin:"), and the refresh token.
    const login = await fetch(`${s.regauth.url}/auth?service=${SERVICE}&offline_token=true&client_id=docker`, { headers: { authorization: basic(admin) } });
    const { refresh_token } = (await login.json()) as { refresh_token: string };
    assert.match(refresh_token, /^regauth_rt_/);
    const auths = { [s.registry.url]: { auth: Buffer.from("admin:").toString("base64"), identitytoken: refresh_token } };
    const src = join(work, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${s.registry.url}/team/rt:v1`, undefined, { auths });
    assert.equal(push.code, 0, push.stderr + s.regauth.stdout().split("\n").filter((l) => l.includes("refresh_token")).join("\n"));
    const pull = await skopeoCopyPull(`${s.registry.url}/team/rt:v1`, join(work, "pulled"), "v1", undefined, { auths });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok((await compareOciDirs(src, join(work, "pulled"), "v1")).same);
    for (let i = 0; i < 250 && !/"grant":"refresh_token"[^\n]*"outcome":"issued"/.test(s.regauth.stdout()); i++) await new Promise((res) => setTimeout(res, 20));
    assert.match(s.regauth.stdout(), /"grant":"refresh_token"[^\n]*"account":"admin"[^\n]*"outcome":"issued"/);
    assert.match(s.regauth.stdout(), /"grant":"refresh_token","client_ip":"[^"]*","account":"admin","service":"e2e.registry","client_id":"containers\/image"/);

    const revoke = await promisify(execFile)(process.execPath, [BIN, "tokens", "revoke", s.regauth.configPath, "--account", "admin"], { cwd: s.regauth.dir });
    assert.match(revoke.stdout, /revoked 1 refresh token/);
    const after = await skopeoCopyPull(`${s.registry.url}/team/rt:v1`, join(work, "after"), "v1", undefined, { auths });
    assert.notEqual(after.code, 0);
    // skopeo prints only the status of RFC 6749's invalid_grant.
    assert.match(after.stderr, /obtain access token: invalid status code from registry 400/);
  });
});
