// xorm_auth / acl_xorm sections: docker_auth's conn_string forms for each database, regauth's
// additions, and the problems reported at load (with the key, never the password).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ConnStringError, describeTarget, parseMysqlDsn, parsePostgresConnString, parseSqlitePath } from "../../src/backends/xorm/conn-string.js";
import type { AclXormConfig, XormConfig } from "../../src/backends/xorm/section.js";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

describe("MySQL DSN (go-sql-driver/mysql)", () => {
  test("user, password, tcp address, database and parameters", () => {
    assert.deepEqual(parseMysqlDsn("regauth:pw@tcp(db.example:3307)/registry?charset=utf8mb4,utf8&timeout=3s&parseTime=true"), {
      type: "mysql",
      host: "db.example",
      port: 3307,
      tls: "false",
      user: "regauth",
      password: "pw",
      database: "registry",
      charset: "utf8mb4",
      connectTimeoutMs: 3000,
    });
  });

  test("a password may hold @, : and /: the last @ before the last / ends it", () => {
    const t = parseMysqlDsn("u:p@ss:w/rd@tcp(127.0.0.1)/db");
    assert.equal(t.user, "u");
    assert.equal(t.password, "p@ss:w/rd");
    assert.equal(t.port, 3306);
    assert.equal(t.database, "db");
  });

  test("defaults, unix sockets, IPv6 and mysql:// URLs", () => {
    assert.deepEqual(parseMysqlDsn("/registry"), { type: "mysql", host: "127.0.0.1", port: 3306, tls: "false", database: "registry" });
    assert.equal(parseMysqlDsn("root@unix(/run/mysqld/mysqld.sock)/db").socketPath, "/run/mysqld/mysqld.sock");
    assert.deepEqual([parseMysqlDsn("u@tcp([::1]:3308)/db").host, parseMysqlDsn("u@tcp([::1]:3308)/db").port], ["::1", 3308]);
    const u = parseMysqlDsn("mysql://u:p%40w@db:3310/reg?tls=skip-verify");
    assert.deepEqual([u.host, u.port, u.user, u.password, u.database, u.tls], ["db", 3310, "u", "p@w", "reg", "skip-verify"]);
  });

  test("what cannot be read is refused with a reason that does not quote the password", () => {
    for (const [dsn, reason] of [
      ["u:secretpw@tcp(db:3306)", /"\/database" part is missing/],
      ["u:secretpw@udp(db)/x", /tcp or unix, not "udp"/],
      ["u:secretpw@tcp(db)/x?tls=custom", /tls=custom: use true, false, skip-verify or preferred/],
      ["u:secretpw@tcp(db)/x?timeout=soon", /timeout=soon is not a duration/],
    ] as const) {
      assert.throws(
        () => parseMysqlDsn(dsn),
        (e: Error) => e instanceof ConnStringError && reason.test(e.message) && !e.message.includes("secretpw"),
        dsn,
      );
    }
  });
});

