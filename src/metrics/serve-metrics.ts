import { AggregatorRegistry, Counter, Gauge, Registry } from "prom-client";

/** One process's metrics as `registry.getMetricsAsJSON()` gives them (plain data: it crosses IPC). */
export type MetricsJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** The metrics of `regauth serve` itself (the primary, or the single process): reloads and build info. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly #reloads: Counter<"result">;

  constructor(version: string) {
    const registers = [this.registry];
    this.#reloads = new Counter({ name: "regauth_config_reloads_total", help: "Config reloads by result: ok, failed (the previous config kept serving), unchanged.", labelNames: ["result"], registers });
    const info = new Gauge({ name: "regauth_build_info", help: "1, labelled with regauth's version and the Node.js version.", labelNames: ["version", "node"], registers, aggregator: "first" });
    info.set({ version, node: process.version }, 1);
  }

  reload(result: "ok" | "failed" | "unchanged"): void {
    this.#reloads.inc({ result });
  }
}

/** Several processes' metrics (as getMetricsAsJSON gives them) as one exposition text: counters and histograms summed. */
export async function aggregateMetrics(parts: MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate(parts).metrics();
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
