import { readFile, rm, stat } from "node:fs/promises";
import { createServer as createHttp, type Server } from "node:http";
import { createServer as createHttps, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { buildApp, type App } from "../app.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";
import { createHandler } from "./handler.js";

export interface ListenAddress {
  host?: string;
  port?: number;
  path?: string;
}

/** docker_auth's `addr`: `:5001` (all interfaces), `host:port`, `[v6]:port`, or a socket path with net: unix. */
export function parseListenAddress(addr: string, net: "tcp" | "unix"): ListenAddress {
  if (net === "unix") return { path: addr };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`server.addr ${JSON.stringify(addr)} must be host:port or :port`);
  const host = m[1] ?? m[2];
  return { host: host === "" ? undefined : host, port: Number(m[3]) };
}

async function tlsOptions(cfg: Config) {
  const s = cfg.server;
  return {
    cert: await readFile(s.certificate!),
    key: await readFile(s.key!),
    minVersion: s.tls.minVersion,
    ...(s.tls.ciphers ? { ciphers: s.tls.ciphers, honorCipherOrder: true } : {}),
    ...(s.tls.ecdhCurve ? { ecdhCurve: s.tls.ecdhCurve } : {}),
  };
}

/** A running regauth: listener plus the current App, which `reload` swaps without dropping requests. */
export class RegauthServer {
  #app: App;
  readonly #server: Server | HttpsServer;
  readonly #log: Logger;

  private constructor(app: App, server: Server | HttpsServer, log: Logger) {
    this.#app = app;
    this.#server = server;
    this.#log = log;
  }

  static async start(config: Config, log: Logger): Promise<RegauthServer> {
    const app = await buildApp(config, log);
    let current: RegauthServer | undefined;
    const handler = createHandler(() => current!.#app, log);
    const onRequest = (req: Parameters<typeof handler>[0], res: Parameters<typeof handler>[1]) => void handler(req, res);
    const server = config.server.certificate ? createHttps(await tlsOptions(config), onRequest) : createHttp(onRequest);
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      // Malformed HTTP (Node's parser refused it): answer 400 with a JSON reason when the socket is still usable.
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      const body = JSON.stringify({ errors: [{ code: status === 431 ? "HEADERS_TOO_LARGE" : "BAD_REQUEST", message: status === 431 ? "request headers are too large" : `malformed HTTP request: ${err.code ?? err.message}` }] });
      socket.end(`HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    if ("on" in server) server.on("tlsClientError", (err: Error, s: TLSSocket) => log.debug({ err: err.message, ip: s.remoteAddress }, "TLS handshake failed"));
    const where = parseListenAddress(config.server.addr, config.server.net);
    if (where.path) {
      // docker_auth removes a stale socket file before listening.
      if (await stat(where.path).then((s) => s.isSocket(), () => false)) await rm(where.path);
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const done = () => {
        server.off("error", reject);
        resolve();
      };
      if (where.path) server.listen(where.path, done);
      else server.listen(where.port, where.host, done);
    });
    current = new RegauthServer(app, server, log);
    return current;
  }

  get app(): App {
    return this.#app;
  }

  /** The bound address (for `:0` in tests) or the socket path. */
  address(): AddressInfo | string {
    const a = this.#server.address();
    if (a === null) throw new Error("server is not listening");
    return a;
  }

  get tls(): boolean {
    return "setSecureContext" in this.#server;
  }

  /**
   * Build a new App from `config` and swap it in; on any error the running one
   * stays. The listen address cannot change without a restart.
   */
  async reload(config: Config): Promise<void> {
    const next = await buildApp(config, this.#log);
    if (config.server.addr !== this.#app.config.server.addr || config.server.net !== this.#app.config.server.net)
      this.#log.warn({ addr: config.server.addr }, "server.addr changed: restart regauth to listen there; still serving on the old address");
    if (this.tls && config.server.certificate) (this.#server as HttpsServer).setSecureContext(await tlsOptions(config));
    const old = this.#app;
    this.#app = next;
    await old.stop();
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections?.();
    });
    await this.#app.stop();
  }
}
