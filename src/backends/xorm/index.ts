import { ReloadingAcl } from "../../authz/reloading-acl.js";
import type { BackendModule, BackendServices } from "../backend.js";
import { aclHealth, pingHealth, requireReachable, startAcl, type Pingable } from "../database-health.js";
import { DbUsersAuthenticator } from "../db-users.js";
import { aclXormShape, buildAclXorm, buildXorm, xormAuthShape, type AclXormConfig, type RawAclXorm, type RawXorm, type XormConfig } from "./section.js";
import { openSqlClient, type SqlClient } from "./sql-client.js";
import { ACL_TABLE, findUser, ping, readAcl, USER_TABLE } from "./tables.js";

export function openXorm(c: XormConfig, services: Pick<BackendServices, "log">, create = false): SqlClient {
  return openSqlClient(c.target, { queryTimeoutMs: c.queryTimeoutMs, connectTimeoutMs: c.connectTimeoutMs, maxConnections: c.maxConnections, ca: c.ca, log: services.log, create });
}

const pingable = (db: SqlClient): Pingable => ({ description: db.description, ping: () => ping(db), close: () => db.close() });

/** xorm_auth: users in a SQL table (MySQL/MariaDB, PostgreSQL, SQLite), docker_auth's xorm model. */
export const xormAuthBackend: BackendModule<RawXorm, XormConfig> = {
  key: "xorm_auth",
  role: "authn",
  shape: xormAuthShape,
  build: (raw, ctx) => buildXorm("xorm_auth", raw, ctx),
  async create(config, services) {
    const db = openXorm(config, services);
    await requireReachable("xorm_auth", pingable(db), services);
    const users = new DbUsersAuthenticator({ name: "xorm_auth", source: `${db.description} ${USER_TABLE}`, find: (u) => findUser(db, u), log: services.log, refusal: services.refusal });
    services.log.info({ backend: "xorm_auth", database: db.description }, "SQL user table");
    return { authenticator: users, health: pingHealth(pingable(db)), stop: () => db.close() };
  },
};

/** acl_xorm: ACL entries in a SQL table, read whole every cache_ttl. */
export const aclXormBackend: BackendModule<RawAclXorm, AclXormConfig> = {
  key: "acl_xorm",
  role: "authz",
  shape: aclXormShape,
  build: buildAclXorm,
  async create(config, services) {
    const db = openXorm(config, services);
    const acl = new ReloadingAcl({ name: "acl_xorm", source: `${db.description} ${ACL_TABLE}`, fetch: () => readAcl(db), ttlMs: config.cacheTtlMs, log: services.log, literalLabelValues: services.literalLabelValues });
    await startAcl("acl_xorm", acl, pingable(db), services);
    services.log.info({ backend: "acl_xorm", database: db.description, entries: acl.size, cache_ttl_ms: config.cacheTtlMs }, "SQL ACL table");
    return {
      authorizer: acl,
      health: async () => aclHealth(acl),
      async stop() {
        await acl.stop();
        await db.close();
      },
    };
  },
};
