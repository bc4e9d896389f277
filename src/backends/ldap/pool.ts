import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { Client } from "ldapts";
import type { LdapServerAddress } from "./section.js";
import type { Logger } from "../../log.js";

/** A pooled connection was found closed before anything was sent on it: safe to retry elsewhere. */
export class ConnectionGoneError extends Error {
  constructor() {
    super("the connection was closed");
  }
}

/** No server could be reached (each one's reason in the message). */
export class LdapUnreachableError extends Error {}

/** Every pooled connection stayed busy for the whole wait. */
export class PoolExhaustedError extends Error {}

export interface LdapPoolOptions {
  /** In order of preference. */
  servers: readonly LdapServerAddress[];
  size: number;
  connectTimeoutMs: number;
  timeoutMs: number;
  idleTimeoutMs: number;
  /** Trust for TLS (LDAPS and StartTLS). */
  ca?: string;
  rejectUnauthorized: boolean;
  /** How long a server that could not be reached is passed over while another one works (default 10 s). */
  retryDownMs?: number;
  log?: Logger;
}

/** One LDAP connection: an ldapts Client on a socket regauth opened, and who it is bound as. */
export class LdapConnection {
  /** The DN of the last successful bind; "" is anonymous (also after a failed bind, as LDAP says). */
  boundAs = "";
  lastUsed = Date.now();
  /** Set when an operation on it failed below LDAP (timeout, closed socket): it is closed, not reused. */
  broken = false;
  #handedOver = false;

  constructor(
    readonly server: LdapServerAddress,
    readonly serverIndex: number,
    private readonly socket: Socket,
    timeoutMs: number,
  ) {
    // ldapts reconnects by itself when its socket is gone, and the new connection would be
    // anonymous without anyone noticing. Hand it this one socket, once; a second request for a
    // socket fails, so a dead connection is an error here, never a silent anonymous one.
    const once = () => {
      if (this.#handedOver || socket.destroyed || socket.readyState !== "open") throw new ConnectionGoneError();
      this.#handedOver = true;
      return socket;
    };
    const url = `${server.tls === "always" ? "ldaps" : "ldap"}://${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${server.port}`;
    this.client = new Client({
      url,
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      createConnection: once as unknown as typeof netConnect,
      createSecureConnection: server.tls === "always" ? (once as unknown as typeof tlsConnect) : undefined,
    });
  }

  readonly client: Client;

  get alive(): boolean {
    // The TCP socket's own state as well: after StartTLS, ldapts watches only the TLS layer,
    // and does not notice when the server closes the connection underneath.
    const open = !this.socket.destroyed && this.socket.readyState === "open";
    return this.#handedOver ? open && this.client.isConnected : open;
  }

  close(): void {
    if (!this.#handedOver) return void this.socket.destroy();
    // A polite UnbindRequest (ldapts then destroys its socket); the TCP socket is destroyed in
    // any case soon after, as ldapts loses track of it after StartTLS.
    this.client.unbind().catch(() => {});
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

interface ServerState {
  /** 0 while the server is thought to work; otherwise when to check it again. */
  downUntil: number;
  probing: boolean;
}

interface Waiter {
  resolve(c: LdapConnection): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ECONNREFUSED") return "connection refused";
  if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") return "host not found";
  if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH") return "host unreachable";
  if (err.code === "ECONNRESET") return "connection reset";
  return err.message || String(e);
}

/**
 * A bounded pool of LDAP connections over one or more servers (the first reachable one in
 * config order is used; a server that could not be reached is passed over for a while and
 * checked again in the background, and tried anyway when no other one works, so the pool
 * recovers by itself once a directory is back). Connections are opened on demand, each
 * within the connect timeout; at most `size` exist at once, and a request waits at most
 * the operation timeout for one.
 */
export class LdapPool {
  readonly #o: LdapPoolOptions;
  readonly #idle: LdapConnection[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #states: ServerState[];
  readonly #retryDownMs: number;
  readonly #sweeper: NodeJS.Timeout;
  #open = 0;
  #closed = false;

  constructor(options: LdapPoolOptions) {
    this.#o = options;
    this.#states = options.servers.map(() => ({ downUntil: 0, probing: false }));
    this.#retryDownMs = options.retryDownMs ?? 10_000;
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(250, Math.min(options.idleTimeoutMs, this.#retryDownMs) / 2));
    this.#sweeper.unref();
  }

  /** Connections open or being opened (busy and idle). */
  get size(): number {
    return this.#open;
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  /** Take a connection, preferring an idle one for which `prefer` holds (e.g. already bound as the service account). */
  async acquire(prefer?: (c: LdapConnection) => boolean): Promise<LdapConnection> {
    this.#dropDeadIdle();
    // The most recently used idle connection that suits; else a new one while there is room
    // (so that searches and password checks settle on connections of their own); else any idle one.
    let i = this.#idle.findLastIndex((c) => !prefer || prefer(c));
    if (i < 0 && this.#open >= this.#o.size) i = this.#idle.length - 1;
    if (i >= 0) return this.#idle.splice(i, 1)[0]!;
    if (this.#open < this.#o.size) return this.#openCounted();
    return new Promise<LdapConnection>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const k = this.#waiters.indexOf(w);
          if (k >= 0) this.#waiters.splice(k, 1);
          reject(new PoolExhaustedError(`no connection became free within ${this.#o.timeoutMs / 1000} s (pool_size ${this.#o.size}, all busy)`));
        }, this.#o.timeoutMs),
      };
      this.#waiters.push(w);
    });
  }

  /** Give a healthy connection back. */
  release(conn: LdapConnection): void {
    conn.lastUsed = Date.now();
    const best = this.#bestServer();
    // A connection to a fallback server is not kept once a preferred one works again.
    if (this.#closed || conn.broken || !conn.alive || (best >= 0 && conn.serverIndex > best)) return this.destroy(conn);
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(conn);
      return;
    }
    this.#idle.push(conn);
  }

  /** Close a connection that failed or is no longer wanted; a waiting request gets a new one. */
  destroy(conn: LdapConnection): void {
    conn.close();
    this.#open--;
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      this.#openCounted().then(w.resolve, w.reject);
    }
  }

  /**
   * Close the idle connections; the busy ones are closed as they come back. Requests still
   * under way (a config reload swapped the pool out under them) finish normally.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const c of this.#idle.splice(0)) {
      c.close();
      this.#open--;
    }
  }

  async #openCounted(): Promise<LdapConnection> {
    this.#open++;
    try {
      return await this.#connectAny();
    } catch (e) {
      this.#open--;
      // The freed slot lets a waiting request try for itself.
      const w = this.#waiters.shift();
      if (w) {
        clearTimeout(w.timer);
        this.#openCounted().then(w.resolve, w.reject);
      }
      throw e;
    }
  }

  /** Index of the first server thought to work, or -1. */
  #bestServer(): number {
    return this.#states.findIndex((s) => s.downUntil === 0);
  }

  /** Servers to try, best first: those thought to work, then the others (so an outage of all of them ends as soon as one is back). */
  #order(): number[] {
    const up: number[] = [];
    const down: number[] = [];
    this.#states.forEach((s, i) => (s.downUntil === 0 ? up : down).push(i));
    return [...up, ...down];
  }

  async #connectAny(): Promise<LdapConnection> {
    const problems: string[] = [];
    for (const i of this.#order()) {
      const server = this.#o.servers[i]!;
      try {
        const conn = await this.#connect(server, i);
        this.#markUp(i);
        return conn;
      } catch (e) {
        problems.push(`${server.addr}: ${describe(e)}`);
        this.#markDown(i, e);
      }
    }
    throw new LdapUnreachableError(`cannot connect to the directory (${problems.join("; ")})`);
  }

  #markUp(i: number): void {
    const s = this.#states[i]!;
    if (s.downUntil !== 0) this.#o.log?.info({ event: "ldap_server_up", server: this.#o.servers[i]!.addr }, "LDAP server reachable again");
    s.downUntil = 0;
  }

