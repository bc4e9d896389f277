import type { StoreModule } from "../store-module.js";
import { PostgresTokenStore } from "./postgres-store.js";
import { buildPostgres, postgresShape, type PostgresStoreConfig, type RawPostgresStore } from "./section.js";

/** PostgreSQL: credentials and counters in two tables (created on first use), shared by every replica. */
export const postgresStore: StoreModule<RawPostgresStore | undefined, PostgresStoreConfig> = {
  key: "postgres",
  shape: postgresShape,
  build: buildPostgres,
  async open(config, services) {
    return new PostgresTokenStore(config, services.log);
  },
};
