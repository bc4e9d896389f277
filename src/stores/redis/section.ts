import { readCaFile } from "../../config/ca-file.js";
import { isIP } from "node:net";
import { optText, optTextList } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { Secret } from "../../secret.js";

export const redisShape = {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
  url: optText,
  /** Redis Cluster seed nodes, `host:port` each; instead of `url`. */
  cluster: optTextList,
  password_file: optText,
  password_env: optText,
  /** Put before every key, so that several deployments (or other apps) can share one Redis. */
  key_prefix: optText,
  /** PEM CA bundle that signed the server's certificate (rediss://, or every cluster node). */
  tls_ca_file: optText,
};

export interface RawRedisStore {
  url?: string;
  cluster?: string[];
  password_file?: string;
  password_env?: string;
  key_prefix?: string;
  tls_ca_file?: string;
}

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisStoreConfig {
  /** One server (`url`), or cluster seeds. */
  mode: "standalone" | "cluster";
  /** Standalone: the one server; cluster: the seeds. */
  nodes: RedisNode[];
  db: number;
  username?: string;
  password?: Secret;
  /** TLS (rediss://, or cluster with tls_ca_file); `ca` absent: the system's CAs. */
  tls?: { ca?: string };
  keyPrefix: string;
  /** For messages and logs: the address without any password. */
  address: string;
}

const AT = ["token_store", "redis"] as const;
const at = (...k: (string | number)[]) => [...AT, ...k];

export const REDIS_DEFAULT_PREFIX = "regauth:";

export async function buildRedis(raw: RawRedisStore | undefined, ctx: SectionContext): Promise<RedisStoreConfig> {
  const r = raw ?? {};
  const config: RedisStoreConfig = { mode: "standalone", nodes: [], db: 0, keyPrefix: r.key_prefix ?? REDIS_DEFAULT_PREFIX, address: "" };
  let urlPassword: string | undefined;

  if ((r.url === undefined) === (r.cluster === undefined)) {
    ctx.add(
      AT,
      r.url === undefined
        ? "set url (redis://host:6379 or rediss://host:6380 for one server) or cluster (a list of host:port seed nodes)"
        : "set only one of url and cluster: url is for one server, cluster for the seed nodes of a Redis Cluster",
    );
  } else if (r.url !== undefined) {
    const u = parseRedisUrl(r.url);
    if (typeof u === "string") ctx.add(at("url"), u);
    else {
      Object.assign(config, { nodes: [u.node], db: u.db, username: u.username, tls: u.tls ? {} : undefined, address: u.address });
      urlPassword = u.password;
    }
  } else {
    config.mode = "cluster";
    if (r.cluster!.length === 0) ctx.add(at("cluster"), "list at least one seed node (host:port); the others are found from it");
    r.cluster!.forEach((s, i) => {
      const n = parseHostPort(s);
      if (typeof n === "string") ctx.add(at("cluster", i), `"${s}": ${n}`);
      else config.nodes.push(n);
    });
    config.address = `cluster ${r.cluster!.join(",")}`;
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

  if (config.keyPrefix === "") ctx.add(at("key_prefix"), `must not be empty: the prefix keeps regauth's keys apart from other data in the same Redis (default "${REDIS_DEFAULT_PREFIX}")`);
  // A brace would become the hash tag of every key and put them all in one cluster slot.
  else if (/[{}]/.test(config.keyPrefix)) ctx.add(at("key_prefix"), `must not contain { or }: Redis Cluster reads them as a hash tag (e.g. "regauth:" or "regauth-prod:")`);

  if (r.tls_ca_file !== undefined) {
    if (config.mode === "standalone" && config.nodes.length && !config.tls)
      ctx.add(at("tls_ca_file"), "is used only for TLS: write the url as rediss://... to connect with TLS, or leave tls_ca_file out");
    else {
      const ca = await readCaFile(ctx, at("tls_ca_file"), r.tls_ca_file);
      if (ca !== undefined) config.tls = { ca };
    }
  }
  return config;
}

interface ParsedUrl {
  node: RedisNode;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  address: string;
}

/** A redis:// or rediss:// URL, or why it is not one (never echoing a password). */
export function parseRedisUrl(text: string): ParsedUrl | string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return "must be a URL such as redis://redis.example.com:6379/0 or rediss://redis.example.com:6380";
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") return `must start with redis:// or rediss:// (TLS), not ${u.protocol}//`;
  if (!u.hostname) return "names no host: write redis://host:6379";
  if (u.search || u.hash) return "takes no query (?...) or fragment (#...); the other settings are keys of token_store.redis";
  const path = u.pathname.replace(/^\//, "");
  if (!/^\d{0,2}$/.test(path)) return `the path is the database number (redis://host:6379/0), not /${path}`;
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 6379;
  const db = path ? Number(path) : 0;
  return {
    node: { host, port },
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === "rediss:",
    address: `${u.protocol}//${u.hostname}:${port}/${db}`,
  };
}

export function parseHostPort(s: string): RedisNode | string {
  if (/^\w+:\/\//.test(s)) return "write host:port, not a URL (for TLS to the cluster, set tls_ca_file)";
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return "must be host:port (e.g. redis-0.redis:6379)";
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  const host = (m[1] ?? m[2])!;
  if (m[1] !== undefined && isIP(host) !== 6) return `[${host}] is not an IPv6 address`;
  return { host, port };
}

