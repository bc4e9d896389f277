import { parseConfig } from "../config/load.js";
import type { Logger } from "../log.js";
import type { MetricsJson } from "../metrics/serve-metrics.js";
import { RegauthServer } from "../server/server.js";

/** Primary → worker. */
export type ToWorker =
  | { type: "start"; file: string; text: string }
  | { type: "reload"; id: number; file: string; text: string }
  | { type: "shutdown" }
  /** Send this worker's metrics (for the primary's aggregate). */
  | { type: "metrics-collect"; id: number }
  /** The aggregate a `metrics-request` of this worker asked for. */
  | { type: "metrics-text"; id: number; text?: string; error?: string };
/** Worker → primary. */
export type FromWorker =
  | { type: "ready" }
  | { type: "metrics-json"; id: number; data: MetricsJson }
  /** A scrape of /metrics reached this worker: every worker's metrics, please. */
  | { type: "metrics-request"; id: number }
  | { type: "listening"; address: string; tls: boolean }
  | { type: "start-failed"; error: string }
  | { type: "reloaded"; id: number; ok: true }
  | { type: "reloaded"; id: number; ok: false; error: string };

/**
 * A cluster worker: parses the text the primary validated (never re-reading the file,
 * which may have changed since), serves it, swaps on the primary's word, and drains
 * on shutdown. Signals sent to the whole process group (Ctrl-C) are the primary's to
 * handle; the worker waits for its message.
 */
export async function runWorker(log: Logger): Promise<number> {
  const send = (m: FromWorker) => process.send?.(m);
  process.on("SIGHUP", () => {});
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => {});
  // Asked for only now: a message sent before this listener exists would be lost.
  const first = await new Promise<ToWorker>((resolve) => {
    process.once("message", (m: ToWorker) => resolve(m));
    send({ type: "ready" });
  });
  if (first.type !== "start") return 1;
  // Scrapes answered by the primary, which sums every worker's metrics and its own.
  const scrapes = new Map<number, { resolve(text: string): void; reject(e: Error): void }>();
  let scrapeIds = 0;
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const id = ++scrapeIds;
      scrapes.set(id, { resolve, reject });
      send({ type: "metrics-request", id });
    });
  let server: RegauthServer;
  try {
    server = await RegauthServer.start(await parseConfig(first.file, first.text), log, { removeStaleSocket: false, metricsText });
  } catch (e) {
    send({ type: "start-failed", error: (e as Error).message });
    return 1;
  }
  send({ type: "listening", address: server.addressText(), tls: server.tls });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      // The IPC channel would keep this process alive: let go of it once drained.
      void server.close().then(() => {
        if (process.connected) process.disconnect();
        resolve(0);
      });
    };
    process.on("message", (m: ToWorker) => {
      if (m.type === "shutdown") stop();
      else if (m.type === "metrics-collect") void server.metrics.registry.getMetricsAsJSON().then((data) => send({ type: "metrics-json", id: m.id, data }));
      else if (m.type === "metrics-text") {
        const s = scrapes.get(m.id);
        scrapes.delete(m.id);
        if (m.text !== undefined) s?.resolve(m.text);
        else s?.reject(new Error(m.error ?? "the primary sent no metrics"));
      }
      else if (m.type === "reload")
        void parseConfig(m.file, m.text)
          .then((c) => server.reload(c))
          .then(
            () => send({ type: "reloaded", id: m.id, ok: true }),
            (e: Error) => send({ type: "reloaded", id: m.id, ok: false, error: e.message }),
          );
    });
    // The primary is gone (killed): nobody will tell us to stop, so stop now.
    process.on("disconnect", stop);
  });
}
