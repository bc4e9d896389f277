import type { ReloadingAcl } from "../authz/reloading-acl.js";
import { ConfigError } from "../errors.js";
import type { BackendHealth, BackendServices } from "./backend.js";

/** What the database backends (SQL, MongoDB) share for health: a name and a round trip. */
export interface Pingable {
  readonly description: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Readiness from a round trip to the database. */
export const pingHealth =
  (db: Pingable): (() => Promise<BackendHealth>) =>
  () =>
    db.ping().then(
      () => ({ ok: true }),
      (e: Error) => ({ ok: false, detail: `${db.description}: ${e.message}` }),
    );

/** At start, a database that cannot be reached is the operator's to fix: say so rather than serve 503s. */
export async function requireReachable(key: string, db: Pingable, services: BackendServices): Promise<void> {
  try {
    await db.ping();
  } catch (e) {
    await db.close();
    throw new ConfigError([{ ...services.where([key]), message: `cannot reach ${db.description}: ${(e as Error).message}` }]);
  }
}

/** The first read of a database ACL: a server does not start on an ACL it cannot read. */
export async function startAcl(key: string, acl: ReloadingAcl, db: Pingable, services: BackendServices): Promise<void> {
  try {
    await acl.start();
  } catch (e) {
    await db.close();
    throw new ConfigError([{ ...services.where([key]), message: (e as Error).message }]);
  }
}

/**
 * Ready while a good ACL is in use, even a stale one: every replica reads the same
 * database, and taking them all out of a load balancer would turn a slow table into an outage.
 */
export function aclHealth(acl: ReloadingAcl): BackendHealth {
  if (acl.loadedAt === 0) return { ok: false, detail: acl.lastError ?? "no ACL loaded yet" };
  if (acl.lastError) return { ok: true, detail: `serving the ACL read ${Math.round((Date.now() - acl.loadedAt) / 1000)}s ago; the last read failed: ${acl.lastError}` };
  return { ok: true };
}
