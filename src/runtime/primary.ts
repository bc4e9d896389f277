import cluster, { type Worker } from "node:cluster";
import { buildApp } from "../app.js";
import type { Logger } from "../log.js";
import { parseListenAddress, removeStaleSocket } from "../server/server.js";
import { aggregateMetrics, type MetricsJson, type ServeMetrics } from "../metrics/serve-metrics.js";
import type { LoadedConfig } from "./config-source.js";
import { workerExecArgv } from "./node-flags.js";
import type { FromWorker, ToWorker } from "./worker.js";

/** The primary's one full check of a config (keys, patterns, backends' own validation): built, then stopped. */
async function validate(loaded: LoadedConfig, log: Logger): Promise<void> {
  const probe = await buildApp(loaded.config, log);
  await probe.stop();
}

export interface ClusterReady {
  address: string;
  tls: boolean;
}

/**
 * The cluster primary: it serves nothing itself. It validates each config once,
 * hands the validated text to its workers, keeps their number up (a worker that
 * dies is replaced), and on shutdown tells them to drain and waits, within a bound.
 */
export class ClusterPrimary {
  readonly #workers = new Set<Worker>();
  /** Workers that have started serving; one still starting gets the newest config in its start message. */
  readonly #serving = new Set<Worker>();
  #loaded: LoadedConfig;
  #stopping = false;
  #reloadId = 0;
  /** Recent unexpected exits, to slow a crash loop down instead of forking as fast as the CPU allows. */
  #crashes: number[] = [];

  #collectIds = 0;

  private constructor(
    loaded: LoadedConfig,
    readonly size: number,
    private readonly log: Logger,
    private readonly serveMetrics: ServeMetrics,
  ) {
    this.#loaded = loaded;
  }

  static async start(loaded: LoadedConfig, size: number, log: Logger, serveMetrics: ServeMetrics): Promise<{ primary: ClusterPrimary; ready: ClusterReady }> {
    // Validate fully (keys, patterns, backends) before forking anything.
    await validate(loaded, log);
    const p = new ClusterPrimary(loaded, size, log, serveMetrics);
    const s = loaded.config.server;
    // Once, here: workers share the primary's listening socket.
    if (s.net === "unix") await removeStaleSocket(parseListenAddress(s.addr, s.net).path!);
    const started = await Promise.allSettled(Array.from({ length: size }, () => p.#fork()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await p.shutdown();
      throw failed.reason;
    }
    return { primary: p, ready: (started[0] as PromiseFulfilledResult<ClusterReady>).value };
  }

  get workers(): number {
    return this.#workers.size;
  }

  /**
   * Every serving worker's metrics and the primary's own, summed into one exposition. A
   * worker that does not answer within a second is left out of this scrape, not waited on.
   */
  async metricsText(): Promise<string> {
    const id = ++this.#collectIds;
    const parts = await Promise.all(
      [...this.#serving].map(
        (w) =>
          new Promise<MetricsJson | undefined>((resolve) => {
            const done = (data: MetricsJson | undefined) => {
              clearTimeout(timer);
              w.off("message", onMessage);
              resolve(data);
            };
            const onMessage = (m: FromWorker) => {
              if (m.type === "metrics-json" && m.id === id) done(m.data);
            };
            const timer = setTimeout(() => done(undefined), 1000);
            w.on("message", onMessage);
            w.send({ type: "metrics-collect", id } satisfies ToWorker);
          }),
      ),
    );
    return aggregateMetrics([...parts.filter((p): p is MetricsJson => p !== undefined), await this.serveMetrics.registry.getMetricsAsJSON()]);
  }

  #fork(): Promise<ClusterReady> {
    cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
    const w = cluster.fork({ REGAUTH_CLUSTER_WORKER: "1" });
    this.#workers.add(w);
    const send = (m: ToWorker) => w.send(m);
    let startedWith: LoadedConfig | undefined;
    const onReady = (m: FromWorker) => {
      if (m.type !== "ready") return;
      w.off("message", onReady);
      startedWith = this.#loaded;
      send({ type: "start", file: startedWith.config.file, text: startedWith.text });
    };
    w.on("message", onReady);
    // A scrape that reached this worker: answer it with everyone's metrics.
    w.on("message", (m: FromWorker) => {
      if (m.type !== "metrics-request") return;
      this.metricsText().then(
        (text) => w.isConnected() && w.send({ type: "metrics-text", id: m.id, text } satisfies ToWorker),
        (e: Error) => w.isConnected() && w.send({ type: "metrics-text", id: m.id, error: e.message } satisfies ToWorker),
      );
    });
    w.once("exit", (code, signal) => {
      this.#workers.delete(w);
      this.#serving.delete(w);
      if (this.#stopping) return;
      this.log.error({ worker: w.process.pid, code, signal }, "worker exited unexpectedly; starting a new one");
      const now = Date.now();
      this.#crashes = [...this.#crashes.filter((t) => now - t < 10_000), now];
      const delay = this.#crashes.length > 3 ? 2000 : 0;
      setTimeout(() => {
        if (!this.#stopping) this.#fork().catch((e: Error) => this.log.error({ error: e.message }, "replacement worker failed to start"));
      }, delay).unref();
    });
    return new Promise<ClusterReady>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === "listening") {
          w.off("message", onMessage);
          this.#serving.add(w);
          // A reload that ran while this worker was starting did not reach it.
          if (startedWith !== this.#loaded) w.send({ type: "reload", id: 0, file: this.#loaded.config.file, text: this.#loaded.text } satisfies ToWorker);
          resolve({ address: m.address, tls: m.tls });
        } else if (m.type === "start-failed") {
          w.off("message", onMessage);
          reject(new Error(m.error));
        }
      };
      w.on("message", onMessage);
      w.once("exit", (code) => reject(new Error(`worker exited with status ${code} before listening`)));
    });
  }

  /** Validate `next` here, then have every worker swap to it; throws when any could not. */
  async reload(next: LoadedConfig): Promise<void> {
    await validate(next, this.log);
    this.#loaded = next;
    const id = ++this.#reloadId;
    const answers = await Promise.all(
      [...this.#serving].map(
        (w) =>
          new Promise<string | undefined>((resolve) => {
            const onMessage = (m: FromWorker) => {
              if (m.type === "reloaded" && m.id === id) {
                w.off("message", onMessage);
                w.off("exit", onExit);
                resolve(m.ok ? undefined : `worker ${w.process.pid}: ${m.error}`);
              }
            };
            // A worker that dies mid-reload is replaced and starts on the new config.
            const onExit = () => resolve(undefined);
            w.on("message", onMessage);
            w.once("exit", onExit);
            w.send({ type: "reload", id, file: next.config.file, text: next.text } satisfies ToWorker);
          }),
      ),
    );
    const errors = answers.filter((a): a is string => a !== undefined);
    if (errors.length) throw new Error(`some workers kept the previous config:\n${errors.join("\n")}`);
  }

  /** Tell every worker to drain and exit; kill what is left after the bound. */
  async shutdown(boundMs = this.#loaded.config.server.drainTimeoutMs + 5000): Promise<void> {
    this.#stopping = true;
    const all = [...this.#workers];
    const exited = Promise.all(all.map((w) => (w.isDead() ? undefined : new Promise<void>((r) => w.once("exit", () => r())))));
    for (const w of all) if (w.isConnected()) w.send({ type: "shutdown" } satisfies ToWorker);
    const timer = setTimeout(() => {
      for (const w of all) if (!w.isDead()) w.process.kill("SIGKILL");
    }, boundMs);
    await exited;
    clearTimeout(timer);
  }
}
