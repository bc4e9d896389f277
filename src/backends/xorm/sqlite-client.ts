import { ThreadCalls } from "../../runtime/thread-calls.js";
import type { SqliteTarget } from "./conn-string.js";
import type { Row, SqlClient, SqlClientOptions } from "./sql-client.js";

/** A SQLite file, owned by a worker thread (see sqlite-query-worker.ts). */
export class SqliteClient implements SqlClient {
  readonly #thread: ThreadCalls;

  constructor(
    t: SqliteTarget,
    readonly description: string,
    o: SqlClientOptions,
  ) {
    this.#thread = new ThreadCalls(new URL("./sqlite-query-worker.js", import.meta.url), { path: t.path, readOnly: t.readOnly, create: o.create === true }, (why) => new Error(why), o.log, { database: description });
  }

  query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#thread.call<Row[]>({ op: "all", sql, params });
  }

  async script(sql: string): Promise<void> {
    await this.#thread.call({ op: "script", sql });
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}
