import { CredentialKeys, TtlCache } from "../cache/ttl-cache.js";
import type { Labels } from "../config/types.js";
import type { Secret } from "../secret.js";

interface Entry {
  labels: Labels;
  method: string;
}

/**
 * Successful logins, remembered for a short time so that a client's burst of
 * token requests pays bcrypt (or an LDAP round trip) once. Keyed by a digest of
 * user and password under a per-process random key: the plaintext is never
 * stored, and the key dies with the instance, which is rebuilt on config reload.
 * Failures are never cached.
 */
export class CredentialCache {
  readonly #keys = new CredentialKeys();
  readonly #entries: TtlCache<Entry>;
  constructor(
    readonly ttlMs: number,
    readonly maxEntries: number,
    now: () => number = Date.now,
  ) {
    this.#entries = new TtlCache<Entry>(ttlMs, maxEntries, now);
  }

  get enabled(): boolean {
    return this.#entries.enabled;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The opaque key of user+password (a digest; see CredentialKeys). */
  key(user: string, password: Secret): string {
    return this.#keys.of(user, password);
  }

  get(user: string, password: Secret): Entry | undefined {
    return this.enabled ? this.#entries.get(this.#keys.of(user, password)) : undefined;
  }

  set(user: string, password: Secret, labels: Labels, method: string): void {
    if (this.enabled) this.#entries.set(this.#keys.of(user, password), { labels, method });
  }

  clear(): void {
    this.#entries.clear();
  }
}
