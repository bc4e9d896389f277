import { ReloadingAcl } from "../../authz/reloading-acl.js";
import type { BackendModule } from "../backend.js";
import { aclHealth, pingHealth, requireReachable, startAcl } from "../database-health.js";
import { DbUsersAuthenticator } from "../db-users.js";
import { findMongoUser, openMongo, readMongoAcl } from "./client.js";
import { aclMongoShape, buildAclMongo, buildMongo, dialInfoShape, mongoAuthShape, type AclMongoConfig, type MongoConfig, type RawAclMongo, type RawMongoAuth } from "./section.js";

/** mongo_auth: users in a MongoDB collection, {username, password (bcrypt), labels}. */
export const mongoAuthBackend: BackendModule<RawMongoAuth, MongoConfig> = {
  key: "mongo_auth",
  role: "authn",
  shape: mongoAuthShape,
  nestedShapes: { dial_info: dialInfoShape },
  build: (raw, ctx) => buildMongo("mongo_auth", raw, ctx),
  async create(config, services) {
    const m = openMongo(config);
    await requireReachable("mongo_auth", m, services);
    const users = new DbUsersAuthenticator({ name: "mongo_auth", source: m.description, find: (u) => findMongoUser(m, u), log: services.log, refusal: services.refusal });
    services.log.info({ backend: "mongo_auth", database: m.description }, "MongoDB user collection");
    return { authenticator: users, health: pingHealth(m), stop: () => m.close() };
  },
};

/** acl_mongo: ACL documents {seq, match, actions, comment}, read whole every cache_ttl. */
export const aclMongoBackend: BackendModule<RawAclMongo, AclMongoConfig> = {
  key: "acl_mongo",
  role: "authz",
  shape: aclMongoShape,
  nestedShapes: { dial_info: dialInfoShape },
  build: buildAclMongo,
  async create(config, services) {
    const m = openMongo(config);
    const acl = new ReloadingAcl({ name: "acl_mongo", source: m.description, fetch: () => readMongoAcl(m), ttlMs: config.cacheTtlMs, log: services.log, literalLabelValues: services.literalLabelValues });
    await startAcl("acl_mongo", acl, m, services);
    services.log.info({ backend: "acl_mongo", database: m.description, entries: acl.size, cache_ttl_ms: config.cacheTtlMs }, "MongoDB ACL collection");
    return {
      authorizer: acl,
      health: async () => aclHealth(acl),
      async stop() {
        await acl.stop();
        await m.close();
      },
    };
  },
};
