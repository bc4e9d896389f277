// The thread that owns the SQLite file: better-sqlite3 is synchronous, and the event
// loop must never wait on a disk. Requests come in as { id, op, args }, answers go back
// as { id, ok, value } or { id, ok: false, error }.
import { parentPort, workerData } from "node:worker_threads";
import { SqliteCredentials } from "./sqlite-credentials.js";

type Op = "put" | "get" | "touch" | "list" | "revoke" | "purge" | "hit" | "ping";

const path = (workerData as { path: string }).path;
let db: SqliteCredentials | undefined;

parentPort!.on("message", (m: { id: number; op: Op | "close"; args: unknown[] }) => {
  try {
    if (m.op === "close") {
      db?.close();
      db = undefined;
      parentPort!.postMessage({ id: m.id, ok: true });
      return;
    }
    // Opened on first use and again after a failure: a data directory made writable, or a
    // disk with room again, works without a restart.
    db ??= new SqliteCredentials(path);
    const fn = db[m.op] as (...a: unknown[]) => unknown;
    parentPort!.postMessage({ id: m.id, ok: true, value: fn.apply(db, m.args) });
  } catch (e) {
    const err = e as Error & { code?: string };
    // A file that cannot be opened or is corrupt is reopened on the next call.
    if (db && /SQLITE_(CORRUPT|NOTADB|IOERR|CANTOPEN)/.test(err.code ?? "")) {
      try {
        db.close();
      } catch {}
      db = undefined;
    }
    parentPort!.postMessage({ id: m.id, ok: false, error: err.code ? `${err.code}: ${err.message}` : err.message });
  }
});
