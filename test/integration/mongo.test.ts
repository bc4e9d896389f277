// mongo_auth and acl_mongo through the unmodified `mongodb` driver, against the wire-protocol
// stand-in of test/helpers/mongo-server.ts: no MongoDB server can run on this machine (Debian
// has no package, nothing may be downloaded), so the stand-in plays mongod (OP_MSG, SCRAM-SHA-256,
// queries evaluated by mingo). What it does not do is listed in mongo-standin.test.ts; none of
// it is used by these backends.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError } from "../../src/errors.js";
import { startMongoStandIn, type RunningMongo } from "../helpers/mongo-server.js";
import { BIN, serveInProcess, testHash, writeKeyPair, type InProcessServer, type KeyFiles, requestGrant, type GrantAnswer } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";

const run = promisify(execFile);
const PASSWORDS = { alice: "alice-password", bob: "bob-password", robot: "robot-password" };

let dir: string;
let keys: KeyFiles;
let mongo: RunningMongo;
let robotHash: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-mongo-it-"));
  keys = await writeKeyPair(dir, "token", "ec");
  await writeFile(join(dir, "mongo-password"), "reader-secret\n");
  robotHash = await testHash(PASSWORDS.robot);
  mongo = await startMongoStandIn({ users: [{ username: "reader", password: "reader-secret" }] });
  const users = mongo.collection("registry", "users");
  users.push(
    { username: "alice", password: await testHash(PASSWORDS.alice), labels: { group: ["dev", "qa"] } },
    { username: "bob", password: await testHash(PASSWORDS.bob) },
    { username: "nohash", labels: {} },
  );
  const acl = mongo.collection("registry", "acl");
  // Out of seq order on purpose; one without seq (skipped).
  acl.push(
    { seq: 30, match: { account: "/.+/", name: "${account}/*" }, actions: ["*"], comment: "own namespace" },
    { seq: 20, match: { name: "${labels:group}/*" }, actions: ["pull", "push"] },
    { seq: 10, match: { account: "alice", name: "alice/frozen" }, actions: ["pull"] },
    { match: { account: "bob" }, actions: ["*"], comment: "no seq: skipped" },
  );
});
after(async () => {
  await mongo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function dialInfo(port = mongo.port): string {
  return `
  dial_info:
    addrs: ["127.0.0.1:${port}"]
    timeout: "2s"
    database: "registry"
    username: "reader"
    password_file: "${join(dir, "mongo-password")}"`;
}

function configText(port = mongo.port): string {
  return `
server: {addr: "127.0.0.1:0"}
token: {issuer: "mongo-it", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
users:
  robot: {password: "${robotHash}"}
mongo_auth:${dialInfo(port)}
  collection: "users"
acl_mongo:${dialInfo(port)}
  collection: "acl"
  cache_ttl: "1s"
`;
}

const token = (s: InProcessServer, user: string, pass: string, scope: string): Promise<GrantAnswer> => requestGrant(s.url, user, pass, scope);

async function granted(s: InProcessServer, user: keyof typeof PASSWORDS, scope: string): Promise<string[]> {
  const a = await token(s, user, PASSWORDS[user], scope);
  assert.equal(a.status, 200, a.text);
  return a.actions;
}

describe("mongo_auth and acl_mongo", () => {
  let s: InProcessServer;
  before(async () => {
    s = await serveInProcess(join(dir, "mongo.yml"), configText(), dir);
  });
  after(async () => {
    await s?.close();
  });

  test("users with labels get what the first entry by seq grants", async () => {
    assert.deepEqual(await granted(s, "alice", "repository:alice/frozen:push,pull"), ["pull"]);
    assert.deepEqual(await granted(s, "alice", "repository:qa/app:push,pull"), ["pull", "push"]);
    assert.deepEqual(await granted(s, "bob", "repository:bob/app:push"), ["push"]);
    assert.deepEqual(await granted(s, "bob", "repository:dev/app:pull"), []);
    assert.deepEqual(await granted(s, "robot", "repository:robot/x:push"), ["push"]);
    assert.match(s.logs(), /ACL entry skipped: an entry without seq .*no seq: skipped/);
  });

  test("a wrong password, an unknown user and a user without a password hash get the same 401", async () => {
    const wrong = await token(s, "alice", "bob-password", "repository:alice/app:pull");
    for (const r of [wrong, await token(s, "mallory", "x", "repository:alice/app:pull"), await token(s, "nohash", "anything", "repository:alice/app:pull")]) {
      assert.equal(r.status, 401, r.text);
      assert.equal(r.text, wrong.text);
    }
    assert.match(s.logs(), /database user has no bcrypt password hash; refused/);
  });

  test("an operator in a username is a username: {\"$ne\": \"\"} finds nobody", async () => {
    for (const name of ['{"$ne": ""}', '{"$gt": ""}', "alice\u0000", "/.*/"]) {
      const a = await token(s, name, PASSWORDS.alice, "repository:alice/app:pull");
      assert.equal(a.status, 401, `${name}: ${a.text}`);
    }
  });

  test("two documents with one username are a clear 503, not a coin toss between passwords", async () => {
    const users = mongo.collection("registry", "users");
    users.push({ username: "twin", password: await testHash("one") }, { username: "twin", password: await testHash("two") });
    const a = await token(s, "twin", "one", "repository:twin/app:pull");
    assert.equal(a.status, 503, a.text);
    assert.match(a.text, /mongo_auth: the user database cannot be used right now/);
    assert.match(s.logs(), /two documents have username \\"twin\\"/);
  });

  test("cache_ttl reloads pick up a new entry; a broken one keeps the last good ACL", async () => {
    const acl = mongo.collection("registry", "acl");
    acl.push({ seq: 15, match: { account: "bob", name: "shared/*" }, actions: ["pull"] });
    await eventually(async () => assert.deepEqual(await granted(s, "bob", "repository:shared/app:pull"), ["pull"]));
    acl.push({ seq: 15, match: { account: "bob" }, actions: ["*"] }, { seq: 16, match: { account: 7 }, actions: ["pull"] });
    await eventually(async () => assert.match(s.logs(), /seq 15: seq is not unique[^\n]*seq 16: match.account must be a string[^\n]*the last good ACL stays in use/));
    assert.deepEqual(await granted(s, "bob", "repository:shared/app:push,pull"), ["pull"]);
    const from = s.logs().length;
    acl.splice(0, acl.length, ...acl.filter((d) => d["seq"] !== 15 && d["seq"] !== 16));
    await eventually(async () => assert.match(s.logs().slice(from), /ACL read again after a failure/));
    assert.deepEqual(await granted(s, "bob", "repository:shared/app:pull"), []);
  });

  test("an ACL larger than one cursor batch is read whole (find, then getMore)", async () => {
    const acl = mongo.collection("registry", "acl");
    const before = mongo.commands("getMore");
    for (let i = 0; i < 300; i++) acl.push({ seq: 1000 + i, match: { account: "bob", name: `bulk${i}/*` }, actions: ["pull"] });
    await eventually(async () => assert.deepEqual(await granted(s, "bob", "repository:bulk299/app:pull"), ["pull"]));
    assert.ok(mongo.commands("getMore") > before, "the driver fetched later batches");
    acl.splice(0, acl.length, ...acl.filter((d) => (d["seq"] as number) < 1000));
    await eventually(async () => assert.deepEqual(await granted(s, "bob", "repository:bulk299/app:pull"), []));
  });

  test("`regauth explain` reads the collection and names the entry by seq", async () => {
    const cfg = join(dir, "explain.yml");
    await writeFile(cfg, configText());
    const { stdout } = await run(process.execPath, [BIN, "explain", cfg, "--account", "alice", "repository:alice/frozen:push,pull"]);
    assert.match(stdout, /matched acl_mongo seq 10 in mongodb 127\.0\.0\.1:\d+\/registry\.acl\n  granted: pull/);
    assert.ok(!stdout.includes("reader-secret"));
  });

  test("server down: users get a 503, the cached ACL serves the static user, readiness says which; both recover", async () => {
    await mongo.stop();
    try {
      const a = await token(s, "alice", PASSWORDS.alice, "repository:alice/app:pull");
      assert.equal(a.status, 503, a.text);
      assert.match(a.text, /mongo_auth: the user database cannot be used right now; try again later/);
      assert.ok(!a.text.includes("127.0.0.1"), a.text);
      assert.deepEqual(await granted(s, "robot", "repository:robot/x:push"), ["push"]);
      const r = await fetch(`${s.url}/readyz`);
      const body = (await r.json()) as { backends: Record<string, { ok: boolean }> };
      assert.equal(r.status, 503);
      assert.deepEqual([body.backends["mongo_auth"]?.ok, body.backends["acl_mongo"]?.ok], [false, true]);
    } finally {
      await mongo.start();
    }
    await eventually(async () => assert.deepEqual(await granted(s, "alice", "repository:alice/app:pull"), ["pull"]), 30_000);
    await eventually(async () => assert.equal((await fetch(`${s.url}/readyz`)).status, 200), 30_000);
  });

  test("a wrong database password or an unreachable server is refused at start with the section", async () => {
    await writeFile(join(dir, "mongo-password"), "not-the-password\n");
    try {
      await assert.rejects(serveInProcess(join(dir, "mongo.yml"), configText(), dir), (e: Error) => e instanceof ConfigError && /mongo_auth.*cannot reach.*uthentication failed/s.test(e.message));
    } finally {
      await writeFile(join(dir, "mongo-password"), "reader-secret\n");
    }
    await mongo.stop();
    try {
      await assert.rejects(serveInProcess(join(dir, "mongo.yml"), configText(), dir), (e: Error) => e instanceof ConfigError && /mongo_auth.*cannot reach mongodb 127\.0\.0\.1/s.test(e.message) && !e.message.includes("reader-secret"));
    } finally {
      await mongo.start();
    }
  });
});

describe("mongo_auth over TLS (enable_tls, tls_ca_file)", () => {
  let tlsMongo: RunningMongo;
  let caFile: string;
  before(async () => {
    const server = await writeKeyPair(dir, "mongo-server", "ec");
    caFile = server.cert;
    tlsMongo = await startMongoStandIn({ tls: server });
    tlsMongo.collection("registry", "users").push({ username: "alice", password: await testHash(PASSWORDS.alice) });
  });
  after(async () => {
    await tlsMongo?.close();
  });
  const config = (tls: string) => `
server: {addr: "127.0.0.1:0"}
token: {issuer: "mongo-tls", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
acl:
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
mongo_auth:
  dial_info: {addrs: ["127.0.0.1:${tlsMongo.port}"], database: registry, timeout: 2s, ${tls}}
  collection: users
`;

  test("with the server's CA a user signs in over TLS", async () => {
    const s = await serveInProcess(join(dir, "mongo-tls.yml"), config(`enable_tls: true, tls_ca_file: "${caFile}"`), dir);
    try {
      const a = await token(s, "alice", PASSWORDS.alice, "repository:alice/app:push");
      assert.deepEqual([a.status, a.actions], [200, ["push"]], a.text);
    } finally {
      await s.close();
    }
  });

  test("enable_tls against a certificate no trusted CA signed is refused at start; plain TCP to a TLS server too", async () => {
    await assert.rejects(serveInProcess(join(dir, "mongo-tls.yml"), config("enable_tls: true"), dir), (e: Error) => e instanceof ConfigError && /mongo_auth.*cannot reach.*self-signed certificate/s.test(e.message));
    await assert.rejects(serveInProcess(join(dir, "mongo-tls.yml"), config("enable_tls: false"), dir), (e: Error) => e instanceof ConfigError && /mongo_auth.*cannot reach/s.test(e.message));
  });
});
