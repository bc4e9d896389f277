import { readFile, rm, stat } from "node:fs/promises";
import { createServer as createHttp, type IncomingMessage, type Server, type ServerOptions } from "node:http";
import { createServer as createHttps, type Server as HttpsServer } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import { createSecureContext, type SecureContextOptions, type TLSSocket } from "node:tls";
import { buildApp, type App, type ServingState } from "../app.js";
import { passwordGate } from "../authn/bcrypt.js";
import { usableCpus } from "../runtime/cpus.js";
import { LoginLimiter } from "../limits/login-limiter.js";
import type { Config } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { logSink } from "../events/log-sink.js";
import { fanOut, type EventSink } from "../events/token-event.js";
import { RequestMetrics } from "../metrics/request-metrics.js";
import type { Logger } from "../log.js";
import { SharedResources } from "../runtime/shared-resources.js";
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

/** The listener's TLS settings; an unreadable file is a config error at the key that names it. */
async function tlsOptions(cfg: Config): Promise<SecureContextOptions & { minVersion: Config["server"]["tls"]["minVersion"] }> {
  const s = cfg.server;
  const read = async (key: "certificate" | "key", file: string) => {
    try {
      return await readFile(file);
    } catch (e) {
      throw new ConfigError([{ ...cfg.where(["server", key]), message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
    }
  };
  const opts = {
    cert: await read("certificate", s.certificate!),
    key: await read("key", s.key!),
    minVersion: s.tls.minVersion,
    ...(s.tls.ciphers ? { ciphers: s.tls.ciphers, honorCipherOrder: true } : {}),
    ...(s.tls.ecdhCurve ? { ecdhCurve: s.tls.ecdhCurve } : {}),
  };
  try {
    // Build the context now, so a key that does not match its certificate fails the load, not a handshake.
    createSecureContext(opts);
  } catch (e) {
    throw new ConfigError([{ ...cfg.where(["server", "certificate"]), message: `the TLS certificate and key cannot be used: ${(e as Error).message}` }]);
  }
  return opts;
}

/** A small JSON answer written straight to a socket, for requests Node's parser or router never hands to us. */
function rawAnswer(socket: Socket, status: number, reason: string, code: string, message: string, extra = ""): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`);
}

/** Limits against slow or idle clients (see the README's "Limits" section). */
export const HTTP_LIMITS = {
  /** All request headers must arrive within this. */
  headersTimeoutMs: 10_000,
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** How often those timeouts are checked; Node's default of 30 s lets a slow client hold on for up to 40 s. */
  checkIntervalMs: 1_000,
} as const;

export interface StartOptions {
  /** Where request events go besides the metrics; the request log by default. */
  events?: EventSink;
  /** How `/metrics` is answered; this process's metrics by default (a cluster worker asks its primary for all workers'). */
  metricsText?: (own: RequestMetrics) => Promise<string>;
  /** Remove a stale unix socket before listening (false in cluster workers: the primary did it once). */
  removeStaleSocket?: boolean;
}

/**
 * The process's bound on bcrypt work, from `server.max_password_checks` and
 * `max_waiting_password_checks`. By default one check fewer than this process's share of the
 * CPUs, and at least one: bcrypt threads share the cores with the event loop, which must keep
 * answering cached logins and anonymous pulls (measured in bench: two checks on one core
 * starve it, one does not).
 */
function setPasswordChecks(config: Config): void {
  const cpus = usableCpus();
  const share = Math.floor(cpus / Math.min(config.server.workers ?? cpus, cpus));
  passwordGate.running = config.server.passwordChecks.running ?? Math.max(1, share - 1);
  passwordGate.waiting = config.server.passwordChecks.waiting;
}

/** One process's metrics as exposition text. */
const ownMetricsText = (m: RequestMetrics): Promise<string> => m.registry.metrics();

/** A running regauth: listener plus the current App, which `reload` swaps without dropping requests. */
export class RegauthServer {
  #app: App;
  readonly #server: Server | HttpsServer;
  readonly #log: Logger;
  readonly #shared: SharedResources;
  #closing = false;
  #reloads: Promise<unknown> = Promise.resolve();
  /** This process's metrics and failed-login counters: they outlive reloads. */
  readonly #serving: ServingState;

  private constructor(app: App, server: Server | HttpsServer, log: Logger, shared: SharedResources, serving: ServingState) {
    this.#app = app;
    this.#server = server;
    this.#log = log;
    this.#shared = shared;
    this.#serving = serving;
  }

  get metrics(): RequestMetrics {
    return this.#serving.metrics;
  }

  static async start(config: Config, log: Logger, opts: StartOptions = {}): Promise<RegauthServer> {
    const shared = new SharedResources();
    const tls = config.server.certificate ? await tlsOptions(config) : undefined;
    const metrics = new RequestMetrics();
    setPasswordChecks(config);
    const l = config.loginLimits;
    const serving: ServingState = { metrics, limiter: new LoginLimiter(l.account, l.address, l.maxTracked) };
    const app = await buildApp(config, log, shared, serving);
    let current: RegauthServer | undefined;
    metrics.healthFrom(() => (current ?? { app }).app.health());
    const metricsText = () => (opts.metricsText ?? ownMetricsText)(metrics);
    const handler = createHandler(() => current!.#app, log, fanOut([opts.events ?? logSink(log), metrics.sink()]), () => (current ? current.#closing : false), metricsText);
    const onRequest = (req: Parameters<typeof handler>[0], res: Parameters<typeof handler>[1]) => void handler(req, res);
    const httpOptions: ServerOptions = {
      requireHostHeader: false, // checked by the handler, which answers with a JSON reason
      headersTimeout: HTTP_LIMITS.headersTimeoutMs,
      requestTimeout: HTTP_LIMITS.requestTimeoutMs,
      keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: HTTP_LIMITS.checkIntervalMs,
    };
    const server = tls ? createHttps({ ...tls, ...httpOptions }, onRequest) : createHttp(httpOptions, onRequest);
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed or too slow HTTP (Node's parser refused it): answer with a JSON reason when the socket is still usable.
      if (!socket.writable || err.code === "ECONNRESET") return void socket.destroy();
      if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ERR_HTTP_HEADERS_TIMEOUT")
        return rawAnswer(socket, 408, "Request Timeout", "REQUEST_TIMEOUT", "the request was not received in time");
      if (err.code === "HPE_HEADER_OVERFLOW") return rawAnswer(socket, 431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE", "request headers are too large");
      rawAnswer(socket, 400, "Bad Request", "BAD_REQUEST", `malformed HTTP request: ${err.code ?? err.message}`);
    });
    // CONNECT is a proxy's method: without this listener Node drops the connection with no answer.
    server.on("connect", (_req: IncomingMessage, socket: Socket) =>
      rawAnswer(socket, 405, "Method Not Allowed", "METHOD_NOT_ALLOWED", "CONNECT is not supported: this is a token server, not a proxy", "allow: GET, POST\r\n"),
    );
    if (tls) server.on("tlsClientError", (err: Error, s: TLSSocket) => log.debug({ err: err.message, ip: s.remoteAddress }, "TLS handshake failed"));
    const where = parseListenAddress(config.server.addr, config.server.net);
    try {
      if (where.path && opts.removeStaleSocket !== false) await removeStaleSocket(where.path);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        const done = () => {
          server.off("error", reject);
          resolve();
        };
        if (where.path) server.listen(where.path, done);
        else server.listen(where.port, where.host, done);
      });
    } catch (e) {
      await app.stop();
      throw e;
    }
    current = new RegauthServer(app, server, log, shared, serving);
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

  /** `host:port` or the socket path, for people to read. */
  addressText(): string {
    const a = this.address();
    return typeof a === "string" ? a : `${a.address}:${a.port}`;
  }

  get tls(): boolean {
    return "setSecureContext" in this.#server;
  }

  /**
   * Build a new App from `config` and swap it in. Everything is prepared before the
   * swap (backends, keys, the TLS context), so on any error the running App stays and
   * nothing of the attempt is left running. The old App keeps serving the requests
   * that started on it and is stopped once they are done, or after the drain bound.
   * Reloads run one at a time.
   */
  reload(config: Config): Promise<void> {
    const run = this.#reloads.then(() => this.#reload(config));
    this.#reloads = run.catch(() => {});
    return run;
  }

  async #reload(config: Config): Promise<void> {
    if (this.#closing) throw new Error("the server is shutting down");
    const tls = this.tls && config.server.certificate ? await tlsOptions(config) : undefined;
    const next = await buildApp(config, this.#log, this.#shared, this.#serving);
    setPasswordChecks(config);
    if (config.server.addr !== this.#app.config.server.addr || config.server.net !== this.#app.config.server.net)
      this.#log.warn({ addr: config.server.addr }, "server.addr changed: restart regauth to listen there; still serving on the old address");
    if (!this.tls && config.server.certificate) this.#log.warn({}, "server.certificate was added: restart regauth to serve https; still serving http");
    if (tls) (this.#server as HttpsServer).setSecureContext(tls);
    const old = this.#app;
    this.#app = next;
    void this.#retire(old, config.server.drainTimeoutMs);
  }

  async #retire(old: App, boundMs: number): Promise<void> {
    const drained = await old.inFlight.drained(boundMs);
    if (!drained) this.#log.warn({ in_flight: old.inFlight.count }, "stopping the previous config with requests still running (drain bound reached)");
    await old.stop();
  }

  /**
   * Stop accepting, let requests in flight finish (closing each connection after its
   * response), and cut off whatever is left after the drain bound. Idle keep-alive
   * connections are closed at once: they would otherwise hold the process up.
   */
  async close(boundMs = this.#app.config.server.drainTimeoutMs): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    // Connections that finish a response while we wait become idle: close those too.
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 100);
    const drained = await this.#app.inFlight.drained(boundMs);
    clearInterval(sweep);
    if (!drained) this.#log.warn({ in_flight: this.#app.inFlight.count }, "shutdown: cutting off requests still running after the drain bound");
    this.#server.closeAllConnections();
    await closed;
    await this.#reloads;
    await this.#app.stop();
  }
}

/** docker_auth removes a stale socket file before listening; a live one (another server) is left alone and listen fails. */
export async function removeStaleSocket(path: string): Promise<void> {
  if (!(await stat(path).then((s) => s.isSocket(), () => false))) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (!alive) await rm(path);
}
