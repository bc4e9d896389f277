import { ReloadingAcl } from "../../authz/reloading-acl.js";
import { ConfigError } from "../../errors.js";
import { type BackendHealth, type BackendModule, type BackendServices } from "../backend.js";
import { DbUsersAuthenticator } from "../db-users.js";
import { aclXormShape, buildAclXorm, buildXorm, xormAuthShape, type AclXormConfig, type RawAclXorm, type RawXorm, type XormConfig } from "./section.js";
import { openSqlClient, type SqlClient } from "./sql-client.js";
import { ACL_TABLE, findUser, ping, readAcl, USER_TABLE } from "./tables.js";

export function openXorm(c: XormConfig, services: Pick<BackendServices, "log">, create = false): SqlClient {
  return openSqlClient(c.target, { queryTimeoutMs: c.queryTimeoutMs, connectTimeoutMs: c.connectTimeoutMs, maxConnections: c.maxConnections, ca: c.ca, log: services.log, create });
}

const health =
  (db: SqlClient): (() => Promise<BackendHealth>) =>
  () =>
    ping(db).then(
      () => ({ ok: true }),
      (e: Error) => ({ ok: false, detail: `${db.description}: ${e.message}` }),
    );

/** At start, a database that cannot be reached is the operator's to fix: say so rather than serve 503s. */
async function reachable(key: string, db: SqlClient, services: BackendServices): Promise<void> {
  try {
    await ping(db);
  } catch (e) {
    await db.close();
    throw new ConfigError([{ ...services.where([key]), message: `cannot reach ${db.description}: ${(e as Error).message}` }]);
  }
}

/**
 * Ready while a good ACL is in use, even a stale one: every replica reads the same
 * database, and taking them all out of a load balancer would turn a slow table into an outage.
 */
export function aclHealth(acl: ReloadingAcl): BackendHealth {
  if (acl.size === 0 && acl.loadedAt === 0) return { ok: false, detail: acl.lastError ?? "no ACL loaded yet" };
  if (acl.lastError) return { ok: true, detail: `serving the ACL read ${Math.round((Date.now() - acl.loadedAt) / 1000)}s ago; the last read failed: ${acl.lastError}` };
  return { ok: true };
}

/** xorm_auth: users in a SQL table (MySQL/MariaDB, PostgreSQL, SQLite), docker_auth's xorm model. */
export const xormAuthBackend: BackendModule<RawXorm, XormConfig> = {
  key: "xorm_auth",
  role: "authn",
  shape: xormAuthShape,
  build: (raw, ctx) => buildXorm("xorm_auth", raw, ctx),
  async create(config, services) {
    const db = openXorm(config, services);
    await reachable("xorm_auth", db, services);
    const users = new DbUsersAuthenticator({ name: "xorm_auth", source: `${db.description} ${USER_TABLE}`, find: (u) => findUser(db, u), log: services.log, refusal: services.refusal });
    services.log.info({ backend: "xorm_auth", database: db.description }, "SQL user table");
    return { authenticator: users, health: health(db), stop: () => db.close() };
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
    try {
      await acl.start();
    } catch (e) {
      await db.close();
      throw new ConfigError([{ ...services.where(["acl_xorm"]), message: (e as Error).message }]);
    }
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
