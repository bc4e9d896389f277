import { Worker } from "node:worker_threads";
import { StoreUnavailableError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { CredentialKind, CredentialSelector, StoredCredential, StoreHealth, TokenStore } from "../token-store.js";

type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/**
 * The embedded token store: a SQLite file owned by a worker thread (see sqlite-worker.ts),
 * so the event loop only posts messages. One per process; several processes (a server's
 * workers, the CLI) share the file through SQLite's own locking.
 */
export class SqliteTokenStore implements TokenStore {
  readonly backend = "sqlite";
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  #start(): Worker {
    const w = new Worker(new URL("./sqlite-worker.js", import.meta.url), { workerData: { path: this.path } });
    w.on("message", (a: Answer) => {
      const p = this.#pending.get(a.id);
      if (!p) return;
      this.#pending.delete(a.id);
      if (this.#pending.size === 0) w.unref();
      if (a.ok) p.resolve(a.value);
      else p.reject(new StoreUnavailableError("sqlite", `${this.path}: ${a.error}`));
    });
    // A thread that dies (out of memory, a native crash) fails what it held; the next call starts another.
    const fail = (why: string) => {
      if (this.#worker === w) this.#worker = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(new StoreUnavailableError("sqlite", `${this.path}: ${why}`));
      }
    };
    w.on("error", (e) => {
      this.log.error({ store: "sqlite", err: e }, "token store thread failed");
      fail(e.message);
    });
    w.on("exit", (code) => fail(`store thread exited (${code})`));
    w.unref();
    return w;
  }

  #call<T>(op: string, ...args: unknown[]): Promise<T> {
    const w = (this.#worker ??= this.#start());
    const id = ++this.#next;
    // Referenced only while an answer is awaited: an idle store keeps no process alive.
    if (this.#pending.size === 0) w.ref();
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ id, op, args });
    });
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
  async health(): Promise<StoreHealth> {
    try {
      await this.#call("ping");
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    await this.#call("close").catch(() => {});
    this.#worker = undefined;
    await w.terminate();
  }
}
