import type { StoreModule } from "../store-module.js";
import { buildSqlite, sqliteShape, type SqliteStoreConfig } from "./section.js";
import { SqliteTokenStore } from "./sqlite-store.js";

/** The embedded default: nothing to set up, one file shared by a server's workers and the CLI. */
export const sqliteStore: StoreModule<{ path?: string } | undefined, SqliteStoreConfig> = {
  key: "sqlite",
  shape: sqliteShape,
  build: buildSqlite,
  async open(config, services) {
    return new SqliteTokenStore(config.path, services.log);
  },
};
