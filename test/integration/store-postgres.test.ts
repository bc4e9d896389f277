// The PostgreSQL token store on a real server: the shared contract, two replicas on one
// database, an outage and the recovery after it, and the checks of the
// token_store.postgres section.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { z } from "zod";
import { StoreUnavailableError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { postgresStore } from "../../src/stores/postgres/index.js";
import type { PostgresStoreConfig, RawPostgresStore } from "../../src/stores/postgres/section.js";
import type { TokenStore } from "../../src/stores/token-store.js";
import { skipWithoutPostgres, startPostgres, type RunningPostgres } from "../helpers/postgres.js";
import { writeKeyPair } from "../helpers/regauth.js";
import { fakeContext, type Issue } from "../helpers/section-context.js";
import { credential, eventually, isUnavailable, storeContract, T0 } from "../helpers/store-contract.js";

const skip = await skipWithoutPostgres();
const silent = createLogger("silent");

async function build(raw: Record<string, unknown>): Promise<{ config: PostgresStoreConfig; issues: Issue[] }> {
  const ctx = fakeContext();
  const parsed = z.strictObject(postgresStore.shape).parse(raw) as RawPostgresStore;
  return { config: await postgresStore.build(parsed, ctx), issues: ctx.issues };
}

async function open(raw: Record<string, unknown>, log = silent): Promise<TokenStore> {
  const { config, issues } = await build(raw);
  assert.deepEqual(issues, []);
  return postgresStore.open(config, { log });
}

let n = 0;
const freshPrefix = () => `t${process.pid}_${++n}_`;


describe("postgres token store", { skip }, () => {
  let server: RunningPostgres;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-pg-test-"));
    server = await startPostgres();
  });
  after(async () => {
    await server?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  storeContract("postgres", () => open({ url: server.url, table_prefix: freshPrefix() }));

  test("two replicas on one database: created together, each sees the other's puts, revocations and counts at once", async () => {
    const table_prefix = freshPrefix();
    const [a, b] = [await open({ url: server.url, table_prefix }), await open({ url: server.url, table_prefix })];
    try {
      const [ca, cb] = [credential({ account: "alice" }), credential({ account: "bob" })];
      // The first calls of both create the tables at the same moment.
      await Promise.all([a.put(ca), b.put(cb)]);
      assert.deepEqual(await b.get(ca.id, T0), ca);
      assert.deepEqual(await a.get(cb.id, T0), cb);
      await b.touch(ca.id, T0 + 5, T0 + 10_000_000);
      assert.equal((await a.get(ca.id, T0))?.lastUsedAt, T0 + 5);
      assert.equal(await b.revoke({ id: ca.id }), 1);
      assert.equal(await a.get(ca.id, T0), undefined);
      assert.equal(await a.revoke({ account: "bob" }), 1);
      assert.deepEqual(await b.list(T0), []);
      assert.equal(await a.hit("fail:alice", 60_000, T0), 1);
      assert.equal(await b.hit("fail:alice", 60_000, T0), 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("many replicas starting together on fresh tables: none fails creating them", async () => {
    const table_prefix = freshPrefix();
    const stores = await Promise.all(Array.from({ length: 6 }, () => open({ url: server.url, table_prefix })));
    try {
      await Promise.all(stores.map((s) => s.put(credential())));
      assert.equal((await stores[0]!.list(T0)).length, 6);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test("tables made before the attachment column get it, and their rows read as having nothing attached", async () => {
    const table_prefix = freshPrefix();
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      await client.query(`CREATE TABLE "${table_prefix}credentials" (id text PRIMARY KEY, kind text NOT NULL, secret_hash text NOT NULL, account text NOT NULL,
         method text NOT NULL, labels jsonb NOT NULL, client_id text NOT NULL, service text NOT NULL, created_at bigint NOT NULL, last_used_at bigint NOT NULL,
         expires_at bigint NOT NULL, idle_until bigint, proof text NOT NULL DEFAULT '')`);
      await client.query(`CREATE TABLE "${table_prefix}counters" (key text NOT NULL, "window" bigint NOT NULL, count bigint NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (key, "window"))`);
      await client.query(`INSERT INTO "${table_prefix}credentials" VALUES ('00000000000000aa', 'refresh_token', '${"0".repeat(64)}', 'old', 'static users', '{}', 'docker', 'r', ${T0}, ${T0}, ${T0 + 3_600_000}, NULL, '')`);
      const s = await open({ url: server.url, table_prefix });
      try {
        assert.equal((await s.get("00000000000000aa", T0))?.attachment, "");
        const c = credential({ kind: "login_password", attachment: "sealed" });
        await s.put(c);
        assert.deepEqual(await s.get(c.id, T0), c);
      } finally {
        await s.close();
      }
    } finally {
      await client.end();
    }
  });

  test("purge also drops counter windows that have ended", async () => {
    const table_prefix = freshPrefix();
    const s = await open({ url: server.url, table_prefix });
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      await s.hit("k", 60_000, T0);
      await s.hit("k", 60_000, T0 + 60_000);
      assert.equal(await s.purge(T0 + 60_000), 0);
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${table_prefix}counters"`);
      assert.equal(rows[0]!.n, "1", "the ended window is gone, the current one stays");
      assert.equal(await s.hit("k", 60_000, T0 + 60_001), 2);
    } finally {
      await client.end();
      await s.close();
    }
  });

  test("an outage: calls fail fast naming the address, opening still works, and the same objects recover once the server is back", async () => {
    const srv = await startPostgres();
    const lines: string[] = [];
    const log = createLogger("debug", { write: (l: string) => void lines.push(l) });
    const store = await open({ url: srv.url, table_prefix: freshPrefix() }, log);
    let late: TokenStore | undefined;
    try {
      const kept = credential();
      await store.put(kept);
      await srv.stop();
      const address = new RegExp(`token_store \\(postgres\\): postgres://postgres@127\\.0\\.0\\.1:${srv.port}/postgres`);
      for (const call of [() => store.get(kept.id, T0), () => store.put(credential()), () => store.list(T0), () => store.hit("k", 60_000, T0), () => store.revoke({ all: true })]) {
        const t = Date.now();
        await assert.rejects(call(), isUnavailable(address));
        assert.ok(Date.now() - t < 2500, `failed after ${Date.now() - t} ms`);
      }
      const h = await store.health();
      assert.equal(h.ok, false);
      assert.match(h.detail ?? "", new RegExp(`127\\.0\\.0\\.1:${srv.port}`));
      // Opening during an outage does not fail; the tables it needs are created once the server is back.
      late = await open({ url: srv.url, table_prefix: freshPrefix() }, log);
      await assert.rejects(late.put(credential()), isUnavailable(address));

      await srv.start();
      assert.deepEqual(await eventually(() => store.get(kept.id, T0)), kept, "the data survived the restart");
      const c = credential();
      await store.put(c);
      assert.deepEqual(await store.health(), { ok: true });
      await eventually(() => late!.put(c));
      assert.deepEqual(await late.get(c.id, T0), c);
      assert.ok(lines.some((l) => /"level":"warn"/.test(l) && l.includes(`127.0.0.1:${srv.port}`)), "the outage was logged");
    } finally {
      await store.close();
      await late?.close();
      await srv.destroy();
    }
  });

  test("close works while the server is down", async () => {
    const srv = await startPostgres();
    const store = await open({ url: srv.url, table_prefix: freshPrefix() });
    await store.put(credential());
    await srv.destroy();
    await assert.rejects(store.get("0123456789abcdef", T0), StoreUnavailableError);
    const t = Date.now();
    await store.close();
    assert.ok(Date.now() - t < 2000);
  });

  describe("token_store.postgres section", () => {
    const at = (...k: (string | number)[]) => ["token_store", "postgres", ...k];

    test("a url and the defaults", async () => {
      const { config, issues } = await build({ url: "postgres://regauth@db.internal:5433/tokens" });
      assert.deepEqual(issues, []);
      assert.deepEqual(config, {
        host: "db.internal",
        port: 5433,
        user: "regauth",
        database: "tokens",
        tablePrefix: "regauth_",
        poolSize: 10,
        address: "postgres://regauth@db.internal:5433/tokens",
      });
      assert.equal((await build({ url: "postgresql://u@db/d" })).config.port, 5432);
    });

    test("url is required and must name a user, host and database", async () => {
      assert.deepEqual((await build({})).issues.map((i) => i.path), [at()]);
      for (const [url, why] of [
        ["mysql://u@h/d", /postgres:\/\//],
        ["postgres://h:5432/d", /no user/],
        ["postgres://u@h:5432", /no database/],
        ["postgres://u@h/d?connect_timeout=3", /connect_timeout is not supported/],
        ["postgres://u@h/d?sslmode=prefer", /sslmode=prefer is not supported/],
        ["db.internal:5432", /postgres:\/\//],
      ] as const) {
        const { issues } = await build({ url });
        assert.deepEqual(issues.map((i) => i.path), [at("url")], url);
        assert.match(issues[0]!.message, why, url);
      }
    });

    test("table_prefix and pool_size are checked", async () => {
      for (const table_prefix of ["Regauth_", "1x", "a-b", "x".repeat(32), "", "a; drop table x"]) {
        const { issues } = await build({ url: "postgres://u@h/d", table_prefix });
        assert.deepEqual(issues.map((i) => i.path), [at("table_prefix")], table_prefix);
      }
      assert.deepEqual((await build({ url: "postgres://u@h/d", table_prefix: "_ok_9" })).issues, []);
      for (const pool_size of [0, 1001]) assert.deepEqual((await build({ url: "postgres://u@h/d", pool_size })).issues.map((i) => i.path), [at("pool_size")]);
      assert.equal((await build({ url: "postgres://u@h/d", pool_size: 3 })).config.poolSize, 3);
    });

    test("the password: from the url, password_file or password_env, in one place only, never shown", async () => {
      const inUrl = await build({ url: "postgres://u:p%40zq-secret@h/d" });
      assert.equal(inUrl.config.password?.reveal(), "p@zq-secret");
      assert.doesNotMatch(JSON.stringify(inUrl.config) + inUrl.config.address, /zq/);
      const file = join(dir, "pg-password");
      await writeFile(file, "from-file\n");
      assert.equal((await build({ url: "postgres://u@h/d", password_file: file })).config.password?.reveal(), "from-file");
      const both = await build({ url: "postgres://u:p@h/d", password_env: "X" });
      assert.deepEqual(both.issues.map((i) => i.path), [at("password_env")]);
      assert.match(both.issues[0]!.message, /one place/);
      assert.deepEqual((await build({ url: "postgres://u@h/d", password_file: join(dir, "nope") })).issues.map((i) => i.path), [at("password_file")]);
    });

    test("TLS: sslmode in the url, tls_ca_file implies verify-full", async () => {
      const pair = await writeKeyPair(dir, "pg-ca", "ec");
      const verify = await build({ url: "postgres://u@h/d", tls_ca_file: pair.cert });
      assert.deepEqual(verify.issues, []);
      assert.equal(verify.config.tls?.verifyChain, true);
      assert.equal(verify.config.tls?.verifyHost, true);
      assert.match(verify.config.tls?.ca ?? "", /BEGIN CERTIFICATE/);
      assert.deepEqual((await build({ url: "postgres://u@h/d?sslmode=require" })).config.tls, { verifyChain: false, verifyHost: false });
      assert.equal((await build({ url: "postgres://u@h/d?sslmode=disable" })).config.tls, undefined);
      assert.deepEqual((await build({ url: "postgres://u@h/d?sslmode=disable", tls_ca_file: pair.cert })).issues.map((i) => i.path), [at("tls_ca_file")]);
      assert.match((await build({ url: "postgres://u@h/d", tls_ca_file: pair.key })).issues[0]?.message ?? "", /no PEM certificate/);
    });

    test("unknown keys are refused by the shape", () => {
      assert.equal(z.strictObject(postgresStore.shape).safeParse({ url: "postgres://u@h/d", table: "x" }).success, false);
    });
  });
});
