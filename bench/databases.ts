// The database cases of `npm run bench`: a database user (bcrypt-10, labels) pushing through an
// ACL read from the same database (${labels:group}), with the verified-credential cache on and
// off, for PostgreSQL, MariaDB, SQLite (xorm_auth + acl_xorm) and MongoDB (mongo_auth +
// acl_mongo, on the wire-protocol stand-in: no MongoDB server can run here, so its numbers
// measure regauth and the driver, not mongod). The servers are pinned with the load generator
// (`cpus`) so that the server's core is the server's alone. bench/run.ts runs them with the others.
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { hashPassword } from "../src/authn/bcrypt.js";
import type { Case } from "./cases.js";
import { mariadbMissing, startMariadb } from "../test/helpers/mariadb.js";
import { postgresMissing, startPostgres } from "../test/helpers/postgres.js";

const run = promisify(execFile);

export interface DatabaseBench {
  cases: Case[];
  notes: string[];
  pids: number[];
  stop(): Promise<void>;
}

const USER = "alice";
const FAST = "robot4";
const PASSWORD = "bench-password";
const LABELS = '{"group": ["bench"]}';
const ENTRY = '{"match": {"name": "${labels:group}/*"}, "actions": ["pull", "push"]}';

async function pin(pattern: string, cpus: string): Promise<number[]> {
  const pids = (await run("pgrep", ["-f", pattern]).then((r) => r.stdout, () => "")).split("\n").filter(Boolean).map(Number);
  for (const pid of pids) await run("taskset", ["-a", "-p", "-c", cpus, String(pid)]).catch(() => {});
  return pids;
}

/** Start the databases whose cases BENCH_ONLY selects, seed them, and describe the cases. */
export async function databaseBench(dir: string, only: string | undefined, cpus: string): Promise<DatabaseBench> {
  const out: DatabaseBench = { cases: [], notes: [], pids: [], stop: async () => {} };
  const stops: (() => Promise<void>)[] = [];
  const hash = await hashPassword(PASSWORD, 10);
  // A second user at bcrypt cost 4: with the cache off its logins show the database round trip, not bcrypt-10.
  const fastHash = await hashPassword(PASSWORD, 4);
  const schema = async (type: string) => (await import("node:fs/promises")).readFile(new URL(`../../schema/xorm/${type}.sql`, import.meta.url), "utf8");
  const seedSql = `INSERT INTO xorm_user (username, password_hash, labels) VALUES ('${USER}', '${hash}', '${LABELS}'), ('${FAST}', '${fastHash}', '${LABELS}');
INSERT INTO xorm_acl_entry (seq, acl_entry) VALUES (10, '${ENTRY}');`;
  const add = (id: string, label: string, section: string) => {
    const common = {
      keyType: "ec" as const,
      connections: 32,
      expect: 200,
      allCores: false,
      // A static robot first and a static ACL that does not decide: the database decides, as in a real setup.
      users: `  ci-robot: {password: "${hash}"}`,
      acl: '  - match: {account: "ci-robot"}\n    actions: ["pull"]',
      path: "/auth?service=bench&scope=repository:bench/app:pull,push",
      auth: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`,
      peer: false,
    };
    out.cases.push(
      { ...common, id: `db-${id}-cached`, name: `${label} user + ACL, cache on, ES256`, extra: section },
      { ...common, id: `db-${id}-uncached`, name: `${label} user + ACL, cache off, ES256`, extra: `${section}\ncredential_cache: {ttl_seconds: 0}` },
      {
        ...common,
        id: `db-${id}-bcrypt4`,
        name: `${label} bcrypt-4 user + ACL, cache off, ES256`,
        auth: `Basic ${Buffer.from(`${FAST}:${PASSWORD}`).toString("base64")}`,
        extra: `${section}\ncredential_cache: {ttl_seconds: 0}`,
      },
    );
  };
  const wanted = (id: string) => !only || `db-${id}-cached db-${id}-uncached db-${id}-bcrypt4`.includes(only);
  const xorm = (type: string, conn: string) => `xorm_auth: {database_type: ${type}, conn_string: "${conn}"}\nacl_xorm: {database_type: ${type}, conn_string: "${conn}", cache_ttl: 1m}`;

  if (wanted("postgres")) {
    const missing = await postgresMissing();
    if (missing) out.notes.push(`PostgreSQL database cases skipped: ${missing}`);
    else {
      const db = await startPostgres();
      stops.push(() => db.destroy());
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(await schema("postgres"));
      await c.query(seedSql);
      await c.end();
      out.pids.push(...(await pin(`postgres.*-p ${db.port}`, cpus)));
      add("postgres", "PostgreSQL", xorm("postgres", `${db.url}?sslmode=disable`));
    }
  }
  if (wanted("mariadb")) {
    const missing = await mariadbMissing();
    if (missing) out.notes.push(`MariaDB database cases skipped: ${missing}`);
    else {
      const db = await startMariadb();
      stops.push(() => db.destroy());
      await db.sql("CREATE DATABASE registry");
      await db.sql(`${await schema("mysql")}\n${seedSql}`, "registry");
      out.pids.push(...(await pin(`mariadbd.*--port=${db.port}`, cpus)));
      add("mariadb", "MariaDB", xorm("mysql", db.dsn("registry")));
    }
  }
  if (wanted("sqlite")) {
    const file = join(dir, "bench-users.db");
    const db = new Database(file);
    db.exec(`${await schema("sqlite3")}\n${seedSql}`);
    db.close();
    add("sqlite", "SQLite", xorm("sqlite3", file));
  }
  if (wanted("mongo")) {
    const seed = { registry: { users: [
          { username: USER, password: hash, labels: JSON.parse(LABELS) },
          { username: FAST, password: fastHash, labels: JSON.parse(LABELS) },
        ], acl: [{ seq: 10, ...JSON.parse(ENTRY) }] } };
    const child = spawn(process.execPath, [fileURLToPath(new URL("./mongo-process.js", import.meta.url)), JSON.stringify(seed)], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
      child.once("exit", (code) => reject(new Error(`the MongoDB stand-in exited with ${code}`)));
    });
    stops.push(async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    });
    await run("taskset", ["-a", "-p", "-c", cpus, String(child.pid)]);
    out.pids.push(child.pid!);
    const dial = `dial_info: {addrs: ["127.0.0.1:${port}"], database: registry, timeout: 5s}`;
    add("mongo", "MongoDB (stand-in)", `mongo_auth: {${dial}, collection: users}\nacl_mongo: {${dial}, collection: acl, cache_ttl: 1m}`);
  }
  out.stop = async () => {
    await Promise.allSettled(stops.map((s) => s()));
  };
  return out;
}
