// mongo_auth / acl_mongo sections: docker_auth's dial_info as written, regauth's uri and
// file additions, and the problems reported at load (with the key, never the password).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { AclMongoConfig, MongoConfig } from "../../src/backends/mongo/section.js";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-mongo-config-"));
  await writeFile(join(dir, "mongo-pw"), "s3cret-from-file\n");
  await writeFile(join(dir, "mongo-uri"), "mongodb://reader:uri%40pw@db1:27017,db2:27018/?replicaSet=rs0\n");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const load = (lines: string[]) => loadSection(dir, lines);
const issues = (lines: string[]) => sectionIssues(dir, lines);

test("docker_auth's reference sections load as written", async () => {
  const cfg = await load([
    "mongo_auth:",
    "  dial_info:",
    '    addrs: ["localhost", "db2:27018"]',
    '    timeout: "10s"',
    '    database: "docker_auth"',
    '    username: "reader"',
    `    password_file: "${join(dir, "mongo-pw")}"`,
    "    enable_tls: false",
    '  collection: "users"',
    "acl_mongo:",
    "  dial_info:",
    '    addrs: ["localhost"]',
    '    timeout: "3s"',
    '    database: "docker_auth"',
    '  collection: "acl"',
    '  cache_ttl: "1m"',
  ]);
  const m = cfg.sections.get("mongo_auth") as MongoConfig;
  assert.equal(m.uri, "mongodb://localhost,db2:27018/");
  assert.deepEqual([m.username, m.password, m.authSource, m.database, m.collection, m.tls, m.timeoutMs], ["reader", "s3cret-from-file", "admin", "docker_auth", "users", false, 10_000]);
  assert.equal(m.description, "mongodb localhost,db2:27018/docker_auth.users");
  const a = cfg.sections.get("acl_mongo") as AclMongoConfig;
  assert.deepEqual([a.cacheTtlMs, a.timeoutMs, a.username], [60_000, 3000, undefined]);
});

test("a URI from a file: its credentials are taken out of it, the rest is used as it is", async () => {
  const cfg = await load(["acl: []", "mongo_auth:", "  dial_info:", `    uri_file: ${join(dir, "mongo-uri")}`, "    database: reg", "  collection: users"]);
  const m = cfg.sections.get("mongo_auth") as MongoConfig;
  assert.equal(m.uri, "mongodb://db1:27017,db2:27018/?replicaSet=rs0");
  assert.deepEqual([m.username, m.password], ["reader", "uri@pw"]);
  assert.ok(!m.description.includes("uri@pw"));
});

test("docker_auth's own messages for missing keys, each at its key", async () => {
  const found = await issues(["mongo_auth:", "  dial_info:", "    timeout: 5s", "acl_mongo:", "  collection: acl"]);
  const text = found.map((i) => `${i.key}: ${i.message}`).join("\n");
  assert.match(text, /mongo_auth.dial_info: At least one element in mongo_auth.dial_info.addrs is required/);
  assert.match(text, /mongo_auth.dial_info: mongo_auth.dial_info.database is required/);
  assert.match(text, /mongo_auth: mongo_auth.collection is required/);
  assert.match(text, /acl_mongo: dial_info is required/);
});

test("conflicts, bad addresses and typos are refused without quoting the password", async () => {
  const found = await issues([
    "mongo_auth:",
    "  dial_info:",
    '    addrs: ["db:27017/x"]',
    '    uri: "mongodb://u:topsecret@db"',
    "    database: d",
    "    password: topsecret",
    `    password_file: ${join(dir, "mongo-pw")}`,
    "  collection: users",
  ]);
  const text = found.map((i) => `${i.key}: ${i.message}`).join("\n");
  assert.match(text, /mongo_auth.dial_info.uri: set addrs or uri, not both/);
  assert.match(text, /mongo_auth.dial_info.password_file: set password or password_file, not both/);
  assert.ok(!text.includes("topsecret"), text);
  assert.ok(found.every((i) => i.line !== undefined), "every problem has its line");
});

test("a misspelt dial_info key is named with a suggestion", async () => {
  const found = await issues(["mongo_auth:", "  dial_info:", '    addrs: ["db"]', "    database: d", "    timout: 5s", "  collection: users"]);
  assert.match(found.map((i) => `${i.key}: ${i.message}`).join("\n"), /mongo_auth.dial_info.timout: unknown key "timout"; did you mean "timeout"\?/);
});

test("an address that is not host or host:port is named by its place in the list", async () => {
  const found = await issues(["mongo_auth:", "  dial_info:", '    addrs: ["db1", "db:27017/x"]', "    database: d", "  collection: users"]);
  assert.match(found.map((i) => `${i.key}: ${i.message}`).join("\n"), /mongo_auth.dial_info.addrs\[1\]: "db:27017\/x" is not host or host:port/);
});
