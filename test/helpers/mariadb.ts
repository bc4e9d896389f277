// A throwaway MariaDB server for tests: mariadb-install-db in a temp dir, mariadbd in the
// foreground on a free loopback port (root, empty password), stopped by its PID and
// started again on the same data and port for outage tests.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { canConnect, startOnFreePort } from "./ports.js";
import { skipOrFailInCi } from "./requirements.js";
import { writeKeyPair, type KeyFiles } from "./regauth.js";

const run = promisify(execFile);
const INSTALL = "/usr/bin/mariadb-install-db";
const SERVER = "/usr/sbin/mariadbd";

/** Why MariaDB cannot run here, or undefined when it can. */
export async function mariadbMissing(): Promise<string | undefined> {
  try {
    for (const p of [INSTALL, SERVER]) await access(p, fsConstants.X_OK);
    return undefined;
  } catch {
    return "MariaDB (mariadbd, mariadb-install-db) is needed for the MySQL/MariaDB tests: apt-get install mariadb-server";
  }
}

export const skipWithoutMariadb = (): Promise<string | undefined> => skipOrFailInCi(mariadbMissing());

export interface RunningMariadb {
  port: number;
  /** A Go DSN as docker_auth users write it: root@tcp(127.0.0.1:PORT)/DATABASE. */
  dsn(database: string): string;
  /** With `tls`: the server's self-signed certificate, to trust as a CA. */
  caFile?: string;
  /** Runs SQL as root through the server's own client (`mariadb -e`). */
  sql(statements: string, database?: string): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP the server: it hangs (accepts, never answers), as a stuck server does. */
  pause(): Promise<void>;
  /** SIGCONT what pause() stopped. */
  resume(): Promise<void>;
  destroy(): Promise<void>;
}

const children = new Set<ChildProcess>();
let hooked = false;

/** With `tls`: the server also takes TLS with a self-signed certificate for 127.0.0.1 (`caFile`). */
export async function startMariadb(opts: { tls?: boolean } = {}): Promise<RunningMariadb> {
  const missing = await mariadbMissing();
  if (missing) throw new Error(missing);
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const c of children) c.kill("SIGKILL");
    });
  }
  const dir = await mkdtemp(join(tmpdir(), "regauth-mariadb-"));
  const data = join(dir, "data");
  const log = join(dir, "log");
  const user = process.getuid?.() === 0 ? ["--user=root"] : [];
  try {
    await run(INSTALL, ["--no-defaults", `--datadir=${data}`, ...user, "--auth-root-authentication-method=normal", "--skip-test-db"]);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${(e as Error & { stderr?: string }).stderr ?? (e as Error).message}`);
  }
  let port = 0;
  let child: ChildProcess | undefined;
  const tls: KeyFiles | undefined = opts.tls ? await writeKeyPair(dir, "server", "ec") : undefined;

  const start = async () => {
    const c = spawn(
      SERVER,
      ["--no-defaults", `--datadir=${data}`, `--socket=${join(dir, "sock")}`, `--port=${port}`, "--bind-address=127.0.0.1", `--log-error=${log}`, "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0", ...user, ...(tls ? [`--ssl-cert=${tls.cert}`, `--ssl-key=${tls.key}`] : [])],
      { stdio: "ignore" },
    );
    child = c;
    children.add(c);
    c.once("exit", () => children.delete(c));
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(port))) {
      if (c.exitCode !== null || Date.now() > deadline) {
        const text = await readFile(log, "utf8").catch(() => "");
        c.kill("SIGKILL");
        throw new Error(`mariadbd did not start on port ${port}:\n${text.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    child = undefined;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  };

  port = await startOnFreePort(
    (p) => ((port = p), start()),
    /in use|bind/i,
    () => rm(dir, { recursive: true, force: true }),
  );

  let destroyed = false;
  return {
    port,
    dsn: (database) => `root@tcp(127.0.0.1:${port})/${database}`,
    caFile: tls?.cert,
    async sql(statements, database) {
      const { stdout } = await run("mariadb", ["--no-defaults", "-h127.0.0.1", `-P${port}`, "-uroot", "-N", "-B", ...(database ? [database] : []), "-e", statements]);
      return stdout;
    },
    stop,
    async start() {
      if (!child) await start();
    },
    pause: async () => {
      const c = child;
      if (!c?.pid || c.exitCode !== null) throw new Error("mariadbd is not running: nothing to pause");
      c.kill("SIGSTOP");
      await stoppedAll(c.pid);
    },
    resume: async () => void child?.kill("SIGCONT"),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until every thread of `pid` is stopped: kill() returns before a thread that is busy on
 * another CPU has stopped, and a query it is serving could still be answered meanwhile.
 */
async function stoppedAll(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const states = await Promise.all(
      (await readdir(`/proc/${pid}/task`).catch(() => [] as string[])).map(async (t) => {
        const stat = await readFile(`/proc/${pid}/task/${t}/stat`, "utf8").catch(() => "");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      }),
    );
    if (states.length && states.every((st) => st === "T" || st === "t" || st === "")) return;
    if (Date.now() > deadline) throw new Error(`mariadbd ${pid} did not stop: thread states ${states.join("")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
