import { createHash } from "node:crypto";
import type { Authenticator, AuthnResult } from "../authn/authenticator.js";
import { verifyPassword } from "../authn/bcrypt.js";
import type { RefusalCost } from "../authn/refusal-cost.js";
import type { Labels } from "../config/types.js";
import { BackendError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Secret } from "../secret.js";

/** A user as a database holds it, before any check. */
export interface DbUserRecord {
  /** The bcrypt hash; undefined when the record has none. */
  passwordHash: unknown;
  labels: unknown;
}

export interface DbUsersOptions {
  /** The section key, and the method name in logs and refresh tokens (`xorm_auth`, `mongo_auth`). */
  name: string;
  /** The database and table/collection, without credentials. */
  source: string;
  /** The record for exactly this username, or undefined; throws when the database cannot answer. */
  find(user: string): Promise<DbUserRecord | undefined>;
  log: Logger;
  refusal: RefusalCost;
}

const BCRYPT = /^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/;

/** Labels as docker_auth stores them (a JSON object of lists, or that JSON as text); a single value is read as a list of one. */
export function labelsFromRecord(v: unknown): Labels | undefined {
  if (v === null || v === undefined || v === "") return {};
  let obj = v;
  if (typeof v === "string" || Buffer.isBuffer(v)) {
    try {
      obj = JSON.parse(String(v));
    } catch {
      return undefined;
    }
    if (obj === null) return {};
  }
  if (typeof obj !== "object" || Array.isArray(obj)) return undefined;
  const out: Record<string, string[]> = {};
  for (const [k, x] of Object.entries(obj as Record<string, unknown>)) {
    const list = Array.isArray(x) ? x : [x];
    if (!list.every((s) => typeof s === "string")) return undefined;
    out[k] = list as string[];
  }
  return out;
}

/**
 * Users kept in a database table or collection, looked up per request by exact username
 * (the verified-credential cache of the chain sits in front). docker_auth's answers: no such
 * user passes on to the next method; a wrong password is a denial. Where docker_auth lets a
 * record without a password in, this refuses it: an empty field must not mean "any password".
 */
export class DbUsersAuthenticator implements Authenticator {
  readonly name: string;

  constructor(private readonly o: DbUsersOptions) {
    this.name = o.name;
  }

  async #find(user: string): Promise<DbUserRecord | undefined> {
    try {
      return await this.o.find(user);
    } catch (e) {
      const reason = (e as Error).message;
      this.o.log.error({ backend: this.name, source: this.o.source, reason }, "user database query failed");
      throw new BackendError(this.name, `cannot read users from ${this.o.source}: ${reason}`, { cause: e, publicMessage: `${this.name}: the user database cannot be used right now; try again later` });
    }
  }

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    const pw = password.reveal();
    // As docker_auth: an empty name or password is not a database user's.
    if (user === "" || pw === "") return { kind: "no-match" };
    const rec = await this.#find(user);
    if (!rec) return { kind: "no-match" };
    const fields = { backend: this.name, source: this.o.source, account: user };
    if (typeof rec.passwordHash !== "string" || !BCRYPT.test(rec.passwordHash)) {
      this.o.log.warn(fields, "database user has no bcrypt password hash; refused");
      await this.o.refusal.spend(pw);
      return { kind: "denied" };
    }
    if (!(await verifyPassword(pw, rec.passwordHash))) return { kind: "denied" };
    const labels = labelsFromRecord(rec.labels);
    if (!labels) {
      this.o.log.error(fields, 'database user\'s labels are not a JSON object of lists (like {"group": ["dev"]}); refused until fixed');
      throw new BackendError(this.name, `the labels of ${JSON.stringify(user)} in ${this.o.source} are not a JSON object of lists`, { publicMessage: `${this.name}: this account's record is broken; ask an administrator` });
    }
    return { kind: "match", labels };
  }

  async stillExists(user: string): Promise<boolean> {
    return (await this.#find(user)) !== undefined;
  }

  /** A digest of the stored hash: a password changed in the database ends the account's refresh tokens. */
  async credentialProof(user: string): Promise<string | undefined> {
    const rec = await this.#find(user);
    return typeof rec?.passwordHash === "string" ? createHash("sha256").update(`regauth database user proof\0${rec.passwordHash}`).digest("hex").slice(0, 32) : undefined;
  }

  async stop(): Promise<void> {}
}
