import type { StoreModule } from "../store-module.js";
import { RedisTokenStore } from "./redis-store.js";
import { buildRedis, redisShape, type RawRedisStore, type RedisStoreConfig } from "./section.js";

/** Redis (one server or a Cluster): credentials and counters shared by every replica, expiring by themselves. */
export const redisStore: StoreModule<RawRedisStore | undefined, RedisStoreConfig> = {
  key: "redis",
  shape: redisShape,
  build: buildRedis,
  async open(config, services) {
    return new RedisTokenStore(config, services.log);
  },
};
