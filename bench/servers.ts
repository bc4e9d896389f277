// Servers for `npm run bench`: regauth (bin/regauth serve CONFIG), the docker_auth peer
// (BENCH_PEER CONFIG, glog to stderr) and a bare node:http server (this file run as
// `node servers.js --bare-http PORT BYTES`), each its own process, optionally pinned with taskset.
// Their stdout and stderr go to a log file, as a service's logs would: nothing is read while
// measuring, and the log level is each server's default.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, readdir, stat } from "node:fs/promises";
import { get, createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { SEMI_SPACE_FLAG } from "../src/runtime/node-flags.js";
import { BIN } from "../test/helpers/regauth.js";
import { procStat } from "./load.js";

export interface Running {
  port: number;
  pid: number;
  /** CPU seconds (user + system) used so far by the server and its child processes (cluster workers). */
  cpuSeconds(): Promise<number>;
  /** Bytes the server has logged so far. */
  logBytes(): Promise<number>;
  stop(): Promise<void>;
}

export type Started = { ok: true; server: Running } | { ok: false; exitCode: number | null; log: string };

/**
 * BENCH_REGAUTH: another build's bin/regauth (e.g. an older checkout), instead of this one's.
 * Started as the launchers start it (`npm start`, bin/regauth, the image): with their young generation.
 */
export const regauthCommand = (config: string): string[] => [process.execPath, SEMI_SPACE_FLAG, process.env.BENCH_REGAUTH ?? BIN, "serve", config];
// docker_auth's flags are glog's; without -logtostderr it would log to files under /tmp.
export const peerCommand = (bin: string, config: string): string[] => [bin, "-logtostderr", config];
export const bareHttpCommand = (port: number, bytes: number): string[] => [process.execPath, fileURLToPath(import.meta.url), "--bare-http", String(port), String(bytes)];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Any HTTP answer on `/` means the server is up. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

/** `pid` and every process below it. */
async function tree(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = await procStat(Number(name));
    if (s) parents.set(Number(name), s.ppid);
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, parent] of parents) if (parent === out[i]) out.push(child);
  return out;
}

/** CPU seconds that `pids` have used, together. */
export async function cpuOf(pids: number[]): Promise<number> {
  let sum = 0;
  for (const p of pids) sum += (await procStat(p))?.cpu ?? 0;
  return sum;
}

/** CPU seconds the whole machine has been busy (all cores, from /proc/stat). */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100; // USER_HZ
}

/**
 * Start `command` (pinned to `cpus` when given) with its output in `logFile`, and wait until it
 * answers HTTP on `port`. A process that exits first is reported with its log, not thrown.
 */
export async function startServer(command: string[], port: number, cpus: string | undefined, logFile: string): Promise<Started> {
  const argv = cpus ? ["taskset", "-c", cpus, ...command] : command;
  const fd = openSync(logFile, "w");
  // taskset execs the command, so the pid is the server's.
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((r) =>
    proc.once("exit", (code) => {
      exitCode = code;
      r();
    }),
  );
  const deadline = Date.now() + 30_000;
  while (!(await answers(port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      proc.kill("SIGKILL");
      await exited;
      return { ok: false, exitCode: exitCode ?? null, log: await readFile(logFile, "utf8") };
    }
    await sleep(50);
  }
  const pid = proc.pid!;
  return {
    ok: true,
    server: {
      port,
      pid,
      cpuSeconds: async () => cpuOf(await tree(pid)),
      logBytes: async () => (await stat(logFile)).size,
      async stop() {
        if (exitCode !== undefined) return;
        const all = await tree(pid);
        proc.kill("SIGTERM");
        const t = setTimeout(() => {
          // Not down in 5 s: kill it and whatever it started (cluster workers), by pid.
          for (const p of all) {
            try {
              process.kill(p, "SIGKILL");
            } catch {
              // already gone
            }
          }
        }, 5000);
        await exited;
        clearTimeout(t);
      },
    },
  };
}

/** The bare node:http ceiling: a JSON body of `bytes` bytes, the same headers regauth sends. */
function bareHttp(port: number, bytes: number): void {
  const token = "x".repeat(Math.max(0, bytes - 120));
  const text = JSON.stringify({ token, access_token: "", expires_in: 900, issued_at: new Date().toISOString() }).padEnd(bytes, " ");
  createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store", "x-content-type-options": "nosniff" });
    res.end(text);
  }).listen(port, "127.0.0.1");
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--bare-http") bareHttp(Number(process.argv[3]), Number(process.argv[4]));
