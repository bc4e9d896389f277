// xorm_auth and acl_xorm against real databases: SQLite (a file), PostgreSQL and MariaDB
// (servers on loopback). The same suite runs on each: tables made by `regauth db init`,
// users with labels, the ACL in seq order, injection attempts, cache_ttl reloads, broken
// entries, an outage and the recovery after it.
// Needs `apt-get install postgresql mariadb-server` (in CI a missing server fails these tests).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { ConfigError } from "../../src/errors.js";
import { skipWithoutMariadb, startMariadb, type RunningMariadb } from "../helpers/mariadb.js";
import { skipWithoutPostgres, startPostgres, type RunningPostgres } from "../helpers/postgres.js";
import { BIN, testHash, writeKeyPair, type KeyFiles, serveInProcess, type InProcessServer, requestGrant, type GrantAnswer } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";

const run = promisify(execFile);

/** One database under test: how the config reaches it and how the test writes to it. */
interface Db {
  type: "sqlite3" | "postgres" | "mysql";
  conn: string;
  exec(sql: string): Promise<void>;
  /** An outage and its end; undefined where there is no server to stop (SQLite). */
  stop?(): Promise<void>;
  start?(): Promise<void>;
  /** A server that hangs (SIGSTOP) and comes back (SIGCONT). */
  pause?(): Promise<void>;
  resume?(): Promise<void>;
  close(): Promise<void>;
}

let dir: string;
let keys: KeyFiles;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-xorm-it-"));
  keys = await writeKeyPair(dir, "token", "ec");
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const PASSWORDS = { alice: "alice-password", bob: "bob-password", carol: "carol-new", robot: "robot-password" };

function configText(db: Db, robotHash: string, extra = ""): string {
  const section = `{database_type: ${db.type}, conn_string: ${JSON.stringify(db.conn)}}`;
  return `
server: {addr: "127.0.0.1:0"}
token: {issuer: "xorm-it", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
users:
  robot: {password: "${robotHash}"}
xorm_auth: ${section}
acl_xorm: {database_type: ${db.type}, conn_string: ${JSON.stringify(db.conn)}, cache_ttl: 1s}
${extra}`;
}

type Server = InProcessServer;
const serve = (text: string): Promise<Server> => serveInProcess(join(dir, "xorm.yml"), text, dir);

const token = (s: Server, user: string, pass: string, scope: string): Promise<GrantAnswer> => requestGrant(s.url, user, pass, scope);

const granted = async (s: Server, user: string, scope: string): Promise<string[]> => {
  const a = await token(s, user, PASSWORDS[user as keyof typeof PASSWORDS], scope);
  assert.equal(a.status, 200, a.text);
  return a.actions;
};

/** A SQL string literal (the test's own seeding; the server's queries are parameterised). */
const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;
const entry = (seq: number | null, e: unknown) => `INSERT INTO xorm_acl_entry (seq, acl_entry) VALUES (${seq === null ? "NULL" : seq}, ${lit(JSON.stringify(e))})`;

async function seed(db: Db): Promise<void> {
  const user = async (name: string, pass: string, labels: unknown) =>
    db.exec(`INSERT INTO xorm_user (username, password_hash, labels) VALUES ('${name}', '${await testHash(pass)}', ${labels === null ? "NULL" : lit(JSON.stringify(labels))})`);
  await user("alice", PASSWORDS.alice, { group: ["dev", "qa"] });
  await user("bob", PASSWORDS.bob, null);
  // Two rows for carol: the newer one (higher id) is the one in use, as in docker_auth.
  await user("carol", "carol-old", {});
  await user("carol", PASSWORDS.carol, { group: ["ops"] });
  // Written out of order: the ACL is applied by seq, not by row order.
  await db.exec(entry(30, { match: { account: "/.+/", name: "${account}/*" }, actions: ["*"], comment: "own namespace" }));
  await db.exec(entry(20, { Match: { Name: "${labels:group}/*" }, Actions: ["pull", "push"], Comment: "written by Go's encoding/json" }));
  await db.exec(entry(10, { match: { account: "alice", name: "alice/frozen" }, actions: ["pull"] }));
  await db.exec(entry(null, { match: { account: "bob" }, actions: ["*"], comment: "no seq: skipped" }));
}

async function dbInit(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, "db", "init", ...args]);
  return stdout;
}

