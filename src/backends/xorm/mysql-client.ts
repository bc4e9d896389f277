import { createPool, type Pool, type PoolOptions } from "mysql2/promise";
import type { MysqlTarget } from "./conn-string.js";
import type { Row, SqlClient, SqlClientOptions } from "./sql-client.js";

/** MySQL and MariaDB through mysql2's pool. */
export class MysqlClient implements SqlClient {
  readonly #pool: Pool;
  #scriptPool: Pool | undefined;

  constructor(
    private readonly t: MysqlTarget,
    readonly description: string,
    private readonly o: SqlClientOptions,
  ) {
    this.#pool = createPool(this.#options(false));
  }

  #options(multipleStatements: boolean): PoolOptions {
    const { t, o } = this;
    return {
      host: t.socketPath ? undefined : t.host,
      port: t.socketPath ? undefined : t.port,
      socketPath: t.socketPath,
      user: t.user,
      password: t.password,
      database: t.database,
      charset: t.charset,
      connectTimeout: t.connectTimeoutMs ?? o.connectTimeoutMs,
      // go-sql-driver's `preferred` (TLS when offered, unverified) has no mysql2 equivalent: it is read as skip-verify.
      ssl: t.tls === "false" ? undefined : { rejectUnauthorized: t.tls === "true", ca: o.ca },
      connectionLimit: o.maxConnections,
      // Requests wait for a connection only so long; a stuck database must not pile them up.
      queueLimit: o.maxConnections * 50,
      enableKeepAlive: true,
      multipleStatements,
    };
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    const [rows] = await this.#pool.query({ sql, timeout: this.o.queryTimeoutMs, values: params as unknown[] });
    return rows as Row[];
  }

  async script(sql: string): Promise<void> {
    this.#scriptPool ??= createPool({ ...this.#options(true), connectionLimit: 1 });
    await this.#scriptPool.query({ sql, timeout: this.o.queryTimeoutMs * 10 });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#pool.end(), this.#scriptPool?.end()]);
  }
}
