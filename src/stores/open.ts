import { ConfigError } from "../errors.js";
import type { Logger } from "../log.js";
import { STORES } from "./registry.js";
import type { TokenStoreConfig } from "./section.js";
import type { TokenStore } from "./token-store.js";

/** A store that SharedResources can hold across reloads (it stops what it holds). */
export type HeldStore = TokenStore & { stop(): Promise<void> };

/** Opens the configured token store; the same one is kept across reloads while its section is unchanged. */
export async function openTokenStore(config: TokenStoreConfig, log: Logger): Promise<HeldStore> {
  const module = STORES.find((s) => s.key === config.backend);
  if (!module) throw new ConfigError([{ file: "token_store", message: `unknown token store ${config.backend}` }]);
  const store = await module.open(config.settings, { log });
  return Object.assign(store, { stop: () => store.close() });
}