function xormSuite(label: string, skip: string | undefined, open: () => Promise<Db>): void {
  describe(`xorm_auth and acl_xorm on ${label}`, { skip }, () => {
    let db: Db;
    let s: Server;
    let robotHash: string;
    let configPath: string;

    before(async () => {
      if (skip) return;
      db = await open();
      robotHash = await testHash(PASSWORDS.robot);
      configPath = join(dir, `${db.type}.yml`);
      await writeFile(configPath, configText(db, robotHash));
      const out = await dbInit([configPath]);
      assert.match(out, /tables xorm_user and xorm_acl_entry are there/);
      assert.ok(!out.includes("secret-db-password"), out);
      await seed(db);
      s = await serve(configText(db, robotHash));
    });
    after(async () => {
      await s?.close();
      await db?.close();
    });

    test("`regauth db init` is safe to run again: tables and rows stay", async () => {
      await dbInit([configPath]);
      assert.deepEqual(await granted(s, "alice", "repository:alice/app:push,pull"), ["pull", "push"]);
    });

    test("a user gets what the first matching entry by seq grants, labels included", async () => {
      // seq 10 before seq 30: alice/frozen is pull only although her namespace is hers.
      assert.deepEqual(await granted(s, "alice", "repository:alice/frozen:push,pull"), ["pull"]);
      // seq 20 with ${labels:group}: both of alice's groups.
      assert.deepEqual(await granted(s, "alice", "repository:dev/app:push,pull"), ["pull", "push"]);
      assert.deepEqual(await granted(s, "alice", "repository:qa/app:push"), ["push"]);
      // bob has no labels: no group namespace; his own namespace by seq 30.
      assert.deepEqual(await granted(s, "bob", "repository:dev/app:pull"), []);
      assert.deepEqual(await granted(s, "bob", "repository:bob/app:push,pull"), ["pull", "push"]);
    });

    test("`regauth explain` reads the table and names the deciding entry by seq", async () => {
      const { stdout } = await run(process.execPath, [BIN, "explain", configPath, "--account", "alice", "--label", "group=dev", "repository:alice/frozen:push,pull", "repository:dev/app:push", "repository:nobody/app:pull"]);
      assert.match(stdout, /repository:alice\/frozen:pull,push\n  matched acl_xorm seq 10 in [^\n]*xorm_acl_entry\n  granted: pull\n/);
      assert.match(stdout, /repository:dev\/app:push\n  matched acl_xorm seq 20 in [^\n]* \(written by Go's encoding\/json\)\n  granted: push\n/);
      assert.match(stdout, /repository:nobody\/app:pull\n  no ACL entry matched: denied/);
      assert.ok(!stdout.includes("secret-db-password"), stdout);
    });

    test("the newest row of a username is the one in use", async () => {
      assert.deepEqual(await granted(s, "carol", "repository:ops/app:push"), ["push"]);
      assert.equal((await token(s, "carol", "carol-old", "repository:ops/app:push")).status, 401);
    });

    test("an entry without seq is left out, with a warning naming it", async () => {
      assert.deepEqual(await granted(s, "bob", "repository:alice/app:pull"), []);
      assert.match(s.logs(), /ACL entry skipped: an entry without seq .*no seq: skipped/);
    });

    test("a wrong password, an unknown user and an empty password get the same 401", async () => {
      const wrong = await token(s, "alice", "bob-password", "repository:alice/app:pull");
      const unknown = await token(s, "mallory", "alice-password", "repository:alice/app:pull");
      const empty = await token(s, "alice", "", "repository:alice/app:pull");
      for (const r of [wrong, unknown, empty]) {
        assert.equal(r.status, 401, r.text);
        assert.equal(r.text, wrong.text);
      }
    });

    test("SQL in a username is a username: no row is found", async () => {
      for (const name of ["' OR '1'='1", "alice' --", "alice'; DROP TABLE xorm_user; --", '{"$ne": ""}', "alice\\", "%"]) {
        const a = await token(s, name, PASSWORDS.alice, "repository:alice/app:pull");
        assert.equal(a.status, 401, `${name}: ${a.text}`);
      }
      // The table is still there and alice still signs in.
      assert.deepEqual(await granted(s, "alice", "repository:alice/app:pull"), ["pull"]);
    });

    test("a username that differs in case or trailing space is another user (MySQL's collation would match it)", async () => {
      for (const name of ["ALICE", "Alice", "alice ", " alice"]) {
        const a = await token(s, name, PASSWORDS.alice, "repository:alice/app:pull");
        assert.equal(a.status, 401, `${JSON.stringify(name)}: ${a.text}`);
      }
    });

    test("a static user's requests are decided by the database ACL too", async () => {
      assert.deepEqual(await granted(s, "robot", "repository:robot/app:push"), ["push"]);
      assert.deepEqual(await granted(s, "robot", "repository:alice/app:pull"), []);
    });

    test("a new entry is in use after cache_ttl; a broken one keeps the last good ACL until it is fixed", async () => {
      await db.exec(entry(15, { match: { account: "bob", name: "shared/*" }, actions: ["pull"] }));
      await eventually(async () => assert.deepEqual(await granted(s, "bob", "repository:shared/app:pull"), ["pull"]));

      // A broken entry: the whole new read is refused (a hole could grant what it was there to deny).
      await db.exec(entry(5, { match: { account: "bob", ip: "not-an-ip" }, actions: ["*"] }));
      await db.exec(entry(6, "not a mapping"));
      await eventually(async () => assert.match(s.logs(), /"error":"[^\n]*seq 5: invalid IP pattern \\"not-an-ip\\"[^\n]*seq 6: the entry must be a mapping[^\n]*ACL reload failed; the last good ACL stays in use/));
      assert.deepEqual(await granted(s, "bob", "repository:shared/app:pull"), ["pull"]);
      const ready = (await (await fetch(`${s.url}/readyz`)).json()) as { backends: Record<string, { ok: boolean }> };
      assert.equal(ready.backends["acl_xorm"]?.ok, true, "a stale good ACL still serves");

      await db.exec("DELETE FROM xorm_acl_entry WHERE seq IN (5, 6, 15)");
      await eventually(async () => assert.deepEqual(await granted(s, "bob", "repository:shared/app:pull"), []));
      assert.match(s.logs(), /ACL read again after a failure/);
    });

    test("two entries with one seq are refused: their order would be undefined", async () => {
      await db.exec(entry(40, { match: { account: "bob", name: "dup/*" }, actions: ["pull"] }));
      await db.exec(entry(40, { match: { account: "bob", name: "dup/*" }, actions: ["push"] }));
      await eventually(async () => assert.match(s.logs(), /seq 40: seq is not unique/));
      const from = s.logs().length;
      await db.exec("DELETE FROM xorm_acl_entry WHERE seq = 40");
      await eventually(async () => assert.match(s.logs().slice(from), /ACL read again after a failure/));
    });

    test("docker login's refresh token works for a database user, and ends when the password changes in the table or the row goes", async () => {
      await db.exec(`INSERT INTO xorm_user (username, password_hash, labels) VALUES ('erin', ${lit(await testHash("erin-password"))}, NULL)`);
      const login = async () => {
        const res = await fetch(`${s.url}/auth?service=registry&offline_token=true&client_id=docker&scope=repository:erin/app:pull`, { headers: { authorization: `Basic ${Buffer.from("erin:erin-password").toString("base64")}` } });
        const body = (await res.json()) as { refresh_token?: string };
        assert.equal(res.status, 200);
        return body.refresh_token!;
      };
      const refresh = async (rt: string) => {
        const res = await fetch(`${s.url}/auth`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: rt, service: "registry", client_id: "docker", scope: "repository:erin/app:push" }).toString(),
        });
        return { status: res.status, text: await res.text() };
      };
      const first = await login();
      assert.equal((await refresh(first)).status, 200);
      await db.exec(`UPDATE xorm_user SET password_hash = ${lit(await testHash("erin-new-password"))} WHERE username = 'erin'`);
      const changed = await refresh(first);
      assert.equal(changed.status, 400, changed.text);
      assert.match(changed.text, /invalid_grant/);
      await db.exec(`UPDATE xorm_user SET password_hash = ${lit(await testHash("erin-password"))} WHERE username = 'erin'`);
      const second = await login();
      await db.exec("DELETE FROM xorm_user WHERE username = 'erin'");
      const gone = await refresh(second);
      assert.equal(gone.status, 400, gone.text);
      assert.match(gone.text, /no longer exists in xorm_auth/);
    });

    test("a labels column that is not a JSON object of lists is a clear 503, not a login", async () => {
      await db.exec(`INSERT INTO xorm_user (username, password_hash, labels) VALUES ('dave', '${await testHash("dave-password")}', 'not json')`);
      const a = await token(s, "dave", "dave-password", "repository:dave/app:pull");
      assert.equal(a.status, 503, a.text);
      assert.match(a.text, /xorm_auth/);
    });

    if (label !== "SQLite") {
      test("database down: users get a clear 503, the cached ACL keeps serving, and both recover", async () => {
        await db.stop!();
        try {
          const a = await token(s, "alice", PASSWORDS.alice, "repository:alice/app:pull");
          assert.equal(a.status, 503, a.text);
          assert.match(a.text, /xorm_auth: the user database cannot be used right now; try again later/);
          assert.ok(!a.text.includes("127.0.0.1"), a.text);
          // The robot is a static user; its decision comes from the ACL read before the outage.
          assert.deepEqual(await granted(s, "robot", "repository:robot/app:push"), ["push"]);
          const r = await fetch(`${s.url}/readyz`);
          const body = (await r.json()) as { backends: Record<string, { ok: boolean }> };
          assert.equal(r.status, 503);
          assert.equal(body.backends["xorm_auth"]?.ok, false);
          assert.equal(body.backends["acl_xorm"]?.ok, true);
          await eventually(async () => assert.match(s.logs(), /ACL reload failed; the last good ACL stays in use/), 20_000);
        } finally {
          await db.start!();
        }
        await eventually(async () => assert.deepEqual(await granted(s, "alice", "repository:alice/app:pull"), ["pull"]), 30_000);
        await eventually(async () => assert.equal((await fetch(`${s.url}/readyz`)).status, 200), 30_000);
      });

      test("a database that hangs: the login fails with a 503 within query_timeout, not never; it recovers", async () => {
        const quick = await serve(configText(db, robotHash).replace(`xorm_auth: {database_type: ${db.type}, conn_string: ${JSON.stringify(db.conn)}}`, `xorm_auth: {database_type: ${db.type}, conn_string: ${JSON.stringify(db.conn)}, query_timeout: 1s, connect_timeout: 1s}`));
        try {
          assert.deepEqual((await token(quick, "alice", PASSWORDS.alice, "repository:alice/app:pull")).actions, ["pull"]);
          await db.pause!();
          try {
            const started = Date.now();
            const a = await token(quick, "alice", PASSWORDS.alice, "repository:alice/app:pull");
            assert.equal(a.status, 503, a.text);
            assert.match(a.text, /xorm_auth: the user database cannot be used right now/);
            // An answer, not a hang (a generous bound, not a timing test); the log says the timeout ended it.
            assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
            await eventually(async () => assert.match(quick.logs(), /"level":"error"[^\n]*"backend":"xorm_auth"[^\n]*timeout/i));
          } finally {
            await db.resume!();
          }
          await eventually(async () => assert.deepEqual((await token(quick, "alice", PASSWORDS.alice, "repository:alice/app:pull")).actions, ["pull"]), 20_000);
        } finally {
          await quick.close();
        }
      });

      test("a database that cannot be reached at start is refused with the section's name", async () => {
        await db.stop!();
        try {
          await assert.rejects(
            serve(configText(db, robotHash)),
            (e: Error) => e instanceof ConfigError && /xorm_auth.*cannot reach/s.test(e.message) && !e.message.includes("secret-db-password"),
          );
        } finally {
          await db.start!();
        }
      });
    }
  });
}

xormSuite("SQLite", undefined, async () => {
  const file = join(dir, "users.db");
  // The test's own connection; the server opens the file in a worker thread.
  let handle: Database.Database | undefined;
  const conn = () => (handle ??= new Database(file));
  return {
    type: "sqlite3",
    conn: file,
    exec: async (sql) => void conn().exec(sql),
    close: async () => void handle?.close(),
  };
});

const pgSkip = await skipWithoutPostgres();
xormSuite("PostgreSQL", pgSkip, async () => {
  const server: RunningPostgres = await startPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query("CREATE ROLE regauth LOGIN PASSWORD 'secret-db-password'");
  await admin.query("CREATE DATABASE registry OWNER regauth");
  await admin.end();
  const url = server.url.replace("postgres@", "regauth:secret-db-password@").replace(/\/postgres$/, "/registry");
  return {
    type: "postgres",
    conn: `${url}?sslmode=disable&connect_timeout=2`,
    async exec(sql) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    },
    stop: () => server.stop(),
    start: () => server.start(),
    pause: () => server.pause(),
    resume: () => server.resume(),
    close: () => server.destroy(),
  };
});

