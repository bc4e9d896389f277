import type { z } from "zod";
import type { SectionContext } from "../config/section.js";
import type { Logger } from "../log.js";
import type { TokenStore } from "./token-store.js";

/** What a store backend gets from the server besides its own section. */
export interface StoreServices {
  log: Logger;
}

/**
 * One token store backend, whole: its mapping under `token_store:` (schema and how it
 * becomes a typed object) and how to open it. Listed once in stores/registry.ts.
 */
export interface StoreModule<Raw = any, Cfg = any> {
  /** The key under `token_store:` (`sqlite`, `redis`, `postgres`). */
  key: string;
  /** The zod shape of its mapping (read strictly: unknown keys are errors). */
  shape: z.ZodRawShape;
  /** Validated YAML → typed config; problems go to `ctx.add` at `["token_store", key, ...]`. */
  build(raw: Raw, ctx: SectionContext): Promise<Cfg> | Cfg;
  /**
   * Opens the store. It must not fail because the backend is down right now: it
   * connects lazily and reconnects by itself, and each call fails with a
   * StoreUnavailableError meanwhile, so that a server starts and recovers without a
   * restart. It fails only for what a restart would not fix.
   */
  open(config: Cfg, services: StoreServices): Promise<TokenStore>;
}
