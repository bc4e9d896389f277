import { createHash } from "node:crypto";
import type { StaticUser } from "../config/types.js";
import type { Secret } from "../secret.js";
import type { Authenticator, AuthnResult } from "./authenticator.js";
import { verifyPassword } from "./bcrypt.js";

/**
 * The `users` section: bcrypt hashes and labels. An entry without a password
 * accepts any password; the `""` entry is the anonymous user. Users not listed
 * are left to the next method.
 */
export class StaticUsersAuthenticator implements Authenticator {
  readonly name = "static users";
  constructor(readonly users: ReadonlyMap<string, StaticUser>) {}

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    const u = this.users.get(user);
    if (!u) return { kind: "no-match" };
    if (u.passwordHash !== undefined) {
      // No credentials sent (`?account=NAME` alone): refused as fast as an unknown user is, with no bcrypt.
      if (!password.supplied || !(await verifyPassword(password.reveal(), u.passwordHash))) return { kind: "denied" };
    }
    return { kind: "match", labels: u.labels };
  }

  /** A digest of the user's bcrypt hash: a new password (and a reload) gives another. */
  credentialProof(user: string): string | undefined {
    const hash = this.users.get(user)?.passwordHash;
    return hash === undefined ? undefined : createHash("sha256").update(`regauth static user proof\0${hash}`).digest("hex").slice(0, 32);
  }

  /** A user removed from the file (and reloaded) is gone. */
  async stillExists(user: string): Promise<boolean> {
    return this.users.has(user);
  }

  async stop(): Promise<void> {}
}