const mariadbSkip = await skipWithoutMariadb();
xormSuite("MariaDB", mariadbSkip, async () => {
  const server: RunningMariadb = await startMariadb();
  await server.sql("CREATE DATABASE registry; CREATE USER 'regauth'@'127.0.0.1' IDENTIFIED BY 'secret-db-password'; GRANT ALL ON registry.* TO 'regauth'@'127.0.0.1';");
  return {
    type: "mysql",
    conn: `regauth:secret-db-password@tcp(127.0.0.1:${server.port})/registry?timeout=2s`,
    exec: async (sql) => void (await server.sql(sql, "registry")),
    stop: () => server.stop(),
    start: () => server.start(),
    pause: () => server.pause(),
    resume: () => server.resume(),
    close: () => server.destroy(),
  };
});

describe("xorm_auth on PostgreSQL over TLS (lib/pq's sslmode)", { skip: pgSkip }, () => {
  let server: RunningPostgres;
  let robotHash: string;
  before(async () => {
    if (pgSkip) return;
    server = await startPostgres({ tls: true });
    robotHash = await testHash(PASSWORDS.robot);
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    await c.query(await readFile(new URL("../../../schema/xorm/postgres.sql", import.meta.url), "utf8"));
    await c.query("INSERT INTO xorm_user (username, password_hash, labels) VALUES ($1, $2, NULL)", ["alice", await testHash(PASSWORDS.alice)]);
    await c.query("INSERT INTO xorm_acl_entry (seq, acl_entry) VALUES (1, $1)", ['{"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"]}']);
    await c.end();
  });
  after(async () => {
    await server?.destroy();
  });
  const tlsConfig = (conn: string, extra = "") => {
    const section = `{database_type: postgres, conn_string: ${JSON.stringify(conn)}${extra}}`;
    return `
server: {addr: "127.0.0.1:0"}
token: {issuer: "xorm-tls", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  robot: {password: "${robotHash}"}
xorm_auth: ${section}
acl_xorm: ${section}
`;
  };
  const signsIn = async (text: string) => {
    const s = await serve(text);
    try {
      const a = await token(s, "alice", PASSWORDS.alice, "repository:alice/app:push");
      assert.deepEqual([a.status, a.actions], [200, ["push"]], a.text);
    } finally {
      await s.close();
    }
  };

  test("verify-full with tls_ca_file, and with sslrootcert in the string, checks the certificate and works", async () => {
    await signsIn(tlsConfig(`${server.url}?sslmode=verify-full`, `, tls_ca_file: ${JSON.stringify(server.caFile)}`));
    await signsIn(tlsConfig(`${server.url}?sslmode=verify-full&sslrootcert=${server.caFile}`));
  });

  test("require (lib/pq's default) encrypts without checking, as lib/pq does", async () => {
    await signsIn(tlsConfig(server.url));
  });

  test("verify-full against a certificate no configured CA signed is refused at start, saying why", async () => {
    await assert.rejects(serve(tlsConfig(`${server.url}?sslmode=verify-full`)), (e: Error) => e instanceof ConfigError && /xorm_auth.*cannot reach postgres 127\.0\.0\.1.*self-signed certificate/s.test(e.message));
  });
});

