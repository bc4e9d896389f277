import type { z } from "zod";
import { readCaFile } from "../../config/ca-file.js";
import { durationMs } from "../../config/duration.js";
import { optBool, optDuration, optMapping, optText, optTextList } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";

/** docker_auth's dial_info (mgo's DialInfo, inlined), and regauth's additions. */
export const dialInfoShape = {
  /** Seed hosts, `host` or `host:port` (docker_auth dials only the first; all are seeds here). */
  addrs: optTextList,
  /** Server selection, connect and per-operation timeout (docker_auth's default 10s). */
  timeout: optDuration,
  database: optText,
  username: optText,
  /** Accepted as docker_auth does; password_file keeps it out of the config. */
  password: optText,
  password_file: optText,
  enable_tls: optBool,
  /** The database users authenticate against (docker_auth always uses admin). */
  source: optText,
  /** mgo keys docker_auth accepts and ignores; accepted here so that its configs load. */
  direct: optBool,
  failfast: optBool,
  service: optText,
  mechanism: optText,
  /** regauth addition: a whole mongodb:// or mongodb+srv:// URI instead of addrs (password in it, or in password_file). */
  uri: optText,
  /** regauth addition: read the URI from a file (it may hold a password). */
  uri_file: optText,
  /** regauth addition: a PEM CA bundle for TLS to the server. */
  tls_ca_file: optText,
};

export const mongoAuthShape = {
  dial_info: optMapping(dialInfoShape),
  collection: optText,
};

export const aclMongoShape = {
  ...mongoAuthShape,
  /** How long the ACL read from the collection is used before it is read again (default 1m). */
  cache_ttl: optDuration,
};

export type RawMongoAuth = z.infer<z.ZodObject<typeof mongoAuthShape>>;
export type RawAclMongo = z.infer<z.ZodObject<typeof aclMongoShape>>;

export interface MongoConfig {
  /** mongodb:// URI without credentials. */
  uri: string;
  username?: string;
  password?: string;
  authSource: string;
  database: string;
  collection: string;
  tls: boolean;
  ca?: string;
  timeoutMs: number;
  /** The server and collection without credentials, for logs and messages. */
  description: string;
}

export interface AclMongoConfig extends MongoConfig {
  cacheTtlMs: number;
}

export const MONGO_DEFAULTS = { timeoutMs: 10_000, cacheTtlMs: 60_000 } as const;

/** `host`, `host:port` or `[v6]:port`, as mgo reads an address. */
const ADDR = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

function stripCredentials(uri: string): { uri: string; username?: string; password?: string } | undefined {
  const m = /^(mongodb(?:\+srv)?:\/\/)(?:([^@/]*)@)?(.*)$/.exec(uri);
  if (!m) return undefined;
  const [, scheme, cred, rest] = m;
  if (!cred) return { uri };
  const colon = cred.indexOf(":");
  try {
    return {
      uri: `${scheme}${rest}`,
      username: decodeURIComponent(colon < 0 ? cred : cred.slice(0, colon)),
      password: colon < 0 ? undefined : decodeURIComponent(cred.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

export async function buildMongo(key: string, raw: RawMongoAuth, ctx: SectionContext): Promise<MongoConfig> {
  const d = raw.dial_info ?? {};
  const at = (k: string) => [key, "dial_info", k];
  const config: MongoConfig = {
    uri: "",
    authSource: d.source ?? "admin",
    database: d.database ?? "",
    collection: raw.collection ?? "",
    tls: d.enable_tls ?? false,
    timeoutMs: durationMs(ctx, at("timeout"), d.timeout, MONGO_DEFAULTS.timeoutMs),
    description: "",
  };
  if (raw.dial_info === undefined) ctx.add([key], "dial_info is required (addrs, database, and credentials if the server needs them)");
  if (raw.collection === undefined || raw.collection === "") ctx.add([key], `${key}.collection is required`);
  if (raw.dial_info !== undefined && !d.database) ctx.add([key, "dial_info"], `${key}.dial_info.database is required`);

  let uriText: string | undefined;
  if (d.uri !== undefined && d.uri_file !== undefined) ctx.add(at("uri_file"), "set uri or uri_file, not both");
  else if (d.uri !== undefined) uriText = d.uri;
  else if (d.uri_file !== undefined) uriText = await ctx.readSecret(at("uri_file"), d.uri_file, undefined);

  if (uriText !== undefined) {
    if (d.addrs?.length) ctx.add(at("uri"), "set addrs or uri, not both");
    const parsed = stripCredentials(uriText.trim());
    if (!parsed) ctx.add(at(d.uri !== undefined ? "uri" : "uri_file"), "must be a mongodb:// or mongodb+srv:// URI");
    else {
      config.uri = parsed.uri;
      config.username = parsed.username;
      config.password = parsed.password;
    }
  } else if (raw.dial_info !== undefined) {
    const addrs = d.addrs ?? [];
    if (addrs.length === 0) ctx.add([key, "dial_info"], `At least one element in ${key}.dial_info.addrs is required`);
    addrs.forEach((a, i) => {
      if (!ADDR.test(a)) ctx.add([key, "dial_info", "addrs", i], `"${a}" is not host or host:port`);
    });
    config.uri = `mongodb://${addrs.join(",")}/`;
  }

  if (d.username !== undefined && d.username !== "") config.username = d.username;
  if (d.password !== undefined && d.password_file !== undefined) ctx.add(at("password_file"), "set password or password_file, not both");
  else if (d.password_file !== undefined && d.password_file !== "") config.password = await ctx.readSecret(at("password_file"), d.password_file, undefined);
  else if (d.password !== undefined && d.password !== "") {
    config.password = d.password;
    ctx.warn(`${key}.dial_info.password is in the config file; password_file keeps it out of it`);
  }
  if (config.password !== undefined && config.username === undefined) ctx.add([key, "dial_info"], "a password is set but no username");
  if (d.tls_ca_file !== undefined) {
    config.ca = await readCaFile(ctx, at("tls_ca_file"), d.tls_ca_file);
    config.tls = true;
  }
  const hosts = config.uri.replace(/^mongodb(\+srv)?:\/\//, "").replace(/\/.*$/, "");
  config.description = `mongodb ${hosts}/${config.database}.${config.collection}`;
  return config;
}

export async function buildAclMongo(raw: RawAclMongo, ctx: SectionContext): Promise<AclMongoConfig> {
  return { ...(await buildMongo("acl_mongo", raw, ctx)), cacheTtlMs: durationMs(ctx, ["acl_mongo", "cache_ttl"], raw.cache_ttl, MONGO_DEFAULTS.cacheTtlMs) };
}
