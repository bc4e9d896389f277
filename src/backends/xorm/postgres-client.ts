import pg from "pg";
import type { PostgresTarget } from "./conn-string.js";
import type { Row, SqlClient, SqlClientOptions } from "./sql-client.js";

/** `?` → `$1, $2, ...`: the queries here are fixed text with no `?` inside literals. */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** PostgreSQL through node-postgres' pool, with lib/pq's TLS modes. */
export class PostgresClient implements SqlClient {
  readonly #pool: pg.Pool;

  constructor(
    t: PostgresTarget,
    readonly description: string,
    o: SqlClientOptions,
  ) {
    // lib/pq: require encrypts without checking the certificate (unless a root cert is named,
    // sslrootcert or tls_ca_file, then it is verify-ca); verify-ca checks the chain; verify-full checks the name too.
    const verify = t.sslmode === "verify-full" || t.sslmode === "verify-ca" || (t.sslmode === "require" && o.ca !== undefined);
    const ssl =
      t.sslmode === "disable"
        ? false
        : { rejectUnauthorized: verify, ca: o.ca, ...(t.sslmode !== "verify-full" && verify ? { checkServerIdentity: () => undefined } : {}) };
    this.#pool = new pg.Pool({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      ssl,
      connectionTimeoutMillis: t.connectTimeoutMs ?? o.connectTimeoutMs,
      query_timeout: o.queryTimeoutMs,
      max: o.maxConnections,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection that the server drops (a restart) is reported here; without a
    // listener it would end the process. The next query opens a new one.
    this.#pool.on("error", (e) => o.log.warn({ database: description, reason: e.message }, "database connection lost; reconnecting on next use"));
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    const r = await this.#pool.query(numbered(sql), params as unknown[]);
    return r.rows as Row[];
  }

  async script(sql: string): Promise<void> {
    await this.#pool.query(sql);
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
