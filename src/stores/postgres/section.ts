import { readCaFile } from "../../config/ca-file.js";
import { optInt, optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { Secret } from "../../secret.js";

export const postgresShape = {
  /** `postgres://user@host:5432/database`; `?sslmode=require|verify-ca|verify-full|disable` optional. */
  url: optText,
  password_file: optText,
  password_env: optText,
  /** Put before the table names, so that several deployments can share one database. */
  table_prefix: optText,
  /** Most connections open at once (per regauth process). */
  pool_size: optInt,
  /** PEM CA bundle that signed the server's certificate; implies sslmode=verify-full unless the url says otherwise. */
  tls_ca_file: optText,
};

export interface RawPostgresStore {
  url?: string;
  password_file?: string;
  password_env?: string;
  table_prefix?: string;
  pool_size?: number;
  tls_ca_file?: string;
}

export interface PostgresTls {
  /** PEM; absent: the system's CAs. */
  ca?: string;
  /** Check the certificate chain (verify-ca, verify-full); `require` encrypts only, as libpq's does without a CA. */
  verifyChain: boolean;
  /** Check that the certificate names the host (verify-full). */
  verifyHost: boolean;
}

export interface PostgresStoreConfig {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: Secret;
  tls?: PostgresTls;
  tablePrefix: string;
  poolSize: number;
  /** For messages and logs: the address without any password. */
  address: string;
}

const AT = ["token_store", "postgres"] as const;
const at = (...k: (string | number)[]) => [...AT, ...k];

export const POSTGRES_DEFAULTS = { tablePrefix: "regauth_", poolSize: 10 } as const;
const PREFIX = /^[a-z_][a-z0-9_]{0,30}$/;
const SSLMODES = ["disable", "require", "verify-ca", "verify-full"] as const;
type SslMode = (typeof SSLMODES)[number];

export async function buildPostgres(raw: RawPostgresStore | undefined, ctx: SectionContext): Promise<PostgresStoreConfig> {
  const r = raw ?? {};
  const config: PostgresStoreConfig = {
    host: "",
    port: 5432,
    user: "",
    database: "",
    tablePrefix: r.table_prefix ?? POSTGRES_DEFAULTS.tablePrefix,
    poolSize: r.pool_size ?? POSTGRES_DEFAULTS.poolSize,
    address: "",
  };
  let urlPassword: string | undefined;
  let sslmode: SslMode | undefined;
  if (r.url === undefined) ctx.add(AT, "url is required: postgres://user@host:5432/database");
  else {
    const u = parsePostgresUrl(r.url);
    if (typeof u === "string") ctx.add(at("url"), u);
    else {
      Object.assign(config, { host: u.host, port: u.port, user: u.user, database: u.database, address: u.address });
      urlPassword = u.password;
      sslmode = u.sslmode;
    }
  }

  const sources = [urlPassword !== undefined && "a password in url", r.password_file !== undefined && "password_file", r.password_env !== undefined && "password_env"].filter(Boolean);
  if (sources.length > 1) ctx.add(at(r.password_env !== undefined ? "password_env" : "password_file"), `set the password in one place only (${sources.join(" and ")} are set)`);
  else if (urlPassword !== undefined) config.password = new Secret(urlPassword);
  else if (r.password_file !== undefined || r.password_env !== undefined) {
    const key = r.password_file !== undefined ? "password_file" : "password_env";
    const pw = await ctx.readSecret(at(key), r.password_file, r.password_env);
    if (pw === "") ctx.add(at(key), "the password is empty; leave password_file and password_env out if the server needs no password");
    else if (pw !== undefined) config.password = new Secret(pw);
  }

  if (!PREFIX.test(config.tablePrefix))
    ctx.add(at("table_prefix"), `"${config.tablePrefix}" cannot start a table name: use lower-case letters, digits and _ (not first: a digit), at most 31 characters, e.g. "${POSTGRES_DEFAULTS.tablePrefix}"`);
  if (!Number.isInteger(config.poolSize) || config.poolSize < 1 || config.poolSize > 1000) ctx.add(at("pool_size"), "must be between 1 and 1000");

  let ca: string | undefined;
  if (r.tls_ca_file !== undefined) {
    if (sslmode === "disable") ctx.add(at("tls_ca_file"), "is not used with sslmode=disable: remove one of them");
    else ca = await readCaFile(ctx, at("tls_ca_file"), r.tls_ca_file);
    sslmode ??= "verify-full";
  }
  if (sslmode && sslmode !== "disable") config.tls = { ...(ca ? { ca } : {}), verifyChain: sslmode !== "require" || ca !== undefined, verifyHost: sslmode === "verify-full" };
  return config;
}

interface ParsedUrl {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  sslmode?: SslMode;
  address: string;
}

/** A postgres:// URL, or why it is not one (never echoing a password). */
export function parsePostgresUrl(text: string): ParsedUrl | string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return "must be a URL such as postgres://regauth@db.example.com:5432/regauth";
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") return `must start with postgres:// (or postgresql://), not ${u.protocol}//`;
  if (!u.hostname) return "names no host: write postgres://user@host:5432/database";
  if (!u.username) return "names no user: write postgres://user@host:5432/database";
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) return "names no database: write postgres://user@host:5432/database";
  let sslmode: SslMode | undefined;
  for (const [k, v] of u.searchParams) {
    if (k !== "sslmode") return `?${k} is not supported: the only option in the url is sslmode (${SSLMODES.join(", ")}); the others are keys of token_store.postgres`;
    if (!(SSLMODES as readonly string[]).includes(v)) return `sslmode=${v} is not supported: use ${SSLMODES.join(", ")}`;
    sslmode = v as SslMode;
  }
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 5432;
  const user = decodeURIComponent(u.username);
  return {
    host,
    port,
    user,
    database,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    sslmode,
    address: `postgres://${u.username}@${u.hostname}:${port}/${u.pathname.replace(/^\//, "")}`,
  };
}

