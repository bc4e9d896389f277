import { createHash } from "node:crypto";

/** How failed logins are limited, for one kind of key (an account, or a client address). */
export interface FailureLimit {
  /** Failures within `windowMs` that lock the key. */
  maxFailures: number;
  windowMs: number;
  /** The first lockout; each further one within the window doubles it, up to `maxLockoutMs`. */
  lockoutMs: number;
  maxLockoutMs: number;
}

interface KeyState {
  /** Failure times inside the window, oldest first (at most maxFailures kept). */
  failures: number[];
  lockedUntil: number;
  /** Lockouts so far: the next lasts lockoutMs * 2^strikes. */
  strikes: number;
  /** When the state may be forgotten. */
  expires: number;
}

/**
 * Failed-login counters for one kind of key: a sliding window of failure times, and a
 * lockout that doubles with each repeat. Bounded: at most `maxKeys` keys are kept (the
 * oldest forgotten first), so a flood of distinct names cannot grow memory without end.
 */
export class FailureCounter {
  readonly #keys = new Map<string, KeyState>();

  constructor(
    /** Replaced by a reload; the counts stay. */
    public limit: FailureLimit,
    readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#keys.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const s = this.#live(key);
    return s ? Math.max(0, s.lockedUntil - this.now()) : 0;
  }

  failure(key: string): void {
    const now = this.now();
    const { maxFailures, windowMs, lockoutMs, maxLockoutMs } = this.limit;
    let s = this.#live(key);
    if (!s) {
      s = { failures: [], lockedUntil: 0, strikes: 0, expires: 0 };
      while (this.#keys.size >= this.maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
    }
    this.#keys.delete(key);
    s.failures = s.failures.filter((t) => now - t < windowMs);
    s.failures.push(now);
    if (s.failures.length >= maxFailures) {
      s.lockedUntil = now + Math.min(lockoutMs * 2 ** s.strikes, maxLockoutMs);
      s.strikes++;
      // The window starts again after a lockout: the next maxFailures tries earn the next, longer one.
      s.failures = [];
    }
    s.expires = Math.max(s.lockedUntil, now) + windowMs + maxLockoutMs;
    this.#keys.set(key, s);
  }

  /**
   * What another replica counted: `count` failures of `key` in the shared window. At the
   * limit, the key is locked here too (a lockout of the current length).
   */
  sharedCount(key: string, count: number): void {
    if (count < this.limit.maxFailures || this.retryAfterMs(key) > 0) return;
    const s = this.#live(key);
    const missing = this.limit.maxFailures - (s?.failures.length ?? 0);
    for (let i = 0; i < missing; i++) this.failure(key);
  }

  /** A success forgets the key's failures and lockouts; answers whether there was anything to forget. */
  reset(key: string): boolean {
    return this.#keys.delete(key);
  }

  #live(key: string): KeyState | undefined {
    const s = this.#keys.get(key);
    if (s && s.expires <= this.now()) {
      this.#keys.delete(key);
      return undefined;
    }
    return s;
  }
}

/** The counts every replica shares (the token store's `hit` and `resetHits`). */
export interface SharedCounts {
  /** Counts one failure under `key` and answers the count in the window. */
  hit(key: string, windowMs: number): Promise<number>;
  /** Forgets the count of `key` in the current window. */
  reset(key: string, windowMs: number): Promise<void>;
}

const sharedKey = (kind: string, key: string) => `login-failures:${kind}:${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;

/** The two counters a password login passes: its account and its client address. */
export class LoginLimiter {
  readonly accounts: FailureCounter;
  readonly addresses: FailureCounter;

  constructor(account: FailureLimit, address: FailureLimit, maxKeys: number, now: () => number = Date.now) {
    this.accounts = new FailureCounter(account, maxKeys, now);
    this.addresses = new FailureCounter(address, maxKeys, now);
  }

  /** New limits from a reloaded config; the failures counted so far stay. */
  configure(account: FailureLimit, address: FailureLimit): void {
    this.accounts.limit = account;
    this.addresses.limit = address;
  }

  /** Seconds to wait (for Retry-After), or 0. An account that does not exist is locked like one that does. */
  retryAfter(account: string, ip: string | undefined): number {
    const ms = Math.max(this.accounts.retryAfterMs(account), ip ? this.addresses.retryAfterMs(ip) : 0);
    return Math.ceil(ms / 1000);
  }

  /**
   * One failed login. With `shared` (a store that replicas share), the failure is counted
   * there too, and a count at the limit locks the key here: every replica stops within one
   * attempt of the limit. A store that cannot answer leaves the local count to decide.
   */
  async failure(account: string, ip: string | undefined, shared?: SharedCounts): Promise<void> {
    this.accounts.failure(account);
    if (ip) this.addresses.failure(ip);
    if (!shared) return;
    const count = (c: FailureCounter, kind: string, key: string) =>
      shared.hit(sharedKey(kind, key), c.limit.windowMs).then(
        (n) => c.sharedCount(key, n),
        () => undefined,
      );
    await Promise.all([count(this.accounts, "account", account), ip ? count(this.addresses, "address", ip) : undefined]);
  }

  /**
   * The account's counter is reset; the address's is not, or one valid account would let its
   * owner reset the counter of an address guessing at others. With `shared`, the count every
   * replica sees is reset too, when this node counted failures of the account or `proven` says
   * the password was really checked (not a credential-cache hit): a cached login, the hot
   * path, costs the store nothing, and the first real check after failures elsewhere resets
   * them. A store that cannot answer leaves its count to expire with its window.
   */
  success(account: string, shared?: SharedCounts, proven = true): Promise<void> | undefined {
    const hadFailures = this.accounts.reset(account);
    // Undefined when there is nothing to wait for: a cached login stays synchronous.
    if (!shared || !(hadFailures || proven)) return undefined;
    return shared.reset(sharedKey("account", account), this.accounts.limit.windowMs).catch(() => undefined);
  }
}
