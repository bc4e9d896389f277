// The thread that owns a SQLite database for the SQL backends (xorm_auth, acl_xorm).
import { workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { serveSqliteRequests } from "../../runtime/sqlite-worker-loop.js";

const { path, readOnly, create } = workerData as { path: string; readOnly: boolean; create: boolean };

serveSqliteRequests(
  // Created only by `regauth db init`: for a server, a missing file is an error, not an empty user table.
  () => new Database(path, { readonly: readOnly && !create, fileMustExist: !create, timeout: 5000 }),
  (db, m: { id: number; op: "all" | "script"; sql: string; params?: unknown[] }) => {
    if (m.op === "script") return void db.exec(m.sql);
    return db.prepare(m.sql).all(...(m.params ?? []));
  },
);
