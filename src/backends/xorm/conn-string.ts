import { parseGoDuration } from "../../config/duration.js";

/** Where and how to reach a SQL database, read from docker_auth's `conn_string`. */
export type SqlTarget = MysqlTarget | PostgresTarget | SqliteTarget;

export interface MysqlTarget {
  type: "mysql";
  host: string;
  port: number;
  socketPath?: string;
  user?: string;
  password?: string;
  database?: string;
  /** go-sql-driver's `tls`: off, on with verification, on without (`skip-verify`), or `preferred`. */
  tls: "false" | "true" | "skip-verify" | "preferred";
  connectTimeoutMs?: number;
  charset?: string;
}

export interface PostgresTarget {
  type: "postgres";
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** lib/pq's modes; lib/pq (and so docker_auth) defaults to `require`, not libpq's `prefer`. */
  sslmode: "disable" | "require" | "verify-ca" | "verify-full";
  sslrootcert?: string;
  connectTimeoutMs?: number;
}

export interface SqliteTarget {
  type: "sqlite3";
  path: string;
  readOnly: boolean;
}

export const DATABASE_TYPES = ["mysql", "postgres", "sqlite3"] as const;
export type DatabaseType = (typeof DATABASE_TYPES)[number];

/** The reason a conn_string cannot be read; never quotes the string (it holds a password). */
export class ConnStringError extends Error {}

/**
 * go-sql-driver/mysql's DSN: `[user[:password]@][net[(addr)]]/dbname[?param=value&...]`.
 * The last `/` ends the address and the last `@` before it ends the credentials, so a
 * password may hold either. `mysql://` URLs are read too.
 */
export function parseMysqlDsn(dsn: string): MysqlTarget {
  if (/^mysql:\/\//i.test(dsn)) return mysqlFromUrl(dsn);
  const slash = dsn.lastIndexOf("/");
  if (slash < 0) throw new ConnStringError('a MySQL conn_string is user:password@tcp(host:port)/database (the "/database" part is missing)');
  const head = dsn.slice(0, slash);
  const tail = dsn.slice(slash + 1);
  const at = head.lastIndexOf("@");
  const cred = at < 0 ? "" : head.slice(0, at);
  const addrPart = at < 0 ? head : head.slice(at + 1);
  const colon = cred.indexOf(":");
  const t: MysqlTarget = { type: "mysql", host: "127.0.0.1", port: 3306, tls: "false" };
  if (cred) {
    t.user = colon < 0 ? cred : cred.slice(0, colon);
    if (colon >= 0) t.password = cred.slice(colon + 1);
  }
  if (addrPart) {
    const m = /^(\w+)(?:\((.*)\))?$/.exec(addrPart);
    if (!m) throw new ConnStringError(`the address part of a MySQL conn_string is tcp(host:port) or unix(/path/to/socket)`);
    const [, net, addr] = m;
    if (net === "unix") t.socketPath = addr || "/tmp/mysql.sock";
    else if (net === "tcp" || net === "tcp6") {
      if (addr) Object.assign(t, hostPort(addr, 3306));
    } else throw new ConnStringError(`the network of a MySQL conn_string is tcp or unix, not ${JSON.stringify(net)}`);
  }
  const q = tail.indexOf("?");
  t.database = decodeURIComponent(q < 0 ? tail : tail.slice(0, q)) || undefined;
  if (q >= 0) mysqlParams(t, new URLSearchParams(tail.slice(q + 1)));
  return t;
}

function mysqlFromUrl(dsn: string): MysqlTarget {
  const u = parseUrl(dsn);
  const t: MysqlTarget = { type: "mysql", host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : 3306, tls: "false" };
  if (u.username) t.user = decodeURIComponent(u.username);
  if (u.password) t.password = decodeURIComponent(u.password);
  t.database = decodeURIComponent(u.pathname.replace(/^\//, "")) || undefined;
  mysqlParams(t, u.searchParams);
  return t;
}

function mysqlParams(t: MysqlTarget, p: URLSearchParams): void {
  for (const [k, v] of p) {
    if (k === "timeout") t.connectTimeoutMs = duration(k, v);
    else if (k === "tls") {
      if (v !== "true" && v !== "false" && v !== "skip-verify" && v !== "preferred") throw new ConnStringError(`tls=${v}: use true, false, skip-verify or preferred (named TLS configs are Go code, not config)`);
      t.tls = v;
    } else if (k === "charset") t.charset = v.split(",")[0];
    // Others (parseTime, loc, collation, ...) shape Go's values, not what is read here.
  }
}

/** lib/pq's two forms: a `postgres://` URL, or `key=value` pairs with libpq's quoting. */
export function parsePostgresConnString(s: string): PostgresTarget {
  const t: PostgresTarget = { type: "postgres", sslmode: "require" };
  const set = (k: string, v: string) => {
    switch (k) {
      case "host":
        t.host = v;
        break;
      case "port":
        if (!/^\d{1,5}$/.test(v)) throw new ConnStringError(`port=${v} is not a port number`);
        t.port = Number(v);
        break;
      case "user":
        t.user = v;
        break;
      case "password":
        t.password = v;
        break;
      case "dbname":
        t.database = v;
        break;
      case "sslmode":
        if (v === "allow" || v === "prefer") throw new ConnStringError(`sslmode=${v} is libpq's; lib/pq (and so regauth) takes disable, require, verify-ca or verify-full`);
        if (v !== "disable" && v !== "require" && v !== "verify-ca" && v !== "verify-full") throw new ConnStringError(`sslmode=${v}: use disable, require, verify-ca or verify-full`);
        t.sslmode = v;
        break;
      case "sslrootcert":
        t.sslrootcert = v;
        break;
      case "connect_timeout":
        if (!/^\d+$/.test(v)) throw new ConnStringError(`connect_timeout=${v} is a number of seconds`);
        t.connectTimeoutMs = Number(v) * 1000 || undefined;
        break;
      // Others (application_name, search_path, ...) do not change which rows are read.
    }
  };
  if (/^postgres(ql)?:\/\//i.test(s)) {
    const u = parseUrl(s);
    if (u.hostname) set("host", decodeURIComponent(u.hostname.replace(/^\[|\]$/g, "")));
    if (u.port) set("port", u.port);
    if (u.username) set("user", decodeURIComponent(u.username));
    if (u.password) set("password", decodeURIComponent(u.password));
    if (u.pathname.length > 1) set("dbname", decodeURIComponent(u.pathname.slice(1)));
    for (const [k, v] of u.searchParams) set(k, v);
    return t;
  }
  for (const [k, v] of keyValuePairs(s)) set(k, v);
  return t;
}

/** libpq's `key=value key2='quoted \' value'` syntax. */
function keyValuePairs(s: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  const n = s.length;
  const space = () => {
    while (i < n && /\s/.test(s[i]!)) i++;
  };
  while ((space(), i < n)) {
    const keyStart = i;
    while (i < n && s[i] !== "=" && !/\s/.test(s[i]!)) i++;
    const key = s.slice(keyStart, i);
    space();
    if (s[i] !== "=" || key === "") throw new ConnStringError(`a key=value conn_string needs "=" after ${JSON.stringify(key || s.slice(keyStart, keyStart + 10))}`);
    i++;
    space();
    let value = "";
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= n) throw new ConnStringError(`the quoted value of ${key} is not closed`);
        const c = s[i++]!;
        if (c === "'") break;
        value += c === "\\" && i < n ? s[i++]! : c;
      }
    } else {
      while (i < n && !/\s/.test(s[i]!)) {
        const c = s[i++]!;
        value += c === "\\" && i < n ? s[i++]! : c;
      }
    }
    out.push([key, value]);
  }
  return out;
}

