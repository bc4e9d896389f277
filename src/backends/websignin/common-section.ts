import { z } from "zod";
import { durationMs } from "../../config/duration.js";
import { optDuration, optInt, optMapping, optText, plainValue } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { Secret } from "../../secret.js";
import { parseHostPort } from "../../stores/redis/section.js";

/**
 * docker_auth's per-provider token databases. regauth keeps generated passwords in its one
 * token store (`token_store:`), so these only say which store a docker_auth file meant:
 * LevelDB is the embedded store, Redis is Redis (its address becomes the token store's when
 * none is set), Google Cloud Storage is not offered and refused with a message.
 */
export type LegacyTokenDb = { kind: "embedded" } | { kind: "redis"; url: string; password?: Secret } | { kind: "gcs" };

/** What every web sign-in section has (docker_auth's keys, and regauth's additions). */
export interface CommonSignInConfig {
  clientId: string;
  clientSecret: Secret;
  /** `http_timeout` (Go duration; default 10 s): each call to the provider. */
  httpTimeoutMs: number;
  /** `registry_url`: the host the `docker login` command on the result page names. */
  registryUrl?: string;
  /** Which docker_auth token db the section named, if any. */
  tokenDb?: LegacyTokenDb;
  /** regauth addition `password_lifetime` (Go duration; default 30 days): a generated password's hard end. */
  passwordLifetimeMs: number;
}

const levelShape = { path: optText, token_hash_cost: optInt };
const gcsShape = { bucket: optText, client_secret_file: optText, token_hash_cost: optInt };
/** go-redis Options: only what says where the server is; the rest is the client's business. */
const redisTokenDbShape = {
  redis_options: z.preprocess((v) => (v === null ? undefined : plainValue(v)), z.record(z.string(), z.unknown()).optional()),
  redis_cluster_options: z.preprocess((v) => (v === null ? undefined : plainValue(v)), z.record(z.string(), z.unknown()).optional()),
  token_hash_cost: optInt,
};

export const commonSignInShape = {
  client_id: optText,
  client_secret: optText,
  client_secret_file: optText,
  /** regauth addition: the client secret from an environment variable. */
  client_secret_env: optText,
  http_timeout: optDuration,
  level_token_db: optMapping(levelShape),
  gcs_token_db: optMapping(gcsShape),
  redis_token_db: optMapping(redisTokenDbShape),
  /** regauth addition: how long a generated `docker login` password lives (default 720h). */
  password_lifetime: optDuration,
};

export interface RawCommonSignIn {
  client_id?: string;
  client_secret?: string;
  client_secret_file?: string;
  client_secret_env?: string;
  http_timeout?: string | number;
  level_token_db?: { path?: string; token_hash_cost?: number };
  gcs_token_db?: { bucket?: string; client_secret_file?: string; token_hash_cost?: number };
  redis_token_db?: { redis_options?: Record<string, unknown>; redis_cluster_options?: Record<string, unknown>; token_hash_cost?: number };
  password_lifetime?: string | number;
}

const DAY_MS = 86_400_000;

