import { z } from "zod";
import { optBool, optInt, optMapping, optTextList } from "../config/fields.js";
import type { SectionContext } from "../config/section.js";
import { DEFAULT_STORE, STORES } from "./registry.js";

/** regauth addition: where refresh tokens (and later web sign-in passwords, shared counters) live. */
export const tokenStoreShape = Object.fromEntries(STORES.map((s) => [s.key, optMapping(s.shape)])) as z.ZodRawShape;

/** regauth addition: refresh ("identity", "offline") tokens. */
export const refreshTokensShape = {
  /** Default true: `docker login` then keeps an identity token instead of the password. */
  enabled: optBool,
  /** The longest a refresh token lives, in seconds (default 90 days). */
  lifetime_seconds: optInt,
  /** A refresh token unused this long dies, in seconds (default 30 days; 0: never idle out). */
  idle_timeout_seconds: optInt,
  /**
   * client_ids that count as one client (default docker and containers/image): `docker login`
   * writes config.json with client_id docker, and skopeo, podman and buildah read the same file
   * and refresh with client_id containers/image. [] binds each token to its exact client_id.
   */
  shared_client_ids: optTextList,
  /** The most live refresh tokens one account holds (default 50); a new one retires the oldest. */
  max_per_account: optInt,
  /** client_ids whose refresh tokens are replaced on each use (opt-in: the docker engine keeps its first one). */
  rotate_client_ids: optTextList,
};

export interface TokenStoreConfig {
  /** The backend's key (`sqlite`, `redis`, `postgres`). */
  backend: string;
  /** That backend's typed settings. */
  settings: unknown;
}

export interface RefreshTokenConfig {
  enabled: boolean;
  lifetimeMs: number;
  /** Null: no idle timeout. */
  idleTimeoutMs: number | null;
  rotateClientIds: ReadonlySet<string>;
  sharedClientIds: ReadonlySet<string>;
  maxPerAccount: number;
}

/** What `docker login` writes and the containers/image tools (skopeo, podman, buildah) read. */
export const DEFAULT_SHARED_CLIENT_IDS = ["docker", "containers/image"];

const DAY = 86_400;

export async function buildTokenStore(raw: Record<string, unknown> | undefined, ctx: SectionContext): Promise<TokenStoreConfig> {
  const given = STORES.filter((s) => raw?.[s.key] !== undefined);
  if (given.length > 1) ctx.add(["token_store", given[1]!.key], `set only one token store (${given.map((s) => s.key).join(" and ")} are both set)`);
  const module = given[0] ?? DEFAULT_STORE;
  return { backend: module.key, settings: await module.build(raw?.[module.key], ctx) };
}

export function buildRefreshTokens(raw: { enabled?: boolean; lifetime_seconds?: number; idle_timeout_seconds?: number; rotate_client_ids?: string[]; shared_client_ids?: string[]; max_per_account?: number } | undefined, ctx: SectionContext): RefreshTokenConfig {
  const lifetime = raw?.lifetime_seconds ?? 90 * DAY;
  // The default idle timeout never outlives a short lifetime.
  const idle = raw?.idle_timeout_seconds ?? Math.min(30 * DAY, lifetime);
  if (lifetime < 60 || lifetime > 3650 * DAY) ctx.add(["refresh_tokens", "lifetime_seconds"], "must be between 60 (a minute) and 315360000 (ten years)");
  if (idle < 0 || idle > lifetime) ctx.add(["refresh_tokens", "idle_timeout_seconds"], "must be 0 (no idle timeout) or between 1 and lifetime_seconds");
  const max = raw?.max_per_account ?? 50;
  if (max < 1 || max > 100_000) ctx.add(["refresh_tokens", "max_per_account"], "must be between 1 and 100000");
  return {
    enabled: raw?.enabled ?? true,
    maxPerAccount: max,
    lifetimeMs: lifetime * 1000,
    idleTimeoutMs: idle === 0 ? null : idle * 1000,
    rotateClientIds: new Set(raw?.rotate_client_ids ?? []),
    sharedClientIds: new Set(raw?.shared_client_ids ?? DEFAULT_SHARED_CLIENT_IDS),
  };
}