  #markDown(i: number, e: unknown): void {
    const s = this.#states[i]!;
    if (s.downUntil === 0) this.#o.log?.warn({ event: "ldap_server_down", server: this.#o.servers[i]!.addr, reason: describe(e) }, "LDAP server unreachable");
    s.downUntil = Date.now() + this.#retryDownMs;
  }

  #tlsOptions(server: LdapServerAddress): ConnectionOptions {
    return {
      host: server.host,
      // SNI takes host names only; the certificate is checked against `host` either way.
      ...(isIP(server.host) ? {} : { servername: server.host }),
      ...(this.#o.ca ? { ca: this.#o.ca } : {}),
      rejectUnauthorized: this.#o.rejectUnauthorized,
    };
  }

  /** Open a connection to one server: TCP (and TLS, and StartTLS) within the connect timeout. */
  async #connect(server: LdapServerAddress, index: number): Promise<LdapConnection> {
    const ms = this.#o.connectTimeoutMs;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = server.tls === "always" ? tlsConnect({ port: server.port, ...this.#tlsOptions(server) }) : netConnect({ host: server.host, port: server.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no connection within ${ms / 1000} s`));
      }, ms);
      s.once(server.tls === "always" ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        s.removeAllListeners("error");
        // Until ldapts takes the socket over (on the first operation), errors only close it.
        s.on("error", () => s.destroy());
        s.setNoDelay(true);
        // Idle pooled connections across firewalls: let the kernel notice a peer that vanished.
        s.setKeepAlive(true, 30_000);
        resolve(s);
      });
      s.once("error", (e) => {
        clearTimeout(timer);
        s.destroy();
        reject(e);
      });
    });
    const conn = new LdapConnection(server, index, socket, this.#o.timeoutMs);
    if (server.tls === "starttls") {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          conn.client.startTLS(this.#tlsOptions(server)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`StartTLS did not complete within ${ms / 1000} s`)), ms);
          }),
        ]);
      } catch (e) {
        conn.close();
        socket.destroy();
        throw e;
      } finally {
        clearTimeout(timer);
      }
    }
    return conn;
  }

  #dropDeadIdle(): void {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const c = this.#idle[i]!;
      if (!c.alive) {
        this.#idle.splice(i, 1);
        this.destroy(c);
      }
    }
  }

  #sweep(): void {
    const now = Date.now();
    const best = this.#bestServer();
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const c = this.#idle[i]!;
      if (!c.alive || now - c.lastUsed > this.#o.idleTimeoutMs || (best >= 0 && c.serverIndex > best)) {
        this.#idle.splice(i, 1);
        this.destroy(c);
      }
    }
    // Check servers marked down in the background, so that requests do not wait on them.
    this.#states.forEach((s, i) => {
      if (s.downUntil === 0 || s.probing || s.downUntil > now) return;
      s.probing = true;
      this.#connect(this.#o.servers[i]!, i).then(
        (c) => {
          c.close();
          this.#markUp(i);
        },
        (e) => this.#markDown(i, e),
      ).finally(() => (s.probing = false));
    });
  }
}
