import cluster from "node:cluster";
import { access, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import { ConfigSource, loadConfigText, type LoadedConfig } from "../runtime/config-source.js";
import { usableCpus } from "../runtime/cpus.js";
import { ClusterPrimary } from "../runtime/primary.js";
import { runWorker } from "../runtime/worker.js";
import { startMetricsListener, regauthVersion } from "../metrics/metrics-listener.js";
import type { RequestMetrics } from "../metrics/request-metrics.js";
import { aggregateMetrics, ServeMetrics } from "../metrics/serve-metrics.js";
import { RegauthServer } from "../server/server.js";
import { prepareDefaultConfig } from "./default-config.js";
import { registryConfigBlock } from "./registry-block.js";

function refuse(e: unknown): number {
  if (e instanceof ConfigError) process.stderr.write(`regauth: the config cannot be used:\n${e.message}\n`);
  else process.stderr.write(`regauth: cannot start: ${(e as Error).message}\n`);
  return 1;
}

async function loadStartConfig(args: string[]): Promise<{ file?: string; loaded: LoadedConfig; passwordFile?: string }> {
  let file = args[0];
  if (!file && (await access("regauth.yml").then(() => true, () => false))) file = "regauth.yml";
  if (file) return { file, loaded: await loadConfigText(file) };
  const dataDir = process.env.REGAUTH_DATA_DIR ?? "regauth-data";
  const d = await prepareDefaultConfig(dataDir);
  const config = await parseConfig("<embedded default>", d.text);
  await writeFile(join(resolve(dataDir), "regauth.default.yml"), d.text);
  return { loaded: { config, text: d.text, fingerprint: "" }, passwordFile: d.passwordFile };
}

function banner(config: Config, address: string, tls: boolean, workers: number, passwordFile?: string): string {
  const bundle = config.token.certificate ?? config.server.certificate!;
  return (
    `regauth is serving on ${address} (${tls ? "https" : "http"}, ${workers} worker${workers === 1 ? "" : "s"}).\n` +
    `Paste this into the registry's config.yml:\n\n${registryConfigBlock(config, { bundle, jwks: join(dirname(bundle), "jwks.json") })}\n` +
    (passwordFile ? `Embedded default config: log in as "admin" with the password in ${passwordFile}\n` : "")
  );
}

function untilSignal(log: Logger, onStop: (signal: string) => Promise<void>): Promise<void> {
  return new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      void onStop(signal).then(resolveStop);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

function reportReload(log: Logger, file: string, metrics: ServeMetrics) {
  return (o: { ok: true; why: string; skipped?: boolean } | { ok: false; why: string; error: Error }) => {
    metrics.reload(!o.ok ? "failed" : o.skipped ? "unchanged" : "ok");
    if (!o.ok) log.error({ file, why: o.why, error: o.error.message }, "config reload failed; still running the previous config");
    else if (o.skipped) log.info({ file, why: o.why }, "config unchanged; nothing to reload");
    else log.info({ file, why: o.why }, "config reloaded");
  };
}

/**
 * `regauth serve [CONFIG]`. With `server.workers` above 1 (the default is one per
 * usable CPU) this process becomes a cluster primary and the workers serve; with 1
 * it serves itself.
 */
export async function serve(args: string[]): Promise<number> {
  const log = createLogger();
  if (cluster.isWorker && process.env.REGAUTH_CLUSTER_WORKER === "1") return runWorker(log);
  let start: Awaited<ReturnType<typeof loadStartConfig>>;
  try {
    start = await loadStartConfig(args);
  } catch (e) {
    return refuse(e);
  }
  const { file, loaded, passwordFile } = start;
  const config = loaded.config;
  for (const w of config.warnings) log.warn(w);
  const workers = config.server.workers ?? usableCpus();

  // Either way, one thing serves: reloads, signals and metrics are handled the same for both.
  const serveMetrics = new ServeMetrics(regauthVersion());
  let serving: { address: string; tls: boolean; reload(next: LoadedConfig): Promise<void>; stop(): Promise<void>; metricsText(): Promise<string> };
  try {
    if (workers > 1) {
      const { primary, ready } = await ClusterPrimary.start(loaded, workers, log, serveMetrics);
      serving = { ...ready, reload: (next) => primary.reload(next), stop: () => primary.shutdown(), metricsText: () => primary.metricsText() };
    } else {
      const both = async (own: RequestMetrics) => aggregateMetrics([await own.registry.getMetricsAsJSON(), await serveMetrics.registry.getMetricsAsJSON()]);
      const server = await RegauthServer.start(config, log, { metricsText: both });
      serving = { address: server.addressText(), tls: server.tls, reload: (next) => server.reload(next.config), stop: () => server.close(), metricsText: () => both(server.metrics) };
    }
  } catch (e) {
    return refuse(e);
  }
  // metrics.addr is read at start: moving it takes a restart.
  let metricsListener: Awaited<ReturnType<typeof startMetricsListener>> | undefined;
  if (config.metrics.enabled && config.metrics.addr) {
    try {
      metricsListener = await startMetricsListener(config.metrics.addr, () => serving.metricsText());
      log.info({ address: metricsListener.address }, "metrics served on their own listener");
    } catch (e) {
      await serving.stop();
      return refuse(new ConfigError([{ ...config.where(["metrics", "addr"]), message: `cannot listen on ${config.metrics.addr}: ${(e as Error).message}` }]));
    }
  }
  process.stderr.write(banner(config, serving.address, serving.tls, workers, passwordFile));
  const source = file ? new ConfigSource(file, loaded, (next) => serving.reload(next), reportReload(log, file, serveMetrics)) : undefined;
  process.on("SIGHUP", () => void source?.trigger("SIGHUP"));
  await untilSignal(log, async () => {
    source?.close();
    await metricsListener?.close();
    await serving.stop();
  });
  exitSoon();
  return 0;
}

/** Everything is stopped; should a stray handle (a plugin's timer, say) still hold the process, exit anyway. */
function exitSoon(): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}
