import type { Logger } from "../../log.js";
import { describeTarget, type SqlTarget } from "./conn-string.js";
import { MysqlClient } from "./mysql-client.js";
import { PostgresClient } from "./postgres-client.js";
import { SqliteClient } from "./sqlite-client.js";

export type Row = Record<string, unknown>;

/**
 * One SQL database, whichever kind: parameterised queries only (`?` placeholders, turned
 * into `$n` for PostgreSQL), through a bounded pool with connect and query timeouts.
 */
export interface SqlClient {
  /** The database without its credentials, for logs and messages. */
  readonly description: string;
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Several statements at once (a schema file); for `regauth db init`, never on a request. */
  script(sql: string): Promise<void>;
  close(): Promise<void>;
}

export interface SqlClientOptions {
  queryTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
  /** A CA bundle for TLS to the database (PEM), when the target asks for verification. */
  ca?: string;
  log: Logger;
  /** SQLite: create the file if missing (`regauth db init` only). */
  create?: boolean;
}

export function openSqlClient(target: SqlTarget, o: SqlClientOptions): SqlClient {
  const description = describeTarget(target);
  if (target.type === "mysql") return new MysqlClient(target, description, o);
  if (target.type === "postgres") return new PostgresClient(target, description, o);
  return new SqliteClient(target, description, o);
}
