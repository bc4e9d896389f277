import type { Labels } from "../../config/types.js";
import type { Logger } from "../../log.js";
import type { CredentialKind, CredentialSelector, StoredCredential, StoreHealth, TokenStore } from "../token-store.js";
import { RedisConnection } from "./connection.js";
import { deadline, decode, encode, idOfCredKey, isLive, RedisLayout } from "./layout.js";
import type { RedisStoreConfig } from "./section.js";

const SCAN_COUNT = 500;

/**
 * Credentials in Redis (one server or a Cluster), shared by every replica. Redis drops a
 * credential by itself at its deadline; reads still check `now`, since Redis's clock and
 * the caller's need not agree (and tests live in 2030).
 */
export class RedisTokenStore implements TokenStore {
  readonly backend = "redis";
  readonly #conn: RedisConnection;
  readonly #keys: RedisLayout;

  constructor(config: RedisStoreConfig, log: Logger) {
    this.#conn = new RedisConnection(config, log);
    this.#keys = new RedisLayout(config.keyPrefix);
  }

  /** Every call: wait (briefly) for a connection, and turn any failure into a StoreUnavailableError. */
  async #run<T>(body: () => Promise<T>): Promise<T> {
    try {
      await this.#conn.ready();
      return await body();
    } catch (e) {
      throw this.#conn.unavailable(e);
    }
  }

  get #c() {
    return this.#conn.client;
  }

  put(c: StoredCredential): Promise<void> {
    return this.#run(async () => {
      // The index first: a credential that exists is always found by its account (revoke by account must not miss one).
      await this.#c.regauthIndex(this.#keys.account(c.account), c.id, String(Math.ceil(c.expiresAt)));
      const key = this.#keys.cred(c.id);
      check(await this.#c.multi().del(key).hset(key, encode(c)).pexpireat(key, deadline(c.expiresAt, c.idleUntil)).exec());
    });
  }

  get(id: string, now: number): Promise<StoredCredential | undefined> {
    return this.#run(async () => {
      const c = decode(id, await this.#c.hgetall(this.#keys.cred(id)));
      return c && isLive(c, now) ? c : undefined;
    });
  }

  touch(id: string, lastUsedAt: number, idleUntil: number | null): Promise<void> {
    return this.#run(async () => {
      const idle = idleUntil === null ? "" : String(idleUntil);
      await this.#c.regauthTouch(this.#keys.cred(id), String(lastUsedAt), idle, idleUntil === null ? "" : String(Math.ceil(idleUntil)));
    });
  }

  amend(id: string, labels: Labels, attachment: string): Promise<boolean> {
    return this.#run(async () => (await this.#c.regauthAmend(this.#keys.cred(id), JSON.stringify(labels), attachment)) === 1);
  }

  list(now: number, filter: { account?: string; kind?: CredentialKind } = {}): Promise<StoredCredential[]> {
    return this.#run(async () => {
      const found = filter.account === undefined ? await this.#all() : await this.#ofAccount(filter.account);
      return found
        .filter((c) => isLive(c, now) && (filter.kind === undefined || c.kind === filter.kind))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  revoke(sel: CredentialSelector): Promise<number> {
    return this.#run(async () => {
      if ("id" in sel) {
        const key = this.#keys.cred(sel.id);
        const account = await this.#c.hget(key, "account");
        const n = await this.#c.del(key);
        if (account !== null) await this.#c.srem(this.#keys.account(account), sel.id);
        return n;
      }
      if ("account" in sel) {
        const index = this.#keys.account(sel.account);
        const ids = await this.#c.smembers(index);
        const counts = await Promise.all(
          ids.map(async (id) => {
            const key = this.#keys.cred(id);
            // A stale index entry (the id was put again for another account) must not revoke someone else's credential.
            return (await this.#c.hget(key, "account")) === sel.account ? this.#c.del(key) : 0;
          }),
        );
        // Only the ids seen: one put meanwhile keeps its entry.
        if (ids.length) await this.#c.srem(index, ...ids);
        return counts.reduce((a, b) => a + b, 0);
      }
      let n = 0;
      for await (const keys of this.#scan(this.#keys.credPattern)) n += await this.#delEach(keys);
      for await (const keys of this.#scan(this.#keys.accountPattern)) await this.#delEach(keys);
      return n;
    });
  }

  purge(now: number): Promise<number> {
    return this.#run(async () => {
      let n = 0;
      for await (const keys of this.#scan(this.#keys.credPattern)) {
        const counts = await Promise.all(
          keys.map(async (key) => {
            const [expiresAt, idleUntil, account] = await this.#c.hmget(key, "expiresAt", "idleUntil", "account");
            if (expiresAt === null || isLive({ expiresAt: Number(expiresAt), idleUntil: idleUntil ? Number(idleUntil) : null }, now)) return 0;
            const gone = await this.#c.del(key);
            const id = idOfCredKey(this.#keys, key);
            if (gone && account !== null && id !== undefined) await this.#c.srem(this.#keys.account(account), id);
            return gone;
          }),
        );
        n += counts.reduce((a, b) => a + b, 0);
      }
      return n;
    });
  }

  /** Fixed windows numbered from the epoch, as in every store; each window's counter expires by itself. */
  hit(key: string, windowMs: number, now: number): Promise<number> {
    return this.#run(async () => {
      const k = this.#keys.hit(key, Math.floor(now / windowMs));
      const replies = check(await this.#c.multi().incr(k).pexpire(k, Math.ceil(windowMs)).exec());
      return Number(replies[0]);
    });
  }

  resetHits(key: string, windowMs: number, now: number): Promise<void> {
    return this.#run(async () => {
      await this.#c.del(this.#keys.hit(key, Math.floor(now / windowMs)));
    });
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.#run(() => Promise.all(this.#conn.masters().map((n) => n.ping())));
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  async #all(): Promise<StoredCredential[]> {
    const seen = new Set<string>(); // SCAN may return a key twice
    const out: StoredCredential[] = [];
    for await (const keys of this.#scan(this.#keys.credPattern)) {
      const fresh = keys.filter((k) => !seen.has(k) && seen.add(k));
      const got = await Promise.all(fresh.map(async (k) => ({ id: idOfCredKey(this.#keys, k), h: await this.#c.hgetall(k) })));
      for (const { id, h } of got) {
        const c = id === undefined ? undefined : decode(id, h);
        if (c) out.push(c);
      }
    }
    return out;
  }

  async #ofAccount(account: string): Promise<StoredCredential[]> {
    const index = this.#keys.account(account);
    const ids = await this.#c.smembers(index);
    const got = await Promise.all(ids.map(async (id) => ({ id, c: decode(id, await this.#c.hgetall(this.#keys.cred(id))) })));
    // Ids whose credential Redis dropped (or that were revoked by id elsewhere) leave the index here.
    const gone = got.filter((g) => g.c === undefined).map((g) => g.id);
    if (gone.length) await this.#c.srem(index, ...gone);
    return got.flatMap((g) => (g.c && g.c.account === account ? [g.c] : []));
  }

  /** Keys matching `pattern` on every node that holds data, a page at a time. */
  async *#scan(pattern: string): AsyncGenerator<string[]> {
    for (const node of this.#conn.masters()) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
        cursor = next;
        if (keys.length) yield keys;
      } while (cursor !== "0");
    }
  }

  /** One DEL per key: in a cluster the keys of a page live in many slots. */
  async #delEach(keys: string[]): Promise<number> {
    const counts = await Promise.all(keys.map((k) => this.#c.del(k)));
    return counts.reduce((a, b) => a + b, 0);
  }
}

/** A MULTI's replies, or the first error in it. */
function check(replies: [Error | null, unknown][] | null): unknown[] {
  if (replies === null) throw new Error("the transaction was aborted");
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, v]) => v);
}
