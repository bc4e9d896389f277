// The embedded token store on real SQLite files: the shared contract, several processes
// on one file, and a file that cannot be opened until the problem is fixed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { StoreUnavailableError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { SqliteTokenStore } from "../../src/stores/sqlite/sqlite-store.js";
import { credential, storeContract, T0 } from "../helpers/store-contract.js";

const run = promisify(execFile);
let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-sqlite-"));
});
after(() => rm(dir, { recursive: true, force: true }));
const log = createLogger("silent");

describe("sqlite token store", () => {
  storeContract("sqlite", async () => new SqliteTokenStore(join(dir, `c${++n}`, "regauth.db"), log));

  test("two stores on one file (two workers, or the CLI beside a server) see each other's writes at once", async () => {
    const path = join(dir, "shared.db");
    const a = new SqliteTokenStore(path, log);
    const b = new SqliteTokenStore(path, log);
    try {
      const c = credential();
      await a.put(c);
      assert.deepEqual(await b.get(c.id, T0), c);
      assert.equal(await b.revoke({ id: c.id }), 1);
      assert.equal(await a.get(c.id, T0), undefined);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("another process writing the file while this one reads and writes it", async () => {
    const path = join(dir, "procs.db");
    const store = new SqliteTokenStore(path, log);
    try {
      const mine = credential({ account: "mine" });
      await store.put(mine);
      // A second process puts 200 credentials while this one keeps writing: no SQLITE_BUSY reaches either.
      const child = run(process.execPath, [
        "--input-type=module",
        "-e",
        `import { SqliteCredentials } from ${JSON.stringify(new URL("../../src/stores/sqlite/sqlite-credentials.js", import.meta.url).href)};
         const db = new SqliteCredentials(${JSON.stringify(path)});
         for (let i = 0; i < 200; i++) db.put({ id: (1000000 + i).toString(16).padStart(16, "0"), kind: "refresh_token", secretHash: "00".repeat(32), account: "other", method: "static", labels: {}, clientId: "", service: "r", createdAt: ${T0}, lastUsedAt: ${T0}, expiresAt: ${T0 + 3_600_000}, idleUntil: null });
         db.close();`,
      ]);
      for (let i = 0; i < 100; i++) await store.touch(mine.id, T0 + i, null);
      await child;
      assert.equal((await store.list(T0, { account: "other" })).length, 200);
      assert.equal((await store.get(mine.id, T0))?.lastUsedAt, T0 + 99);
    } finally {
      await store.close();
    }
  });

  test("a file that cannot be created fails each call clearly, and works once the cause is fixed, without reopening", async () => {
    const blocked = join(dir, "blocked");
    await writeFile(blocked, "a file where the data directory should be");
    const store = new SqliteTokenStore(join(blocked, "regauth.db"), log);
    try {
      await assert.rejects(store.put(credential()), (e: Error) => {
        assert.ok(e instanceof StoreUnavailableError, String(e));
        assert.match(e.message, /token_store \(sqlite\).*blocked\/regauth\.db/);
        return true;
      });
      const h = await store.health();
      assert.equal(h.ok, false);
      assert.match(h.detail ?? "", /blocked/);
      await rm(blocked);
      await mkdir(blocked);
      const c = credential();
      await store.put(c);
      assert.deepEqual(await store.get(c.id, T0), c);
      assert.deepEqual(await store.health(), { ok: true });
    } finally {
      await store.close();
    }
  });

  test("a schema-1 file (before the proof column) is upgraded in place; its tokens carry no proof", async () => {
    const path = join(dir, "v1.db");
    const v1 = `CREATE TABLE credentials (id TEXT PRIMARY KEY, kind TEXT NOT NULL, secret_hash TEXT NOT NULL, account TEXT NOT NULL, method TEXT NOT NULL, labels TEXT NOT NULL, client_id TEXT NOT NULL, service TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, idle_until INTEGER) STRICT;
      INSERT INTO credentials VALUES ('00000000000000aa', 'refresh_token', '${"0".repeat(64)}', 'old', 'static users', '{}', 'docker', 'r', ${T0}, ${T0}, ${T0 + 3_600_000}, NULL);
      PRAGMA user_version = 1;`;
    await run(process.execPath, ["-e", `const D = require(${JSON.stringify(require_("better-sqlite3"))}); const d = new D(${JSON.stringify(path)}); d.exec(${JSON.stringify(v1)}); d.close();`]);
    const store = new SqliteTokenStore(path, log);
    try {
      const old = await store.get("00000000000000aa", T0);
      assert.equal(old?.account, "old");
      assert.equal(old?.proof, "");
      assert.equal(old?.attachment, "", "schema 1 and 2 rows have nothing attached");
      const c = credential({ proof: "abc", attachment: "sealed" });
      await store.put(c);
      assert.deepEqual(await store.get(c.id, T0), c);
    } finally {
      await store.close();
    }
  });

  test("a file from a newer regauth is refused with the reason, not overwritten", async () => {
    const path = join(dir, "newer.db");
    await run(process.execPath, ["-e", `const D = require(${JSON.stringify(require_("better-sqlite3"))}); const d = new D(${JSON.stringify(path)}); d.pragma("user_version = 99"); d.close();`]);
    const store = new SqliteTokenStore(path, log);
    try {
      await assert.rejects(store.list(T0), /written by a newer regauth \(schema 99/);
    } finally {
      await store.close();
    }
  });
});

function require_(name: string): string {
  return new URL(`../../../node_modules/${name}/lib/index.js`, import.meta.url).pathname;
}