/** Reads the keys every provider section shares; problems are reported at `[key, ...]`. */
export async function buildCommonSignIn(key: string, raw: RawCommonSignIn, ctx: SectionContext, opts: { registryUrl?: string } = {}): Promise<CommonSignInConfig> {
  const at = (...p: (string | number)[]) => [key, ...p];
  if (!raw.client_id) ctx.add(at("client_id"), "is required: the client ID the provider gave this server when it was registered");
  let secret: string | undefined;
  if (raw.client_secret !== undefined && (raw.client_secret_file !== undefined || raw.client_secret_env !== undefined))
    ctx.add(at("client_secret"), "set only one of client_secret, client_secret_file and client_secret_env");
  else if (raw.client_secret !== undefined) secret = raw.client_secret;
  else if (raw.client_secret_file !== undefined || raw.client_secret_env !== undefined) {
    const which = raw.client_secret_file !== undefined ? "client_secret_file" : "client_secret_env";
    secret = await ctx.readSecret(at(which), raw.client_secret_file, raw.client_secret_env);
  } else ctx.add(at("client_secret"), "is required (or client_secret_file / client_secret_env): the provider's client secret");
  if (secret === "") ctx.add(at("client_secret"), "is empty");

  const given = (["level_token_db", "redis_token_db", "gcs_token_db"] as const).filter((k) => raw[k] !== undefined);
  if (given.length > 1) ctx.add(at(given[1]!), `set only one token db (${given.join(" and ")} are both set)`);
  let tokenDb: LegacyTokenDb | undefined;
  if (raw.gcs_token_db) {
    ctx.add(at("gcs_token_db"), "Google Cloud Storage is not offered as a token db; use the embedded store (level_token_db, or nothing) or Redis (token_store: {redis: {url: ...}})");
    tokenDb = { kind: "gcs" };
  } else if (raw.redis_token_db) tokenDb = redisTokenDb(raw.redis_token_db, at("redis_token_db"), ctx);
  else if (raw.level_token_db) tokenDb = { kind: "embedded" };

  const lifetime = durationMs(ctx, at("password_lifetime"), raw.password_lifetime, 30 * DAY_MS);
  if (lifetime < 60_000 || lifetime > 3650 * DAY_MS) ctx.add(at("password_lifetime"), "must be between 1m and 87600h (ten years)");
  const timeout = durationMs(ctx, at("http_timeout"), raw.http_timeout, 10_000);
  if (timeout <= 0 || timeout > 300_000) ctx.add(at("http_timeout"), "must be more than 0 and at most 5m");
  return {
    clientId: raw.client_id ?? "",
    clientSecret: new Secret(secret ?? ""),
    httpTimeoutMs: timeout,
    registryUrl: opts.registryUrl,
    tokenDb,
    passwordLifetimeMs: lifetime,
  };
}

/** go-redis's `addr`, `password`, `db` → the token store's Redis URL. */
function redisTokenDb(raw: NonNullable<RawCommonSignIn["redis_token_db"]>, path: (string | number)[], ctx: SectionContext): LegacyTokenDb {
  if (raw.redis_cluster_options) {
    ctx.add([...path, "redis_cluster_options"], "a Redis cluster is configured under token_store: {redis: {cluster: [host:port, ...]}}");
    return { kind: "redis", url: "" };
  }
  const o = raw.redis_options ?? {};
  const addr = typeof o["addr"] === "string" ? o["addr"] : "localhost:6379";
  const node = parseHostPort(addr);
  if (typeof node === "string") {
    ctx.add([...path, "redis_options", "addr"], node);
    return { kind: "redis", url: "" };
  }
  const db = typeof o["db"] === "number" ? o["db"] : 0;
  const password = typeof o["password"] === "string" && o["password"] !== "" ? new Secret(o["password"]) : undefined;
  return { kind: "redis", url: `redis://${node.host.includes(":") ? `[${node.host}]` : node.host}:${node.port}/${db}`, password };
}

/**
 * The token store a docker_auth file meant when its web sign-in sections name a Redis token
 * db and no `token_store` is set: that Redis. Answers the mapping `token_store` would hold.
 */
export function legacyTokenStore(sections: ReadonlyMap<string, unknown>, tokenStoreSet: boolean, ctx: SectionContext): Record<string, unknown> | undefined {
  const redis = [...sections].flatMap(([key, cfg]) => {
    const db = (cfg as { common?: CommonSignInConfig } | undefined)?.common?.tokenDb;
    return db?.kind === "redis" && db.url !== "" ? [{ key, db }] : [];
  });
  if (!redis.length) return undefined;
  if (tokenStoreSet) {
    ctx.warn(`${redis.map((r) => `${r.key}.redis_token_db`).join(", ")} ignored: token_store keeps the web sign-in passwords`);
    return undefined;
  }
  const urls = new Set(redis.map((r) => r.db.url));
  if (urls.size > 1) ctx.add([redis[1]!.key, "redis_token_db"], "regauth keeps every web sign-in's passwords in one token store: name the same Redis in each, or set token_store: {redis: {url: ...}}");
  const first = redis[0]!.db as Extract<LegacyTokenDb, { kind: "redis" }>;
  const url = new URL(first.url);
  if (first.password) url.password = encodeURIComponent(first.password.reveal());
  return { redis: { url: url.href } };
}
