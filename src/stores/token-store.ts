import type { Labels } from "../config/types.js";

/**
 * What a credential is for. Refresh tokens are the first; web sign-in's generated
 * `docker login` passwords are the second and live in the same store with the same shape.
 */
export type CredentialKind = "refresh_token" | "login_password";

/**
 * A credential handed to a client, as the store keeps it: never the secret, only its
 * SHA-256. Everything the grant needs to re-authorize a use without asking the
 * authentication backend for a password again. Times are milliseconds since the epoch.
 */
export interface StoredCredential {
  /** Public identifier (hex), part of the token: listed and revoked by it. */
  id: string;
  kind: CredentialKind;
  /** SHA-256 of the secret part, hex. */
  secretHash: string;
  account: string;
  /** The authentication method that proved the account (`static`, `ldap_auth`, ...). */
  method: string;
  /**
   * What the method that proved the account says about its credentials at issue time (a
   * digest of a static user's password hash, say): a changed password no longer matches.
   * "" when the method has nothing to say.
   */
  proof: string;
  /** The labels at issue time: the ACL matches them on every use. */
  labels: Labels;
  clientId: string;
  service: string;
  createdAt: number;
  lastUsedAt: number;
  /** The hard end of the credential's life. */
  expiresAt: number;
  /** Unused past this moment, it is dead; moved forward on each use. Null: no idle timeout. */
  idleUntil: number | null;
  /**
   * What the method keeps with the credential for itself, opaque to the store ("" when
   * nothing): web sign-in keeps the provider's tokens there, sealed, to re-check the user.
   */
  attachment: string;
}

/** Which credentials a revocation or a listing is about. */
export type CredentialSelector = { id: string } | { account: string } | { all: true };

export interface StoreHealth {
  ok: boolean;
  detail?: string;
}

/**
 * Where issued credentials and shared counters live. One interface, a module per backend
 * (sqlite, redis, postgres). Every method throws StoreUnavailableError when the backend
 * cannot answer: callers decide what that means (a login goes on without a refresh
 * token, a refresh grant answers 503), never the store.
 */
export interface TokenStore {
  /** The backend's name, for logs and `regauth tokens`. */
  readonly backend: string;
  put(c: StoredCredential): Promise<void>;
  /** The credential with this id, unless it is expired or idle past `now`. */
  get(id: string, now: number): Promise<StoredCredential | undefined>;
  /** Record a use: `lastUsedAt` and the new idle deadline. */
  touch(id: string, lastUsedAt: number, idleUntil: number | null): Promise<void>;
  /**
   * New labels and attachment for a credential that is still there (a web sign-in re-checked);
   * answers false, writing nothing, when it was revoked meanwhile: a revocation is never undone.
   */
  amend(id: string, labels: Labels, attachment: string): Promise<boolean>;
  /** Live credentials (not expired, not idle past `now`), oldest first. */
  list(now: number, filter?: { account?: string; kind?: CredentialKind }): Promise<StoredCredential[]>;
  /** Deletes the selected credentials; answers how many there were. */
  revoke(sel: CredentialSelector): Promise<number>;
  /** Deletes what expired or went idle before `now`; answers how many. */
  purge(now: number): Promise<number>;
  /**
   * Counts one event under `key` in a fixed window of `windowMs` and answers the count so
   * far in the window, for limits shared by replicas (failed logins per account, say).
   */
  hit(key: string, windowMs: number, now: number): Promise<number>;
  /** Forgets what `hit` counted under `key` in the window of `windowMs` that holds `now` (a login that succeeded). */
  resetHits(key: string, windowMs: number, now: number): Promise<void>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
