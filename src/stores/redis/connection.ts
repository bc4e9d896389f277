import { isIP } from "node:net";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { StoreUnavailableError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { SCRIPTS, type ScriptCommands } from "./layout.js";
import type { RedisStoreConfig } from "./section.js";

/** A server that does not accept the connection within this long counts as down. */
const CONNECT_TIMEOUT_MS = 1000;
/** A command without an answer within this long fails (a frozen server, a dead link). */
const COMMAND_TIMEOUT_MS = 1500;
/** How long a call waits for a connection attempt under way before it fails. */
const READY_WAIT_MS = 1500;
const CLUSTER_SLOTS = 16384;

/** Reconnect for ever, backing off to one attempt every 2 s: recovery needs no restart. */
const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** Every script takes one key, so it runs on that key's node in a cluster. */
const SCRIPTS_DEF = Object.fromEntries(Object.entries(SCRIPTS).map(([name, lua]) => [name, { lua, numberOfKeys: 1 }]));

export type RedisClient = (Redis | Cluster) & ScriptCommands;

/**
 * One lazily opened connection (or cluster client) and what it knows about its health.
 * Commands are never queued while it is down: a call waits at most for an attempt
 * already under way, then fails with a StoreUnavailableError that names the address and
 * the last error, so that a request during an outage fails in well under 2 s.
 */
export class RedisConnection {
  readonly client: RedisClient;
  readonly address: string;
  readonly redact: (s: string) => string;
  #lastError: string | undefined;
  #down = false;
  #closed = false;
  #waiting: Promise<void> | undefined;

  constructor(
    config: RedisStoreConfig,
    private readonly log: Logger,
  ) {
    this.address = config.address;
    const password = config.password?.reveal();
    // Error texts never carry the password today; this keeps it so if a client or server starts echoing it.
    this.redact = password ? (s) => s.replaceAll(password, "***") : (s) => s;
    const tls = config.tls && { ...(config.tls.ca ? { ca: config.tls.ca } : {}), ...(isIP(config.nodes[0]?.host ?? "") ? {} : { servername: config.nodes[0]?.host }) };
    const common = {
      ...(config.username ? { username: config.username } : {}),
      ...(password ? { password } : {}),
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      connectionName: "regauth",
    };
    let client: Redis | Cluster;
    if (config.mode === "cluster") {
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: backoff,
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        retryDelayOnClusterDown: 100,
        retryDelayOnFailover: 100,
        maxRedirections: 8,
        // Each node's server name is its own host, not the first seed's.
        redisOptions: { ...common, ...(config.tls ? { tls: config.tls.ca ? { ca: config.tls.ca } : {} } : {}) },
        scripts: SCRIPTS_DEF,
      };
      client = new Cluster(config.nodes, options);
      client.on("node error", (e: Error, node: string) => this.log.debug({ store: "redis", address: node, err: this.redact(describe(e)) }, "redis cluster node error"));
    } else {
      const node = config.nodes[0]!;
      const options: RedisOptions = {
        ...common,
        host: node.host,
        port: node.port,
        db: config.db,
        ...(tls ? { tls } : {}),
        lazyConnect: true,
        enableOfflineQueue: false,
        retryStrategy: backoff,
        scripts: SCRIPTS_DEF,
      };
      client = new Redis(options);
    }
    // An 'error' event without a listener would crash the process: it becomes a log line.
    client.on("error", (e: Error) => {
      const why = this.redact(describe(e));
      this.#lastError = why;
      if (!this.#down) this.log.warn({ store: "redis", address: this.address, err: why }, "token store unreachable; retrying in the background");
      else this.log.debug({ store: "redis", address: this.address, err: why }, "token store still unreachable");
      this.#down = true;
    });
    client.on("ready", () => {
      if (this.#down) this.log.info({ store: "redis", address: this.address }, "token store reachable again");
      this.#down = false;
      this.#lastError = undefined;
    });
    this.client = client as RedisClient;
  }

  /**
   * The nodes that hold the data: the one server, or the master of every slot of a
   * cluster. ioredis drops a dead master from its node list while the slot map still
   * names it; scanning only the nodes it lists would skip that master's keys (a revoke
   * of everything that misses some), so a slot without a connected master is an error.
   */
  masters(): Redis[] {
    const c = this.client;
    if (!(c instanceof Cluster)) return [c as Redis];
    const connected = new Map(c.nodes("master").map((n) => [`${n.options.host}:${n.options.port}`, n]));
    const owners = new Set<string>();
    for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
      const owner = c.slots[slot]?.[0];
      if (owner === undefined) throw new Error(`no master serves hash slot ${slot}: is every slot assigned (redis-cli --cluster check)?`);
      owners.add(owner);
    }
    return [...owners].map((o) => {
      const node = connected.get(o);
      if (!node) {
        // ioredis re-adds a node only when it refreshes its slot map, which nothing else triggers here.
        c.refreshSlotsCache();
        throw new Error(`no connection to the master at ${o}`);
      }
      return node;
    });
  }

  /** Resolves once commands can be sent, or rejects quickly with why not. */
  ready(): Promise<void> {
    const c = this.client;
    if (c.status === "ready") return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    // Between attempts (the last one failed): fail now rather than wait for the next.
    if (c.status === "reconnecting" && this.#lastError) return Promise.reject(new Error(this.#lastError));
    if (c.status === "wait" || c.status === "end" || c.status === "close") c.connect().catch(() => {}); // failures arrive as 'error' events
    // Calls arriving together share one wait (and one pair of listeners).
    return (this.#waiting ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        c.off("ready", onReady);
        c.off("error", onError);
        this.#waiting = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (e: Error) => done(new Error(this.redact(describe(e))));
      const timer = setTimeout(() => done(new Error(this.#lastError ?? `no connection within ${READY_WAIT_MS} ms`)), READY_WAIT_MS);
      c.on("ready", onReady);
      c.on("error", onError);
    }));
  }

  /** The StoreUnavailableError for a failed call: the address and what happened, never a password. */
  unavailable(e: unknown): StoreUnavailableError {
    if (e instanceof StoreUnavailableError) return e;
    return new StoreUnavailableError("redis", `${this.address}: ${this.redact(describe(e))}`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const c = this.client;
    if (c.status === "ready") {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.quit().catch(() => {}), new Promise((r) => (timer = setTimeout(r, COMMAND_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    // Also stops a reconnect timer, so a closed store keeps no process alive.
    c.disconnect();
  }
}

/** An error's text; Node's connection errors to a name with several addresses have an empty message. */
export function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e.message) return e.message;
  const inner = (e as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(inner) && inner.length) return inner.map(describe).join("; ");
  return (e as NodeJS.ErrnoException).code ?? e.name;
}
