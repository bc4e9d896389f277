import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { parseListenAddress } from "../server/server.js";
import { METRICS_CONTENT_TYPE } from "./serve-metrics.js";

/** regauth's version, from the package.json beside dist/ (or the image's /app). */
export function regauthVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** `metrics.addr`: /metrics on a listener of its own (plain HTTP, meant for an internal address), nothing else. */
export async function startMetricsListener(addr: string, text: () => Promise<string>): Promise<{ address: string; close(): Promise<void> }> {
  const where = parseListenAddress(addr, "tcp");
  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    text().then(
      (body) => res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) }).end(body),
      (e: Error) => res.writeHead(503, { "content-type": "text/plain" }).end(`metrics unavailable: ${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where.port, where.host, () => resolve());
  });
  const a = server.address();
  return {
    address: typeof a === "object" && a ? `${a.address}:${a.port}` : addr,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
