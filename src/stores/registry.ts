import { sqliteStore } from "./sqlite/index.js";
import type { StoreModule } from "./store-module.js";

/** Every token store backend; the first is the default when `token_store` is left out. */
export const STORES: readonly StoreModule[] = [sqliteStore];

export const DEFAULT_STORE = STORES[0]!;
