// Throwaway Redis servers for tests: one server (optionally with a password), or a 3-node
// Redis Cluster, each in its own temp dir on free loopback ports, in the foreground and
// stopped by PID. A stopped server can be started again on the same port (outage tests).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { killOnExit } from "./children.js";
import { canConnect, freePort } from "./ports.js";
import { writeKeyPair } from "./regauth.js";
import { skipOrFailInCi } from "./requirements.js";

const run = promisify(execFile);

export const REDIS_SERVER_BIN = process.env["REGAUTH_TEST_REDIS_SERVER_BIN"] ?? "redis-server";
export const REDIS_CLI_BIN = process.env["REGAUTH_TEST_REDIS_CLI_BIN"] ?? "redis-cli";

/** Why Redis cannot run here, or undefined when it can. */
export async function redisMissing(): Promise<string | undefined> {
  try {
    await run(REDIS_SERVER_BIN, ["--version"]);
    await run(REDIS_CLI_BIN, ["--version"]);
    return undefined;
  } catch {
    return `redis-server and redis-cli are needed for the Redis token store tests (${REDIS_SERVER_BIN}, ${REDIS_CLI_BIN}): apt-get install redis-server`;
  }
}

export const skipWithoutRedis = (): Promise<string | undefined> => skipOrFailInCi(redisMissing());

export interface RunningRedis {
  port: number;
  /** redis://127.0.0.1:PORT, or rediss:// with `tls` (no password in it). */
  url: string;
  /** With `tls`: the self-signed certificate the server presents (SANs 127.0.0.1, localhost). */
  caFile?: string;
  /** Stop by PID (SIGTERM, SIGKILL after 5 s); the port can be used again by start(). */
  stop(): Promise<void>;
  /** Start again on the same port. */
  start(): Promise<void>;
  logs(): string;
  /** Stop and remove the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

export interface RedisOptions {
  /** `requirepass`. */
  password?: string;
  /** Serve TLS only (rediss://) with a self-signed certificate; clients need no certificate. */
  tls?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** One redis-server process, restartable on its port with the same arguments. */
class RedisProcess {
  #child: ChildProcess | undefined;
  #log = "";
  constructor(
    readonly port: number,
    private readonly args: string[],
    /** Listen with TLS on `port`, and on no plain port. */
    private readonly tls = false,
  ) {}

  logs(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const ports = this.tls ? ["--port", "0", "--tls-port", String(this.port)] : ["--port", String(this.port)];
    const c = spawn(REDIS_SERVER_BIN, [...ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", ...this.args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    killOnExit(c);
    this.#child = c;
    c.stdout!.on("data", (d: Buffer) => (this.#log += d.toString()));
    c.stderr!.on("data", (d: Buffer) => (this.#log += d.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        this.#child = undefined;
        throw new Error(`redis-server exited (${c.exitCode ?? c.signalCode}) before it was ready:\n${this.#log}`);
      }
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server not ready after 10 s:\n${this.#log}`);
      }
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }
}

/** Pick free ports and start; another process may take a port first, so try a few times. */
async function startOnFreePorts<T>(launch: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await launch();
    } catch (e) {
      if (i >= attempts || !/address already in use|bind/i.test(String((e as Error).message))) throw e;
    }
  }
}

/** One Redis server in a fresh temp dir. */
export async function startRedis(opts: RedisOptions = {}): Promise<RunningRedis> {
  const missing = await redisMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), "regauth-redis-"));
  const args = ["--dir", dir, ...(opts.password ? ["--requirepass", opts.password] : [])];
  let proc: RedisProcess;
  let caFile: string | undefined;
  try {
    if (opts.tls) {
      const pair = await writeKeyPair(dir, "redis", "ec", ["127.0.0.1", "localhost"]);
      caFile = pair.cert;
      args.push("--tls-cert-file", pair.cert, "--tls-key-file", pair.key, "--tls-auth-clients", "no");
    }
    proc = await startOnFreePorts(async () => {
      const p = new RedisProcess(await freePort(), args, opts.tls);
      await p.start();
      return p;
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  let destroyed = false;
  return {
    port: proc.port,
    url: `${opts.tls ? "rediss" : "redis"}://127.0.0.1:${proc.port}`,
    caFile,
    stop: () => proc.stop(),
    start: () => proc.start(),
    logs: () => proc.logs(),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningRedisCluster {
  /** `127.0.0.1:PORT` of each master: the seeds for token_store.redis.cluster. */
  seeds: string[];
  /** Stop master `i` (its slots become unreachable: there are no replicas). */
  stopNode(i: number): Promise<void>;
  /** Start master `i` again on its port and nodes file (its keys are gone), and wait until the cluster is ok. */
  startNode(i: number): Promise<void>;
  logs(): string;
  destroy(): Promise<void>;
}

/** A Redis Cluster of `size` masters (no replicas), every slot assigned, state ok on every node. */
export async function startRedisCluster(size = 3): Promise<RunningRedisCluster> {
  const missing = await redisMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), "regauth-redis-cluster-"));
  const procs: RedisProcess[] = [];
  const destroy = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      procs.push(
        await startOnFreePorts(async () => {
          const port = await freePort();
          // The bus port is chosen too: port + 10000 (the default) may be taken or past 65535.
          const busPort = await freePort();
          const p = new RedisProcess(port, ["--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-port", String(busPort)]);
          await p.start();
          return p;
        }),
      );
    }
    const seeds = procs.map((p) => `127.0.0.1:${p.port}`);
    await run(REDIS_CLI_BIN, ["--cluster", "create", ...seeds, "--cluster-replicas", "0", "--cluster-yes"]);
    const allOk = async () => {
      const deadline = Date.now() + 15_000;
      for (const p of procs) {
        for (;;) {
          const { stdout } = await run(REDIS_CLI_BIN, ["-p", String(p.port), "cluster", "info"]);
          if (/cluster_state:ok/.test(stdout)) break;
          if (Date.now() > deadline) throw new Error(`redis cluster not ok after 15 s (node ${p.port}):\n${stdout}`);
          await sleep(50);
        }
      }
    };
    await allOk();
    let destroyed = false;
    return {
      seeds,
      stopNode: (i) => procs[i]!.stop(),
      async startNode(i) {
        await procs[i]!.start();
        await allOk();
      },
      logs: () => procs.map((p) => `--- ${p.port}\n${p.logs()}`).join("\n"),
      async destroy() {
        if (destroyed) return;
        destroyed = true;
        await destroy();
      },
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}
