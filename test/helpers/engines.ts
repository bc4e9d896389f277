// Throwaway container engines for end-to-end tests: Debian's dockerd (with the docker CLI) and
// containerd (with ctr), each with its own root, state and socket in a temp dir, so nothing of the
// machine's own engines or credentials is touched. Both need root, as CI runs. Stopped by PID.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { killOnExit } from "./children.js";

const run = promisify(execFile);

export const DOCKERD_BIN = "/usr/sbin/dockerd";
/** Debian's client: the machine may carry another `docker` earlier on PATH. */
export const DOCKER_BIN = "/usr/bin/docker";
export const CONTAINERD_BIN = "/usr/bin/containerd";
export const CTR_BIN = "/usr/bin/ctr";

/** Undefined when the engines can run here; otherwise why. In CI (CI=true) a missing one is an error. */
export async function enginesMissing(): Promise<string | undefined> {
  const absent: string[] = [];
  for (const bin of [DOCKERD_BIN, DOCKER_BIN, CONTAINERD_BIN, CTR_BIN]) await access(bin).catch(() => absent.push(bin));
  let why = absent.length ? `${absent.join(", ")} missing: apt-get install -y docker.io (brings containerd and runc)` : undefined;
  if (!why && process.getuid?.() !== 0) why = "dockerd and containerd need root";
  if (why && process.env["CI"] === "true") throw new Error(why);
  return why;
}

async function waitFor(what: string, proc: ChildProcess, log: () => string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${log().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within 30 s:\n${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  proc.kill("SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(t);
}

export interface RunningDocker {
  /** The docker CLI against this engine, with its own config dir (`config.json`). */
  docker(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  configDir: string;
  /** DOCKER_HOST and DOCKER_CONFIG for this engine (with the rest of process.env), for other clients such as docker-compose. */
  env: NodeJS.ProcessEnv;
  /** The engine's own log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface DockerOptions {
  /**
   * The engine's storage driver: `vfs` (the default; works on any file system, but copies
   * every layer whole) or `overlay2` (needed to build real images in reasonable time and space).
   */
  storageDriver?: "vfs" | "overlay2";
  /** Where the engine keeps its state (default: the system's temp dir). */
  parentDir?: string;
}

/** Unmount whatever is still mounted under `dir` (an engine's netns and overlay mounts), deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const points = info
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run("umount", ["-l", p]).catch(() => undefined);
}

/**
 * dockerd with no networking of its own (no bridge, no iptables: it changes nothing of the
 * machine's network), vfs storage unless asked otherwise: enough to import, push and pull.
 * Containers may still use `--network host` or a user-defined bridge network (a compose
 * project's own network), whose published ports the engine's userland proxy serves.
 */
export async function startDocker(opts: DockerOptions = {}): Promise<RunningDocker> {
  const dir = await mkdtemp(join(opts.parentDir ?? tmpdir(), "regauth-dockerd-"));
  const sock = join(dir, "docker.sock");
  const configDir = join(dir, "cfg");
  const proc = spawn(
    DOCKERD_BIN,
    ["--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "docker.pid"), "-H", `unix://${sock}`, "--iptables=false", "--ip6tables=false", "--bridge=none", `--storage-driver=${opts.storageDriver ?? "vfs"}`, "--containerd-namespace", `regauth-${process.pid}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  killOnExit(proc);
  let log = "";
  proc.stdout!.on("data", (d: Buffer) => (log += d));
  proc.stderr!.on("data", (d: Buffer) => (log += d));
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: configDir };
  const docker = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(DOCKER_BIN, args, { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => (stdout += d));
      p.stderr.on("data", (d: Buffer) => (stderr += d));
      p.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      p.stdin.end(input ?? "");
    });
  await waitFor("dockerd", proc, () => log, async () => (await docker(["version", "--format", "{{.Server.Version}}"])).code === 0);
  return {
    docker,
    configDir,
    env,
    log: () => log,
    async stop() {
      await stopProc(proc);
      // The engine leaves its network namespace (and, after a crash, overlay mounts) mounted under its dir.
      for (let attempt = 1; ; attempt++) {
        await unmountUnder(dir);
        try {
          await rm(dir, { recursive: true, force: true });
          return;
        } catch (e) {
          if (attempt >= 5) throw e;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
  };
}

export interface RunningContainerd {
  ctr(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** containerd on a private socket, root and state dir. */
export async function startContainerd(): Promise<RunningContainerd> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-containerd-"));
  const sock = join(dir, "containerd.sock");
  const proc = spawn(CONTAINERD_BIN, ["--root", join(dir, "root"), "--state", join(dir, "state"), "--address", sock], { stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(proc);
  let log = "";
  proc.stdout!.on("data", (d: Buffer) => (log += d));
  proc.stderr!.on("data", (d: Buffer) => (log += d));
  const ctr = (args: string[]) =>
    run(CTR_BIN, ["--address", sock, ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
    );
  await waitFor("containerd", proc, () => log, async () => (await ctr(["version"])).code === 0);
  return {
    ctr,
    async stop() {
      await stopProc(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