describe("xorm_auth on MariaDB over TLS (go-sql-driver's tls=)", { skip: mariadbSkip }, () => {
  let server: RunningMariadb;
  let text: (dsn: string, extra?: string) => string;
  before(async () => {
    if (mariadbSkip) return;
    server = await startMariadb({ tls: true });
    await server.sql("CREATE DATABASE registry");
    await server.sql(`${await readFile(new URL("../../../schema/xorm/mysql.sql", import.meta.url), "utf8")}
INSERT INTO xorm_user (username, password_hash) VALUES ('alice', '${await testHash(PASSWORDS.alice)}');`, "registry");
    const robotHash = await testHash(PASSWORDS.robot);
    text = (dsn, extra = "") => `
server: {addr: "127.0.0.1:0"}
token: {issuer: "xorm-tls", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  robot: {password: "${robotHash}"}
acl:
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
xorm_auth: {database_type: mysql, conn_string: ${JSON.stringify(dsn)}${extra}}
`;
  });
  after(async () => {
    await server?.destroy();
  });

  test("tls=true with tls_ca_file verifies the server and works; tls=skip-verify works without a CA", async () => {
    for (const [dsn, extra] of [
      [server.dsn("registry") + "?tls=true", `, tls_ca_file: ${JSON.stringify(server.caFile)}`],
      [server.dsn("registry") + "?tls=skip-verify", ""],
    ] as const) {
      const s = await serve(text(dsn, extra));
      try {
        const a = await token(s, "alice", PASSWORDS.alice, "repository:alice/app:push");
        assert.deepEqual([a.status, a.actions], [200, ["push"]], a.text);
      } finally {
        await s.close();
      }
    }
  });

  test("tls=true against a certificate no configured CA signed is refused at start", async () => {
    await assert.rejects(serve(text(server.dsn("registry") + "?tls=true")), (e: Error) => e instanceof ConfigError && /xorm_auth.*cannot reach mysql 127\.0\.0\.1.*(self-signed|certificate)/s.test(e.message));
  });
});
