import { optBool, optText } from "../config/fields.js";
import type { SectionContext } from "../config/section.js";

/** regauth addition: Prometheus metrics. */
export const metricsShape = {
  /** Default true. */
  enabled: optBool,
  /** `host:port` to serve /metrics on its own listener (then not on the main one), so that it need not face clients. */
  addr: optText,
};

export interface MetricsConfig {
  enabled: boolean;
  /** Its own listener; undefined: `{path_prefix}/metrics` on the main one. */
  addr?: string;
}

export function buildMetrics(raw: { enabled?: boolean; addr?: string } | undefined, ctx: SectionContext): MetricsConfig {
  const addr = raw?.addr === "" ? undefined : raw?.addr;
  if (addr !== undefined && !/^(?:\[[0-9a-fA-F:.]+\]|[^:[\]]*):\d{1,5}$/.test(addr)) ctx.add(["metrics", "addr"], `"${addr}" is not host:port (or :port)`);
  return { enabled: raw?.enabled ?? true, addr };
}
