// End-to-end with database users and ACLs: regauth (as its own process) with xorm_auth and
// acl_xorm on a real PostgreSQL, mongo_auth on the MongoDB wire-protocol stand-in (no MongoDB
// server can run here; see test/helpers/mongo-server.ts), and the real docker-registry +
// skopeo. A database user pushes and pulls back an identical image; a change to the ACL table
// reaches the registry after cache_ttl. Needs docker-registry, skopeo and postgresql.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { startMongoStandIn, type RunningMongo } from "../helpers/mongo-server.js";
import { buildOciImage, compareOciDirs } from "../helpers/oci-image.js";
import { skipWithoutPostgres, startPostgres, type RunningPostgres } from "../helpers/postgres.js";
import { startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { skopeoCopyPull, skopeoCopyPush } from "../helpers/skopeo.js";
import { eventually } from "../helpers/store-contract.js";

const skip = await skipWithoutPostgres();
const SERVICE = "e2e.registry";
const ISSUER = "regauth database e2e";
const alice = { user: "alice", pass: "alice-password" };
const bob = { user: "bob", pass: "bob-password" };
const dana = { user: "dana", pass: "dana-password" };

describe("database users through the real registry", { skip }, () => {
  let dir: string;
  let db: RunningPostgres;
  let mongo: RunningMongo;
  let regauth: RunningRegauth;
  let registry: RunningRegistry;
  const sql = async (text: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(text, params);
    } finally {
      await c.end();
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-db-e2e-"));
    db = await startPostgres();
    const schema = await import("node:fs/promises").then((fs) => fs.readFile(new URL("../../../schema/xorm/postgres.sql", import.meta.url), "utf8"));
    await sql(schema);
    await sql("INSERT INTO xorm_user (username, password_hash, labels) VALUES ($1, $2, $3), ($4, $5, NULL)", [alice.user, await testHash(alice.pass), '{"group": ["dev"]}', bob.user, await testHash(bob.pass)]);
    await sql("INSERT INTO xorm_acl_entry (seq, acl_entry) VALUES (10, $1)", ['{"match": {"name": "${labels:group}/*"}, "actions": ["pull", "push"]}']);
    mongo = await startMongoStandIn();
    mongo.collection("registry", "users").push({ username: dana.user, password: await testHash(dana.pass), labels: { group: ["dev"] } });
    const keys = await writeKeyPair(dir, "token", "ec");
    regauth = await startRegauth(
      `
server:
  addr: "127.0.0.1:{{PORT}}"
token: {issuer: "${ISSUER}", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
mongo_auth:
  dial_info: {addrs: ["127.0.0.1:${mongo.port}"], database: "registry", timeout: "3s"}
  collection: "users"
xorm_auth:
  database_type: postgres
  conn_string: "${db.url}?sslmode=disable"
acl_xorm:
  database_type: postgres
  conn_string: "${db.url}?sslmode=disable"
  cache_ttl: 1s
`,
      { dir },
    );
    registry = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: keys.cert });
  });

  after(async () => {
    await registry?.stop();
    await regauth?.stop();
    await mongo?.close();
    await db?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("alice (a SQL user in group dev) pushes dev/app and pulls it back identical", async () => {
    const src = join(dir, "src");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${registry.url}/dev/app:v1`, alice);
    assert.equal(push.code, 0, `${push.stderr}\n${regauth.stdout()}`);
    const out = join(dir, "pulled");
    const pull = await skopeoCopyPull(`${registry.url}/dev/app:v1`, out, "v1", alice);
    assert.equal(pull.code, 0, pull.stderr);
    const cmp = await compareOciDirs(src, out, "v1");
    assert.ok(cmp.same, cmp.differences.join("\n"));
    assert.match(regauth.stdout(), /"account":"alice".*"authn":"xorm_auth".*acl_xorm #10/);
  });

  test("dana (a MongoDB user in group dev) pushes too; bob (no group) is refused until the ACL table grants him", async () => {
    const src = join(dir, "src-dana");
    await buildOciImage(src, "v1");
    const push = await skopeoCopyPush(src, "v1", `${registry.url}/dev/dana:v1`, dana);
    assert.equal(push.code, 0, push.stderr);
    assert.match(regauth.stdout(), /"account":"dana".*"authn":"mongo_auth"/);

    const bobSrc = join(dir, "src-bob");
    await buildOciImage(bobSrc, "v1");
    const refused = await skopeoCopyPush(bobSrc, "v1", `${registry.url}/dev/bob:v1`, bob);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /denied|unauthorized|authentication required/i);

    await sql("INSERT INTO xorm_acl_entry (seq, acl_entry) VALUES (20, $1)", ['{"match": {"account": "bob", "name": "dev/bob"}, "actions": ["pull", "push"]}']);
    await eventually(async () => {
      const again = await skopeoCopyPush(bobSrc, "v1", `${registry.url}/dev/bob:v1`, bob);
      assert.equal(again.code, 0, again.stderr);
    }, 20_000);
  });
});