describe("PostgreSQL conn_string (lib/pq)", () => {
  test("a URL, with lib/pq's default sslmode=require", () => {
    assert.deepEqual(parsePostgresConnString("postgres://reg:p%20w@db.example:5433/registry?connect_timeout=4&application_name=x"), {
      type: "postgres",
      sslmode: "require",
      host: "db.example",
      port: 5433,
      user: "reg",
      password: "p w",
      database: "registry",
      connectTimeoutMs: 4000,
    });
  });

  test("key=value pairs with quoting and escapes", () => {
    const t = parsePostgresConnString(`host=db port=5432 user=reg password='it\\'s a secret' dbname=registry sslmode=verify-full sslrootcert=/etc/ca.pem`);
    assert.deepEqual(t, { type: "postgres", sslmode: "verify-full", host: "db", port: 5432, user: "reg", password: "it's a secret", database: "registry", sslrootcert: "/etc/ca.pem" });
  });

  test("libpq-only sslmodes and broken pairs are refused", () => {
    assert.throws(() => parsePostgresConnString("host=db sslmode=prefer"), /sslmode=prefer is libpq's; lib\/pq .* takes disable, require, verify-ca or verify-full/);
    assert.throws(() => parsePostgresConnString("host=db password='open"), /quoted value of password is not closed/);
    assert.throws(() => parsePostgresConnString("host db"), /needs "=" after "host"/);
    assert.throws(() => parsePostgresConnString("port=http"), /port=http is not a port number/);
  });
});

describe("SQLite conn_string (mattn/go-sqlite3)", () => {
  test("a path, or a file: URI with mode=ro", () => {
    assert.deepEqual(parseSqlitePath("/var/lib/regauth/users.db"), { type: "sqlite3", path: "/var/lib/regauth/users.db", readOnly: false });
    assert.deepEqual(parseSqlitePath("file:users.db?mode=ro&cache=shared"), { type: "sqlite3", path: "users.db", readOnly: true });
    assert.throws(() => parseSqlitePath(":memory:"), /in-memory database would be empty/);
  });

  test("targets are described without credentials", () => {
    assert.equal(describeTarget(parseMysqlDsn("u:secretpw@tcp(db:3306)/reg")), "mysql db:3306/reg");
    assert.equal(describeTarget(parsePostgresConnString("postgres://u:secretpw@db/reg")), "postgres db:5432/reg");
  });
});

describe("the xorm sections at load", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-xorm-config-"));
    await writeFile(join(dir, "dsn"), "reg:from-file@tcp(db:3306)/registry\n");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const load = (lines: string[]) => loadSection(dir, lines);
  const issues = (lines: string[]) => sectionIssues(dir, lines);

  test("docker_auth's sections as written, with the defaults regauth adds", async () => {
    const cfg = await load([
      "xorm_auth:",
      "  database_type: mysql",
      '  conn_string: "reg:pw@tcp(db:3306)/registry"',
      "acl_xorm:",
      "  database_type: sqlite3",
      "  conn_string: acl.db",
      "  cache_ttl: 30s",
    ]);
    const authn = cfg.sections.get("xorm_auth") as XormConfig;
    assert.equal(authn.description, "mysql db:3306/registry");
    assert.deepEqual([authn.queryTimeoutMs, authn.connectTimeoutMs, authn.maxConnections], [5000, 5000, 10]);
    const acl = cfg.sections.get("acl_xorm") as AclXormConfig;
    assert.equal(acl.cacheTtlMs, 30_000);
    assert.deepEqual(acl.target, { type: "sqlite3", path: join(dir, "acl.db"), readOnly: false });
  });

  test("docker_auth's reference.yml sections, as written there", async () => {
    const cfg = await load([
      "xorm_auth:",
      '  database_type: "mysql"',
      '  conn_string: "username:password@/database_name?charset=utf8"',
      "acl_xorm:",
      '  database_type: "mysql"',
      '  conn_string: "username:password@/database_name?charset=utf8"',
      '  cache_ttl: "1m"',
    ]);
    const c = cfg.sections.get("acl_xorm") as AclXormConfig;
    assert.deepEqual(c.target, { type: "mysql", host: "127.0.0.1", port: 3306, tls: "false", user: "username", password: "password", database: "database_name", charset: "utf8" });
    assert.equal(c.cacheTtlMs, 60_000);
  });

  test("the connection string from a file keeps its password out of the config", async () => {
    const cfg = await load(["acl: []", "xorm_auth:", "  database_type: mysql", `  conn_string_file: ${join(dir, "dsn")}`, "  max_connections: 3", "  query_timeout: 2s"]);
    const c = cfg.sections.get("xorm_auth") as XormConfig;
    assert.equal(c.target.type === "mysql" && c.target.password, "from-file");
    assert.deepEqual([c.maxConnections, c.queryTimeoutMs], [3, 2000]);
  });

  test("problems are reported with their key, and never quote the password", async () => {
    const found = await issues([
      "xorm_auth:",
      "  database_type: oracle",
      '  conn_string: "u:topsecret@tcp(db)"',
      "acl_xorm:",
      "  database_type: postgres",
      '  conn_string: "postgres://u:topsecret@db/reg?sslmode=prefer"',
      "  conn_string_env: PG_DSN",
      "  max_connections: 0",
      "  cache_ttl: often",
    ]);
    const byKey = (k: string) => found.filter((i) => i.key === k).map((i) => i.message);
    assert.match(byKey("xorm_auth.database_type").join(), /"oracle" is not one of mysql, postgres, sqlite3/);
    assert.match(byKey("acl_xorm.conn_string_env").join(), /set the connection string in one place only/);
    assert.match(byKey("acl_xorm.max_connections").join(), /between 1 and 1000/);
    assert.ok(byKey("acl_xorm.cache_ttl").length > 0, JSON.stringify(found));
    assert.ok(found.every((i) => !i.message.includes("topsecret")), JSON.stringify(found));
    assert.ok(found.every((i) => i.line !== undefined), "every problem has its line");
  });

  test("a missing database_type or conn_string is named", async () => {
    const found = await issues(["xorm_auth:", "  max_connections: 2"]);
    assert.ok(found.some((i) => i.key === "xorm_auth" && /database_type is required/.test(i.message)));
    assert.ok(found.some((i) => i.key === "xorm_auth" && /conn_string is required/.test(i.message)));
  });

  test("tls_ca_file is refused for SQLite", async () => {
    const found = await issues(["xorm_auth:", "  database_type: sqlite3", "  conn_string: u.db", "  tls_ca_file: /etc/ca.pem"]);
    assert.match(found.map((i) => `${i.key}: ${i.message}`).join(), /xorm_auth.tls_ca_file: is for mysql and postgres/);
  });
});
