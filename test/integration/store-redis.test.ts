// The Redis token store on real redis-server processes: the shared contract on one server
// and on a 3-node Redis Cluster, an outage and the recovery after it, passwords, TLS, and
// the checks of the token_store.redis section.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { StoreUnavailableError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { redisStore } from "../../src/stores/redis/index.js";
import type { RawRedisStore, RedisStoreConfig } from "../../src/stores/redis/section.js";
import type { TokenStore } from "../../src/stores/token-store.js";
import { writeKeyPair } from "../helpers/regauth.js";
import { skipWithoutRedis, startRedis, startRedisCluster, type RunningRedis, type RunningRedisCluster } from "../helpers/redis.js";
import { fakeContext, type Issue } from "../helpers/section-context.js";
import { credential, eventually, isUnavailable, storeContract, T0 } from "../helpers/store-contract.js";

const skip = await skipWithoutRedis();
const silent = createLogger("silent");

/** The section as the config loader would give it: parsed by the module's shape, then built. */
async function build(raw: Record<string, unknown>): Promise<{ config: RedisStoreConfig; issues: Issue[] }> {
  const ctx = fakeContext();
  const parsed = z.strictObject(redisStore.shape).parse(raw) as RawRedisStore;
  return { config: await redisStore.build(parsed, ctx), issues: ctx.issues };
}

async function open(raw: Record<string, unknown>, log = silent): Promise<TokenStore> {
  const { config, issues } = await build(raw);
  assert.deepEqual(issues, []);
  return redisStore.open(config, { log });
}

let n = 0;
const freshPrefix = () => `t${process.pid}-${++n}:`;

/** Retries `f` until it succeeds (for what recovers in the background), up to a generous deadline. */

