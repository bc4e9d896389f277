import type { Labels } from "../config/types.js";
import type { Secret } from "../secret.js";

/**
 * - `match`: this backend knows the user and the password is right.
 * - `denied`: this backend knows the user and the password is wrong; stop here.
 * - `no-match`: not this backend's user; try the next one.
 */
export type AuthnResult = { kind: "match"; labels: Labels } | { kind: "denied" } | { kind: "no-match" };

/**
 * An authentication backend. Throws a BackendError when it cannot answer
 * (directory down, program crashed): the request then fails with a 5xx rather
 * than a misleading 401.
 */
export interface Authenticator {
  readonly name: string;
  authenticate(user: string, password: Secret): Promise<AuthnResult>;
  /**
   * Whether the account is still there, asked before a refresh token is honoured (no
   * password is at hand then). Undefined, or an answer of undefined: this method cannot tell.
   */
  stillExists?(user: string): Promise<boolean | undefined>;
  /**
   * A digest of the account's credentials as this method holds them (never the credential
   * itself), kept with a refresh token at issue and compared on each use: a changed password
   * ends the account's refresh tokens. Absent: this method cannot tell.
   */
  credentialProof?(user: string): Promise<string | undefined> | string | undefined;
  stop(): Promise<void>;
}
