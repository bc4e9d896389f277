// The thread that owns the token store's SQLite file; requests are { id, op, args }, a
// method of SqliteCredentials and its arguments.
import { workerData } from "node:worker_threads";
import { serveSqliteRequests } from "../../runtime/sqlite-worker-loop.js";
import { SqliteCredentials } from "./sqlite-credentials.js";

type Op = "put" | "get" | "touch" | "list" | "revoke" | "purge" | "hit" | "resetHits" | "amend" | "ping";

const path = (workerData as { path: string }).path;

serveSqliteRequests(
  () => new SqliteCredentials(path),
  (db, m: { id: number; op: Op; args: unknown[] }) => (db[m.op] as (...a: unknown[]) => unknown).apply(db, m.args),
);
