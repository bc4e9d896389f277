import type { Labels } from "../../config/types.js";
import { StoreUnavailableError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { ThreadCalls } from "../../runtime/thread-calls.js";
import type { CredentialKind, CredentialSelector, StoredCredential, StoreHealth, TokenStore } from "../token-store.js";

/**
 * The embedded token store: a SQLite file owned by a worker thread (see sqlite-worker.ts),
 * so the event loop only posts messages. One per process; several processes (a server's
 * workers, the CLI) share the file through SQLite's own locking.
 */
export class SqliteTokenStore implements TokenStore {
  readonly backend = "sqlite";
  readonly #thread: ThreadCalls;

  constructor(
    readonly path: string,
    log: Logger,
  ) {
    this.#thread = new ThreadCalls(new URL("./sqlite-worker.js", import.meta.url), { path }, (why) => new StoreUnavailableError("sqlite", `${path}: ${why}`), log, { store: "sqlite" });
  }

  #call<T>(op: string, ...args: unknown[]): Promise<T> {
    return this.#thread.call<T>({ op, args });
  }

  put(c: StoredCredential): Promise<void> {
    return this.#call("put", c);
  }
  async get(id: string, now: number): Promise<StoredCredential | undefined> {
    return (await this.#call<StoredCredential | undefined>("get", id, now)) ?? undefined;
  }
  touch(id: string, lastUsedAt: number, idleUntil: number | null): Promise<void> {
    return this.#call("touch", id, lastUsedAt, idleUntil);
  }
  list(now: number, filter?: { account?: string; kind?: CredentialKind }): Promise<StoredCredential[]> {
    return this.#call("list", now, filter);
  }
  revoke(sel: CredentialSelector): Promise<number> {
    return this.#call("revoke", sel);
  }
  purge(now: number): Promise<number> {
    return this.#call("purge", now);
  }
  hit(key: string, windowMs: number, now: number): Promise<number> {
    return this.#call("hit", key, windowMs, now);
  }

  amend(id: string, labels: Labels, attachment: string): Promise<boolean> {
    return this.#call("amend", id, labels, attachment);
  }

  resetHits(key: string, windowMs: number, now: number): Promise<void> {
    return this.#call("resetHits", key, windowMs, now);
  }
  async health(): Promise<StoreHealth> {
    try {
      await this.#call("ping");
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }
  close(): Promise<void> {
    return this.#thread.close();
  }
}