describe("redis token store", { skip }, () => {
  let server: RunningRedis;
  let cluster: RunningRedisCluster;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-redis-test-"));
    [server, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
  });
  after(async () => {
    await Promise.all([server?.destroy(), cluster?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  });

  storeContract("redis", () => open({ url: server.url, key_prefix: freshPrefix() }));
  storeContract("redis cluster", () => open({ cluster: cluster.seeds, key_prefix: freshPrefix() }));

  test("redis cluster: credentials and account indexes spread over every master, and list/revoke all still see them all", async () => {
    const s = await open({ cluster: cluster.seeds, key_prefix: freshPrefix() });
    try {
      const cs = Array.from({ length: 60 }, (_, i) => credential({ account: `user${i % 7}`, createdAt: T0 + i }));
      await Promise.all(cs.map((c) => s.put(c)));
      assert.deepEqual((await s.list(T0)).map((c) => c.id), cs.map((c) => c.id));
      assert.equal((await s.list(T0, { account: "user3" })).length, cs.filter((c) => c.account === "user3").length);
      assert.equal(await s.revoke({ account: "user3" }), cs.filter((c) => c.account === "user3").length);
      assert.equal(await s.revoke({ all: true }), 60 - cs.filter((c) => c.account === "user3").length);
      assert.deepEqual(await s.list(T0), []);
    } finally {
      await s.close();
    }
  });

  test("redis cluster: with one master down, listing and revoking everything fail (never a silently partial answer) and recover", async () => {
    const own = await startRedisCluster(3);
    const s = await open({ cluster: own.seeds, key_prefix: freshPrefix() });
    try {
      await Promise.all(Array.from({ length: 20 }, () => s.put(credential())));
      await own.stopNode(1);
      const down = new RegExp(`token_store \\(redis\\): cluster .*${own.seeds[1]!.replace(/\./g, "\\.")}|Connection is closed|connect ECONNREFUSED`);
      const t = Date.now();
      await assert.rejects(s.list(T0), isUnavailable(down));
      await assert.rejects(s.revoke({ all: true }), isUnavailable(down));
      await assert.rejects(s.purge(T0), isUnavailable(down));
      assert.ok(Date.now() - t < 7500, `failed after ${Date.now() - t} ms`);
      const h = await s.health();
      assert.equal(h.ok, false);
      assert.match(h.detail ?? "", /token_store \(redis\): cluster 127\.0\.0\.1:/);
      await own.startNode(1);
      // The restarted master lost its keys (no persistence): the others' are all listed again.
      const back = await eventually(() => s.list(T0), 20_000);
      assert.ok(back.length > 0 && back.length < 20, `${back.length} listed`);
      assert.equal(await s.revoke({ all: true }), back.length);
      assert.deepEqual(await s.health(), { ok: true });
    } finally {
      await s.close();
      await own.destroy();
    }
  });

  test("a credential whose deadline has passed by Redis's own clock is dropped by Redis", async () => {
    const s = await open({ url: server.url, key_prefix: freshPrefix() });
    try {
      const now = Date.now();
      const c = credential({ createdAt: now, lastUsedAt: now, expiresAt: now + 24 * 3_600_000, idleUntil: now + 150 });
      await s.put(c);
      assert.deepEqual(await s.get(c.id, now), c);
      await eventually(async () => assert.deepEqual(await s.list(0), []), 5000);
      assert.equal(await s.purge(now), 0, "already gone: nothing left to purge");
      // touch moves the deadline: a credential touched in time lives on.
      const d = credential({ createdAt: now, lastUsedAt: now, expiresAt: now + 24 * 3_600_000, idleUntil: now + 1000 });
      await s.put(d);
      await s.touch(d.id, now + 1, now + 60_000);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal((await s.get(d.id, now + 2))?.idleUntil, now + 60_000);
    } finally {
      await s.close();
    }
  });

  test("an outage: calls fail fast naming the address, opening still works, and the same objects recover once Redis is back", async () => {
    const srv = await startRedis();
    const lines: string[] = [];
    const log = createLogger("debug", { write: (l: string) => void lines.push(l) });
    const store = await open({ url: srv.url, key_prefix: freshPrefix() }, log);
    let late: TokenStore | undefined;
    try {
      await store.put(credential());
      await srv.stop();
      const address = new RegExp(`token_store \\(redis\\).*127\\.0\\.0\\.1:${srv.port}`);
      for (const call of [() => store.get("0123456789abcdef", T0), () => store.put(credential()), () => store.list(T0), () => store.hit("k", 60_000, T0)]) {
        const t = Date.now();
        await assert.rejects(call(), isUnavailable(address));
        assert.ok(Date.now() - t < 2500, `failed after ${Date.now() - t} ms`);
      }
      const h = await store.health();
      assert.equal(h.ok, false);
      assert.match(h.detail ?? "", new RegExp(`127\\.0\\.0\\.1:${srv.port}`));
      // Opening during an outage does not fail; its calls do, the same way.
      late = await open({ url: srv.url, key_prefix: freshPrefix() }, log);
      await assert.rejects(late.put(credential()), isUnavailable(address));

      await srv.start();
      const c = credential();
      await eventually(() => store.put(c));
      assert.deepEqual(await store.get(c.id, T0), c);
      assert.deepEqual(await store.health(), { ok: true });
      await eventually(() => late!.put(c));
      assert.equal(await late.hit("k", 60_000, T0), 1);
      assert.ok(lines.some((l) => /"level":"warn"/.test(l) && l.includes(`127.0.0.1:${srv.port}`)), "the outage was logged");
    } finally {
      await store.close();
      await late?.close();
      await srv.destroy();
    }
  });

  test("close quits cleanly while Redis is down", async () => {
    const srv = await startRedis();
    const store = await open({ url: srv.url, key_prefix: freshPrefix() });
    await store.put(credential());
    await srv.destroy();
    await assert.rejects(store.get("0123456789abcdef", T0), StoreUnavailableError);
    const t = Date.now();
    await store.close();
    assert.ok(Date.now() - t < 2000);
  });

  test("a password: wrong or missing is a clear error that never shows it; from password_file it works", async () => {
    const srv = await startRedis({ password: "right-horse-battery" });
    const lines: string[] = [];
    const log = createLogger("debug", { write: (l: string) => void lines.push(l) });
    const stores: TokenStore[] = [];
    try {
      const wrong = await open({ url: srv.url.replace("://", "://:wrong-staple@"), key_prefix: freshPrefix() }, log);
      stores.push(wrong);
      await assert.rejects(wrong.put(credential()), (e: Error) => {
        isUnavailable(/127\.0\.0\.1.*(WRONGPASS|invalid password)/)(e);
        assert.doesNotMatch(e.message, /wrong-staple/);
        return true;
      });
      assert.doesNotMatch((await wrong.health()).detail ?? "", /wrong-staple/);

      const none = await open({ url: srv.url, key_prefix: freshPrefix() }, log);
      stores.push(none);
      await assert.rejects(none.put(credential()), isUnavailable(/NOAUTH|Authentication required/i));

      const file = join(dir, "redis-password");
      await writeFile(file, "right-horse-battery\n");
      const good = await open({ url: srv.url, password_file: file, key_prefix: freshPrefix() }, log);
      stores.push(good);
      const c = credential();
      await good.put(c);
      assert.deepEqual(await good.get(c.id, T0), c);
      assert.ok(lines.length > 0, "the refused logins were logged");
      assert.ok(!lines.some((l) => /wrong-staple|right-horse-battery/.test(l)), "no password in the log");
    } finally {
      for (const s of stores) await s.close();
      await srv.destroy();
    }
  });

  test("rediss:// with tls_ca_file verifies the server; without the CA the connection is refused", async () => {
    const srv = await startRedis({ tls: true });
    const stores: TokenStore[] = [];
    try {
      const good = await open({ url: srv.url, tls_ca_file: srv.caFile, key_prefix: freshPrefix() });
      stores.push(good);
      const c = credential();
      await good.put(c);
      assert.deepEqual(await good.get(c.id, T0), c);
      const untrusted = await open({ url: srv.url, key_prefix: freshPrefix() });
      stores.push(untrusted);
      await assert.rejects(untrusted.put(c), isUnavailable(/rediss:\/\/127\.0\.0\.1.*(certificate|self.signed)/i));
    } finally {
      for (const s of stores) await s.close();
      await srv.destroy();
    }
  });

  describe("token_store.redis section", () => {
    const at = (...k: (string | number)[]) => ["token_store", "redis", ...k];

    test("a url: host, port, database and defaults", async () => {
      const { config, issues } = await build({ url: "redis://cache.internal:6380/3" });
      assert.deepEqual(issues, []);
      assert.deepEqual(config, { mode: "standalone", nodes: [{ host: "cache.internal", port: 6380 }], db: 3, keyPrefix: "regauth:", address: "redis://cache.internal:6380/3", username: undefined, tls: undefined });
      assert.equal((await build({ url: "rediss://cache.internal" })).config.address, "rediss://cache.internal:6379/0");
    });

    test("a password in the url is used and never shown", async () => {
      const { config, issues } = await build({ url: "redis://app:s%40cret@cache:6379" });
      assert.deepEqual(issues, []);
      assert.equal(config.username, "app");
      assert.equal(config.password?.reveal(), "s@cret");
      assert.doesNotMatch(JSON.stringify(config) + config.address, /cret/);
    });

    test("exactly one of url and cluster", async () => {
      for (const raw of [{}, { url: "redis://a:1", cluster: ["b:2"] }]) {
        const { issues } = await build(raw);
        assert.equal(issues.length, 1, JSON.stringify(issues));
        assert.deepEqual(issues[0]!.path, at());
        assert.match(issues[0]!.message, /url.*cluster/);
      }
    });

    test("a url that is not redis:// or rediss:// says what to write", async () => {
      for (const [url, why] of [
        ["http://cache:6379", /redis:\/\/ or rediss:\/\//],
        ["cache:6379", /redis:\/\/ or rediss:\/\//],
        ["redis://cache:6379/zero", /database number/],
        ["redis://cache:6379?db=1", /no query/],
        ["not a url", /must be a URL/],
      ] as const) {
        const { issues } = await build({ url });
        assert.deepEqual(issues.map((i) => i.path), [at("url")], url);
        assert.match(issues[0]!.message, why, url);
      }
    });

    test("cluster seeds must each be host:port", async () => {
      const { config, issues } = await build({ cluster: ["10.0.0.1:7000", "nohost", "redis://x:7001", "[::1]:7002", "h:99999"] });
      assert.deepEqual(
        issues.map((i) => i.path),
        [at("cluster", 1), at("cluster", 2), at("cluster", 4)],
      );
      assert.match(issues[1]!.message, /not a URL/);
      assert.match(issues[2]!.message, /out of range/);
      assert.deepEqual(config.nodes, [
        { host: "10.0.0.1", port: 7000 },
        { host: "::1", port: 7002 },
      ]);
      assert.equal((await build({ cluster: [] })).issues[0]?.message.includes("at least one"), true);
    });

    test("the password in one place only; password_file and password_env are read", async () => {
      const both = await build({ url: "redis://:p@a:1", password_file: "/nonexistent" });
      assert.deepEqual(both.issues.map((i) => i.path), [at("password_file")]);
      assert.match(both.issues[0]!.message, /one place/);
      const missingFile = await build({ url: "redis://a:1", password_file: join(dir, "nope") });
      assert.deepEqual(missingFile.issues.map((i) => i.path), [at("password_file")]);
      const missingEnv = await build({ url: "redis://a:1", password_env: "REGAUTH_TEST_SURELY_UNSET" });
      assert.deepEqual(missingEnv.issues.map((i) => i.path), [at("password_env")]);
      process.env["REGAUTH_TEST_REDIS_PW"] = "from-env";
      try {
        const env = await build({ url: "redis://a:1", password_env: "REGAUTH_TEST_REDIS_PW" });
        assert.deepEqual(env.issues, []);
        assert.equal(env.config.password?.reveal(), "from-env");
      } finally {
        delete process.env["REGAUTH_TEST_REDIS_PW"];
      }
      const empty = join(dir, "empty-password");
      await writeFile(empty, "\n");
      assert.match((await build({ url: "redis://a:1", password_file: empty })).issues[0]?.message ?? "", /empty/);
    });

    test("key_prefix: not empty, no hash-tag braces", async () => {
      for (const key_prefix of ["", "app{1}:", "a}"]) {
        const { issues } = await build({ url: "redis://a:1", key_prefix });
        assert.deepEqual(issues.map((i) => i.path), [at("key_prefix")], key_prefix);
      }
      assert.equal((await build({ url: "redis://a:1", key_prefix: "prod-*?[x]:" })).issues.length, 0, "glob characters are fine: they are escaped in SCAN patterns");
    });

    test("tls_ca_file: only with TLS, and it must hold a certificate", async () => {
      const pair = await writeKeyPair(dir, "section-ca", "ec");
      assert.deepEqual((await build({ url: "redis://a:1", tls_ca_file: pair.cert })).issues.map((i) => i.path), [at("tls_ca_file")]);
      assert.match((await build({ url: "rediss://a:1", tls_ca_file: join(dir, "none.pem") })).issues[0]?.message ?? "", /cannot read/);
      assert.match((await build({ url: "rediss://a:1", tls_ca_file: pair.key })).issues[0]?.message ?? "", /no PEM certificate/);
      const ok = await build({ url: "rediss://a:1", tls_ca_file: pair.cert });
      assert.deepEqual(ok.issues, []);
      assert.match(ok.config.tls?.ca ?? "", /BEGIN CERTIFICATE/);
      const clustered = await build({ cluster: ["a:1"], tls_ca_file: pair.cert });
      assert.deepEqual(clustered.issues, []);
      assert.ok(clustered.config.tls?.ca, "a cluster with tls_ca_file connects with TLS");
    });

    test("unknown keys are refused by the shape", () => {
      assert.equal(z.strictObject(redisStore.shape).safeParse({ url: "redis://a:1", urll: "x" }).success, false);
    });
  });
});
