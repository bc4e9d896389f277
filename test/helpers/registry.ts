// Run the real Debian `docker-registry` (distribution 2.8.2) as a child process for
// end-to-end tests.
import { spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./ports.js";
import { killOnExit } from "./children.js";

/** Overridable so the harness can run against a registry binary installed elsewhere. */
export const REGISTRY_BIN = process.env["REGAUTH_TEST_REGISTRY_BIN"] ?? "/usr/bin/docker-registry";

interface CommonRegistryOptions {
  /** Serve https with this PEM certificate and key (paths). */
  tls?: { cert: string; key: string };
  /** Storage root; default is a directory inside the registry's temp dir (removed on stop). */
  dataDir?: string;
  /** Registry log level; default "info", which includes one access-log line per request. */
  logLevel?: "error" | "warn" | "info" | "debug";
  /** Give up if /v2/ does not answer within this many ms (default 15000). */
  readyTimeoutMs?: number;
}

export interface TokenAuthRegistryOptions extends CommonRegistryOptions {
  realm: string;
  service: string;
  issuer: string;
  /** Path of the PEM bundle with the token signing certificates (read only at start). */
  rootCertBundle: string;
  noAuth?: never;
}

export interface NoAuthRegistryOptions extends CommonRegistryOptions {
  noAuth: true;
}

export type RegistryOptions = TokenAuthRegistryOptions | NoAuthRegistryOptions;

export interface RunningRegistry {
  /** host:port, the form skopeo and image references use, e.g. "127.0.0.1:41234". */
  url: string;
  port: number;
  scheme: "http" | "https";
  /** e.g. "http://127.0.0.1:41234" */
  baseUrl: string;
  /** Temp dir holding config.yml (and the storage unless dataDir was given). */
  dir: string;
  dataDir: string;
  configPath: string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stop and start again on the same port and storage. The registry reads its
   * rootcertbundle only at start, so tests that rotate signing certificates need this.
   */
  restart(): Promise<void>;
  /** Everything the registry printed so far (stdout and stderr interleaved), across restarts. */
  logs(): string;
}


/** YAML double-quoted scalars accept JSON string syntax, which spares us a YAML library. */
const q = (s: string): string => JSON.stringify(s);

function renderConfig(opts: RegistryOptions, port: number, dataDir: string): string {
  const lines = [
    "version: 0.1",
    "log:",
    `  level: ${opts.logLevel ?? "info"}`,
    "  formatter: text",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${q(dataDir)}`,
    "  delete:",
    "    enabled: true",
    // Background upload purging is irrelevant to short tests and only adds log noise.
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    // A fixed secret avoids the startup warning about a generated one.
    `  secret: ${q("regauth-test-harness-secret")}`,
  ];
  if (opts.tls) {
    lines.push("  tls:", `    certificate: ${q(resolve(opts.tls.cert))}`, `    key: ${q(resolve(opts.tls.key))}`);
  }
  if (!("noAuth" in opts && opts.noAuth)) {
    const o = opts as TokenAuthRegistryOptions;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${q(o.realm)}`,
      `    service: ${q(o.service)}`,
      `    issuer: ${q(o.issuer)}`,
      `    rootcertbundle: ${q(resolve(o.rootCertBundle))}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** One GET /v2/; resolves with the status code, or null if nothing answered. */
function probe(scheme: "http" | "https", port: number): Promise<number | null> {
  return new Promise((resolvePromise) => {
    const req = (scheme === "https" ? httpsRequest : httpRequest)(
      {
        host: "127.0.0.1",
        port,
        path: "/v2/",
        method: "GET",
        timeout: 1000,
        // The test registry's certificate is self-signed; readiness is all we check here.
        ...(scheme === "https" ? { rejectUnauthorized: false } : {}),
        agent: false,
      },
      (res) => {
        res.resume();
        resolvePromise(res.statusCode ?? null);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolvePromise(null));
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolvePromise(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolvePromise(true);
    };
    child.once("exit", onExit);
  });
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (await waitExit(child, 5000)) return;
  child.kill("SIGKILL");
  await waitExit(child, 5000);
}

async function ensureBinary(): Promise<void> {
  try {
    await access(REGISTRY_BIN, fsConstants.X_OK);
  } catch {
    throw new Error(
      `${REGISTRY_BIN} not found: the end-to-end tests need the real registry and skopeo. ` +
        "Install them with: apt-get install -y docker-registry skopeo",
    );
  }
}

/** The registry lets REGISTRY_* variables override any config key; keep the host's out. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("REGISTRY_")) env[k] = v;
  }
  return env;
}

const MAX_LOG_CHARS = 4 * 1024 * 1024;

export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  await ensureBinary();
  const dir = await mkdtemp(join(tmpdir(), "regauth-registry-"));
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : join(dir, "data");
  const configPath = join(dir, "config.yml");
  const scheme: "http" | "https" = opts.tls ? "https" : "http";
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15000;
  let logText = "";
  const appendLog = (chunk: Buffer): void => {
    logText += chunk.toString("utf8");
    if (logText.length > MAX_LOG_CHARS) logText = logText.slice(logText.length - MAX_LOG_CHARS);
  };

  let child: ChildProcess | null = null;
  let stopped = false;

  // Start on `port`; resolves once /v2/ answers, rejects with the logs if the process dies.
  const launch = async (port: number): Promise<void> => {
    await mkdir(dataDir, { recursive: true });
    await writeFile(configPath, renderConfig(opts, port, dataDir));
    const c = spawn(REGISTRY_BIN, ["serve", configPath], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    killOnExit(c);
    child = c;
    c.stdout?.on("data", appendLog);
    c.stderr?.on("data", appendLog);
    let spawnError: Error | null = null;
    c.once("error", (err) => {
      spawnError = err;
    });

    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (spawnError) throw spawnError;
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`docker-registry exited (code ${c.exitCode}, signal ${c.signalCode}) before it was ready:\n${logText}`);
      }
      const status = await probe(scheme, port);
      // 401 = token auth on; 200 = no auth. Anything else means a misconfiguration worth surfacing.
      if (status === 200 || status === 401) return;
      if (status !== null) {
        await killAndWait(c);
        throw new Error(`docker-registry answered GET /v2/ with ${status}:\n${logText}`);
      }
      if (Date.now() > deadline) {
        await killAndWait(c);
        throw new Error(`docker-registry not ready after ${readyTimeoutMs} ms:\n${logText}`);
      }
      await sleep(25);
    }
  };

  let port = 0;
  try {
    // freePort() releases the port before the registry binds it, so another process can
    // win the race; retry with a new port when that happens.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch(port);
        break;
      } catch (err) {
        const inUse = /address already in use/i.test(String((err as Error).message));
        if (!inUse || attempt >= 5) throw err;
      }
    }
  } catch (err) {
    if (child) await killAndWait(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `127.0.0.1:${port}`,
    port,
    scheme,
    baseUrl: `${scheme}://127.0.0.1:${port}`,
    dir,
    dataDir,
    configPath,
    logs: () => logText,
    async restart() {
      if (stopped) throw new Error("registry already stopped");
      if (child) await killAndWait(child);
      await launch(port);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await killAndWait(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
