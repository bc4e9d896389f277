import { createHmac, randomBytes } from "node:crypto";
import type { Labels } from "../config/types.js";
import type { Secret } from "../secret.js";

interface Entry {
  expires: number;
  labels: Labels;
  method: string;
}

/**
 * Successful logins, remembered for a short time so that a client's burst of
 * token requests pays bcrypt (or an LDAP round trip) once. Keyed by an HMAC of
 * user and password under a per-process random key: the plaintext is never
 * stored, and the key dies with the instance, which is rebuilt on config reload.
 * Failures are never cached.
 */
export class CredentialCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Entry>();
  constructor(
    readonly ttlMs: number,
    readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    // maxEntries < 1 can hold nothing (and would make set() loop forever evicting from an empty map).
    return this.ttlMs > 0 && this.maxEntries >= 1;
  }

  get size(): number {
    return this.#entries.size;
  }

  #id(user: string, password: Secret): string {
    // The user's length first: with a bare separator, user "a\0b" + password "c" and
    // user "a" + password "b\0c" would share an entry (a user name may contain NUL).
    return createHmac("sha256", this.#key).update(`${Buffer.byteLength(user)}:`).update(user).update(password.reveal()).digest("base64url");
  }

  get(user: string, password: Secret): Entry | undefined {
    if (!this.enabled) return undefined;
    const id = this.#id(user, password);
    const e = this.#entries.get(id);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return e;
  }

  set(user: string, password: Secret, labels: Labels, method: string): void {
    if (!this.enabled) return;
    const id = this.#id(user, password);
    this.#entries.delete(id);
    while (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(id, { expires: this.now() + this.ttlMs, labels, method });
  }

  clear(): void {
    this.#entries.clear();
  }
}
