import { parentPort } from "node:worker_threads";

/**
 * The message loop of a worker thread that owns a SQLite database (better-sqlite3 is
 * synchronous, and the event loop must never wait on a disk). Requests come in as
 * { id, op, ... }, answers go back as { id, ok, value } or { id, ok: false, error }, which
 * is what ThreadCalls sends and expects. `op: "close"` closes the database.
 */
export function serveSqliteRequests<D extends { close(): void }, M extends { id: number; op: string }>(open: () => D, run: (db: D, m: M) => unknown): void {
  let db: D | undefined;
  parentPort!.on("message", (m: M) => {
    try {
      if (m.op === "close") {
        db?.close();
        db = undefined;
        parentPort!.postMessage({ id: m.id, ok: true });
        return;
      }
      // Opened on first use and again after the file failed: a file that appears later, a data
      // directory made writable or a disk with room again works without a restart.
      db ??= open();
      parentPort!.postMessage({ id: m.id, ok: true, value: run(db, m) });
    } catch (e) {
      const err = e as Error & { code?: string };
      if (db && /SQLITE_(CORRUPT|NOTADB|IOERR|CANTOPEN)/.test(err.code ?? "")) {
        const broken = db;
        db = undefined;
        try {
          broken.close();
        } catch {
          // A broken handle may fail to close too; it is dropped either way.
        }
      }
      parentPort!.postMessage({ id: m.id, ok: false, error: err.code ? `${err.code}: ${err.message}` : err.message });
    }
  });
}
