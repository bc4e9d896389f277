import { postgresStore } from "./postgres/index.js";
import { redisStore } from "./redis/index.js";
import { sqliteStore } from "./sqlite/index.js";
import type { StoreModule } from "./store-module.js";

/**
 * Every token store backend; the first is the default when `token_store` is left out. SQLite
 * serves one machine (its workers and the CLI); Redis and PostgreSQL are for replicas on several.
 */
export const STORES: readonly StoreModule[] = [sqliteStore, redisStore, postgresStore];

export const DEFAULT_STORE = STORES[0]!;
