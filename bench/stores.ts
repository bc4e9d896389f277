// The shared token stores' cases of `npm run bench`: the refresh grant against a throwaway Redis
// and a throwaway PostgreSQL on loopback, pinned with the load generator (`cpus`) so that the
// server's core is the server's alone. bench/run.ts runs them with the others.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { refreshCase, type Case } from "./cases.js";
import { postgresMissing, startPostgres, type RunningPostgres } from "../test/helpers/postgres.js";
import { redisMissing, startRedis, type RunningRedis } from "../test/helpers/redis.js";

const run = promisify(execFile);

export interface StoreBench {
  cases: Case[];
  notes: string[];
  pids: number[];
  stop(): Promise<void>;
}

/** Pin every process whose command line matches `pattern` (the server and its forks) to `cpus`. */
async function pin(pattern: string, cpus: string): Promise<number[]> {
  const pids = (await run("pgrep", ["-f", pattern]).then((r) => r.stdout, () => "")).split("\n").filter(Boolean).map(Number);
  for (const pid of pids) await run("taskset", ["-a", "-p", "-c", cpus, String(pid)]).catch(() => {});
  return pids;
}

/** Start Redis and PostgreSQL (only when a refresh case for them is selected by BENCH_ONLY). */
export async function storeBench(only: string | undefined, cpus: string): Promise<StoreBench> {
  const wanted = (id: string, name: string) => !only || `refresh-${id}`.includes(only) || `refresh grant, ${name} store, ES256`.includes(only);
  const out: StoreBench = { cases: [], notes: [], pids: [], stop: async () => {} };
  const stops: (() => Promise<void>)[] = [];
  if (wanted("redis", "Redis")) {
    const missing = await redisMissing();
    if (missing) out.notes.push(`Redis case skipped: ${missing}`);
    else {
      const redis: RunningRedis = await startRedis();
      stops.push(() => redis.destroy());
      out.pids.push(...(await pin(`redis-server 127.0.0.1:${redis.port}`, cpus)));
      out.cases.push(await refreshCase("redis", "Redis", `token_store: {redis: {url: "${redis.url}"}}`));
    }
  }
  if (wanted("postgres", "PostgreSQL")) {
    const missing = await postgresMissing();
    if (missing) out.notes.push(`PostgreSQL case skipped: ${missing}`);
    else {
      const pg: RunningPostgres = await startPostgres();
      stops.push(() => pg.destroy());
      // Backends fork from the postmaster and inherit its CPUs.
      out.pids.push(...(await pin(`postgres.*-p ${pg.port}`, cpus)));
      out.cases.push(await refreshCase("postgres", "PostgreSQL", `token_store: {postgres: {url: "${pg.url}"}}`));
    }
  }
  out.stop = async () => {
    await Promise.allSettled(stops.map((s) => s()));
  };
  return out;
}