/** mattn/go-sqlite3's form: a path, or `file:path?mode=ro&...`. */
export function parseSqlitePath(s: string): SqliteTarget {
  let path = s;
  let params = new URLSearchParams();
  if (path.startsWith("file:")) {
    path = path.slice(5);
    const q = path.indexOf("?");
    if (q >= 0) {
      params = new URLSearchParams(path.slice(q + 1));
      path = path.slice(0, q);
    }
  }
  if (path === "" || path === ":memory:") throw new ConnStringError("a SQLite conn_string names a database file (an in-memory database would be empty)");
  return { type: "sqlite3", path, readOnly: params.get("mode") === "ro" };
}

export function parseConnString(type: DatabaseType, s: string): SqlTarget {
  if (type === "mysql") return parseMysqlDsn(s);
  if (type === "postgres") return parsePostgresConnString(s);
  return parseSqlitePath(s);
}

/** The database named without its credentials, for logs and messages. */
export function describeTarget(t: SqlTarget): string {
  if (t.type === "sqlite3") return `sqlite3 ${t.path}`;
  if (t.type === "mysql") return `mysql ${t.socketPath ?? `${t.host}:${t.port}`}/${t.database ?? ""}`;
  return `postgres ${t.host ?? "localhost"}:${t.port ?? 5432}/${t.database ?? t.user ?? ""}`;
}

function hostPort(addr: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d{1,5}))?$/.exec(addr);
  if (!m) throw new ConnStringError(`${JSON.stringify(addr)} is not host:port`);
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port: m[3] ? Number(m[3]) : defaultPort };
}

function parseUrl(s: string): URL {
  try {
    return new URL(s);
  } catch {
    throw new ConnStringError("the conn_string is not a valid URL");
  }
}

function duration(key: string, v: string): number {
  const ms = parseGoDuration(v);
  if (ms === undefined) throw new ConnStringError(`${key}=${v} is not a duration such as 5s`);
  return ms;
}
