import { Worker } from "node:worker_threads";
import type { Logger } from "../log.js";

type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/**
 * Calls into a worker thread that owns something synchronous (a SQLite file): messages
 * `{ id, op, ...args }` out, `{ id, ok, value | error }` back. The thread starts on first use
 * and again after it dies (what it held fails); it keeps the process alive only while an
 * answer is awaited.
 */
export class ThreadCalls {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(
    private readonly script: URL,
    private readonly workerData: unknown,
    /** The error a failed call rejects with, from the thread's message. */
    private readonly failure: (message: string) => Error,
    private readonly log: Logger,
    private readonly logFields: Record<string, unknown>,
  ) {}

  #start(): Worker {
    const w = new Worker(this.script, { workerData: this.workerData });
    w.on("message", (a: Answer) => {
      const p = this.#pending.get(a.id);
      if (!p) return;
      this.#pending.delete(a.id);
      if (this.#pending.size === 0) w.unref();
      if (a.ok) p.resolve(a.value);
      else p.reject(this.failure(a.error));
    });
    const fail = (why: string) => {
      if (this.#worker === w) this.#worker = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(this.failure(why));
      }
    };
    w.on("error", (e) => {
      this.log.error({ ...this.logFields, err: e }, "database thread failed");
      fail(e.message);
    });
    w.on("exit", (code) => fail(`database thread exited (${code})`));
    w.unref();
    return w;
  }

  call<T>(message: { op: string } & Record<string, unknown>): Promise<T> {
    const w = (this.#worker ??= this.#start());
    const id = ++this.#next;
    if (this.#pending.size === 0) w.ref();
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...message, id });
    });
  }

  /** Asks the thread to close its handle (`{ op: "close" }`), then ends it. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    await this.call({ op: "close" }).catch(() => {});
    this.#worker = undefined;
    await w.terminate();
  }
}
