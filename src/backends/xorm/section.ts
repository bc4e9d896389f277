import type { z } from "zod";
import { readCaFile } from "../../config/ca-file.js";
import { durationMs } from "../../config/duration.js";
import { optDuration, optInt, optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { ConnStringError, DATABASE_TYPES, describeTarget, parseConnString, type DatabaseType, type SqlTarget } from "./conn-string.js";

/** What xorm_auth and acl_xorm share: docker_auth's two keys, and regauth's additions. */
const databaseShape = {
  /** `mysql` (MariaDB too), `postgres` or `sqlite3`. */
  database_type: optText,
  /** As docker_auth takes it: a Go MySQL DSN, a lib/pq URL or key=value string, a SQLite file. */
  conn_string: optText,
  /** regauth addition: read conn_string (it holds a password) from a file. */
  conn_string_file: optText,
  /** regauth addition: read conn_string from an environment variable. */
  conn_string_env: optText,
  /** regauth addition: a PEM CA bundle for TLS to the database. */
  tls_ca_file: optText,
  /** regauth addition: how long a query may take (default 5s). */
  query_timeout: optDuration,
  /** regauth addition: how long opening a connection may take, unless conn_string sets it (default 5s). */
  connect_timeout: optDuration,
  /** regauth addition: most connections open at once per process (default 10). */
  max_connections: optInt,
};

export const xormAuthShape = databaseShape;
export const aclXormShape = {
  ...databaseShape,
  /** How long the ACL read from the table is used before it is read again (docker_auth: required; default here 1m). */
  cache_ttl: optDuration,
};

export type RawXorm = z.infer<z.ZodObject<typeof databaseShape>>;
export type RawAclXorm = z.infer<z.ZodObject<typeof aclXormShape>>;

export interface XormConfig {
  databaseType: DatabaseType;
  target: SqlTarget;
  /** The database without credentials, for logs and messages. */
  description: string;
  ca?: string;
  queryTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
}

export interface AclXormConfig extends XormConfig {
  cacheTtlMs: number;
}

export const XORM_DEFAULTS = { queryTimeoutMs: 5000, connectTimeoutMs: 5000, maxConnections: 10, cacheTtlMs: 60_000 } as const;

const PLACEHOLDER: SqlTarget = { type: "sqlite3", path: "", readOnly: true };

export async function buildXorm(key: string, raw: RawXorm, ctx: SectionContext): Promise<XormConfig> {
  const at = (k: string) => [key, k];
  const type = raw.database_type;
  const config: XormConfig = {
    databaseType: "sqlite3",
    target: PLACEHOLDER,
    description: "",
    queryTimeoutMs: durationMs(ctx, at("query_timeout"), raw.query_timeout, XORM_DEFAULTS.queryTimeoutMs),
    connectTimeoutMs: durationMs(ctx, at("connect_timeout"), raw.connect_timeout, XORM_DEFAULTS.connectTimeoutMs),
    maxConnections: raw.max_connections ?? XORM_DEFAULTS.maxConnections,
  };
  if (type === undefined) ctx.add([key], `database_type is required: ${DATABASE_TYPES.join(", ")}`);
  else if (!(DATABASE_TYPES as readonly string[]).includes(type)) ctx.add(at("database_type"), `"${type}" is not one of ${DATABASE_TYPES.join(", ")} (MariaDB is mysql)`);
  else config.databaseType = type as DatabaseType;

  const sources = (["conn_string", "conn_string_file", "conn_string_env"] as const).filter((k) => raw[k] !== undefined);
  let conn: string | undefined;
  if (sources.length === 0) ctx.add([key], "conn_string is required (or conn_string_file / conn_string_env to keep its password out of the config)");
  else if (sources.length > 1) ctx.add(at(sources[1]!), `set the connection string in one place only (${sources.join(" and ")} are set)`);
  else if (raw.conn_string !== undefined) conn = raw.conn_string;
  else conn = (await ctx.readSecret(at(sources[0]!), raw.conn_string_file, raw.conn_string_env))?.trim();

  if (conn !== undefined && type !== undefined && config.databaseType === type) {
    try {
      const t = parseConnString(config.databaseType, conn);
      // A SQLite file is data the server reads, not config: resolved like a data path, not watched.
      config.target = t.type === "sqlite3" ? { ...t, path: ctx.dataPath(t.path) } : t;
      config.description = describeTarget(config.target);
    } catch (e) {
      if (!(e instanceof ConnStringError)) throw e;
      ctx.add(at(sources[0]!), e.message);
    }
  }
  if (!Number.isInteger(config.maxConnections) || config.maxConnections < 1 || config.maxConnections > 1000) ctx.add(at("max_connections"), "must be between 1 and 1000");
  if (raw.tls_ca_file !== undefined) {
    if (config.target.type === "sqlite3") ctx.add(at("tls_ca_file"), "is for mysql and postgres; a SQLite file has no TLS");
    else config.ca = await readCaFile(ctx, at("tls_ca_file"), raw.tls_ca_file);
  } else if (config.target.type === "postgres" && config.target.sslrootcert !== undefined) {
    // lib/pq's sslrootcert names the CA file inside the connection string: read like tls_ca_file.
    config.ca = await readCaFile(ctx, at(sources[0]!), config.target.sslrootcert);
  }
  return config;
}

export async function buildAclXorm(raw: RawAclXorm, ctx: SectionContext): Promise<AclXormConfig> {
  return { ...(await buildXorm("acl_xorm", raw, ctx)), cacheTtlMs: durationMs(ctx, ["acl_xorm", "cache_ttl"], raw.cache_ttl, XORM_DEFAULTS.cacheTtlMs) };
}
