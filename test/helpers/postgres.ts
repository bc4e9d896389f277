// A throwaway PostgreSQL server for tests: initdb in a temp dir, pg_ctl start on a free
// loopback port (trust authentication, user postgres), stopped with pg_ctl and started
// again on the same data and port for outage tests. PostgreSQL refuses to run as root,
// so as root every server command runs as the postgres user.
import { execFile, execFileSync } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startOnFreePort } from "./ports.js";
import { skipOrFailInCi } from "./requirements.js";
import { writeKeyPair, type KeyFiles } from "./regauth.js";

const run = promisify(execFile);

export const PG_BIN_DIR = process.env["REGAUTH_TEST_PG_BIN_DIR"] ?? "/usr/lib/postgresql/15/bin";
const asRoot = process.getuid?.() === 0;

/** argv for a server program: as the postgres user when this process is root. */
const pgCommand = (program: string, args: string[]): [string, string[]] =>
  asRoot ? ["runuser", ["-u", "postgres", "--", join(PG_BIN_DIR, program), ...args]] : [join(PG_BIN_DIR, program), args];

const pg = async (program: string, args: string[]) => {
  const [file, argv] = pgCommand(program, args);
  return run(file, argv);
};

/** Why PostgreSQL cannot run here, or undefined when it can. */
export async function postgresMissing(): Promise<string | undefined> {
  try {
    for (const p of ["initdb", "pg_ctl", "postgres"]) await access(join(PG_BIN_DIR, p), fsConstants.X_OK);
    if (asRoot) await run("id", ["-u", "postgres"]);
    return undefined;
  } catch {
    return `PostgreSQL server programs (initdb, pg_ctl, postgres in ${PG_BIN_DIR}${asRoot ? ", and a postgres user to run them as" : ""}) are needed for the PostgreSQL tests (token store, xorm_auth, acl_xorm): apt-get install postgresql (or set REGAUTH_TEST_PG_BIN_DIR)`;
  }
}

export const skipWithoutPostgres = (): Promise<string | undefined> => skipOrFailInCi(postgresMissing());

export interface RunningPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust: no password). */
  url: string;
  /** With `tls`: the server's self-signed certificate, to trust as a CA. */
  caFile?: string;
  /** SIGSTOP the server and its backends: it hangs (accepts, never answers), as a stuck server does. */
  pause(): Promise<void>;
  /** SIGCONT what pause() stopped. */
  resume(): Promise<void>;
  /** pg_ctl stop -m fast: the data and port stay for start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  logs(): Promise<string>;
  /** Stop and remove the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

// pg_ctl leaves the server running on its own: stop every one still up when the test process exits, however it exits.
const running = new Set<string>();
let hooked = false;
function stopOnExit(data: string): void {
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const d of running) {
        try {
          const [file, argv] = pgCommand("pg_ctl", ["-D", d, "-m", "immediate", "-w", "stop"]);
          execFileSync(file, argv, { stdio: "ignore" });
        } catch {
          // already stopped
        }
      }
    });
  }
  running.add(data);
}

/** Send `signal` to the postmaster of `data` (its pid is postmaster.pid's first line) and to its children. */
async function signalServer(data: string, signal: "SIGSTOP" | "SIGCONT"): Promise<void> {
  const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
  const children = (await run("pgrep", ["-P", String(pid)]).then((r) => r.stdout, () => "")).split("\n").filter(Boolean).map(Number);
  for (const p of [pid, ...children]) process.kill(p, signal);
}

/** With `tls`: the server also takes TLS (ssl=on) with a self-signed certificate for 127.0.0.1. */
export async function startPostgres(opts: { tls?: boolean } = {}): Promise<RunningPostgres> {
  const missing = await postgresMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), "regauth-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "log");
  let port = 0;
  let tls: KeyFiles | undefined;
  try {
    if (asRoot) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
    if (opts.tls) {
      tls = await writeKeyPair(dir, "server", "ec");
      // The server reads its key as the postgres user, and refuses one others can read.
      if (asRoot) {
        const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
        const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
        await chown(tls.key, uid, gid);
        await chown(tls.cert, uid, gid);
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e as Error & { stderr?: string }).stderr ?? (e as Error).message}`);
  }

  const start = async () => {
    // fsync off: a test server's data does not need to survive a power cut.
    const ssl = tls ? ` -c ssl=on -c ssl_cert_file=${tls.cert} -c ssl_key_file=${tls.key}` : "";
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off${ssl}`;
    try {
      await pg("pg_ctl", ["-D", data, "-o", options, "-l", log, "-w", "-t", "30", "start"]);
      stopOnExit(data);
    } catch (e) {
      const text = await readFile(log, "utf8").catch(() => "");
      throw new Error(`pg_ctl start failed on port ${port}: ${(e as Error & { stderr?: string }).stderr ?? (e as Error).message}\n${text}`);
    }
  };
  const stop = async () => {
    if (!running.has(data)) return;
    await pg("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    running.delete(data);
  };

  // Another process may take the free port before the server binds it: another is tried.
  port = await startOnFreePort(
    (p) => ((port = p), start()),
    /could not bind|address already in use/i,
    () => rm(dir, { recursive: true, force: true }),
  );

  let destroyed = false;
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    caFile: tls?.cert,
    stop,
    start: async () => {
      if (!running.has(data)) await start();
    },
    logs: () => readFile(log, "utf8"),
    pause: () => signalServer(data, "SIGSTOP"),
    resume: () => signalServer(data, "SIGCONT"),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
