// `npm run bench`: every case against regauth as its own process, at regauth's default log level
// (info), and against docker_auth when BENCH_PEER names its binary. Prints four tables: per core
// (server on CPU 0, load generator on CPU 1), the single-core ceilings, regauth beside docker_auth,
// and all cores (server.workers 1 and 2, nothing pinned).
// Environment: BENCH_SECONDS (default 5), BENCH_ONLY (a case id or part of a name), BENCH_ROUNDS (per-core rounds, default 1),
// BENCH_PEER (docker_auth binary), BENCH_LOADGEN=node (skip wrk), BENCH_REGAUTH (another bin/regauth).
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DURING, IDLE, mainCases, measureLimits, runCase, SECONDS, WARMUP_SECONDS, workersSupported, type Case, type Limits, type Outcome, type Target } from "./cases.js";
import { databaseBench } from "./databases.js";
import { ldapBench } from "./ldap.js";
import { storeBench } from "./stores.js";
import { pickGenerator, type Generator, type LoadResult } from "./load.js";
import { peerCommand, regauthCommand } from "./servers.js";

const out = (s = "") => process.stdout.write(`${s}\n`);
const progress = (s: string) => process.stderr.write(`  ${s}\n`);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const [i, r] of rows.entries()) {
    out(r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join("  ").trimEnd());
    if (i === 0) out(widths.map((w) => "-".repeat(w)).join("  "));
  }
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-");
/** A rate, marked "!" when the machine was not idle just before or after the run. */
let disturbed = 0;
const rate = (r: { background: number; others?: number }, x: number) => {
  if (r.background <= IDLE && (r.others ?? 0) <= DURING) return n0(x);
  disturbed++;
  return `${n0(x)}!`;
};
const ms = (x: number) => (!Number.isFinite(x) ? "-" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const ratio = (a: number, b: number | undefined) => (b && Number.isFinite(a / b) ? (a / b).toFixed(2) : "-");

/** Why a run has no numbers: the cell, and a note printed under the table. */
const notes: string[] = [];
function failed(o: Outcome & { ok: false }, who: string, c: Case): string {
  const what = o.exitCode === null ? "failed" : `exited ${o.exitCode} before serving`;
  notes.push(`${who}, ${c.name}: ${what}:\n    ${o.log.trim().split("\n").slice(-6).join("\n    ")}`);
  return `failed (${notes.length})`;
}

/** BENCH_ROUNDS: per-core runs of each case (regauth and docker_auth alternating); default 1. */
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 1)) || 1);

/** The middle of the finite values (NaN when there are none). */
function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((x, y) => x - y);
  return v.length ? v[Math.floor(v.length / 2)]! : NaN;
}

/** The round with the median rate; a failure only when every round failed. */
function medianOutcome(os: Outcome[]): Outcome {
  const ok = os.filter((o): o is Outcome & { ok: true } => o.ok).sort((x, y) => x.result.load.rate - y.result.load.rate);
  return ok.length ? ok[Math.floor(ok.length / 2)]! : os[0]!;
}

/** runCase, with a thrown error (load generator, first request) kept as that run's failure. */
async function attempt(c: Case, t: Target, gen: Generator, dir: string): Promise<Outcome> {
  try {
    const o = await runCase(c, t, gen, dir);
    const r = o.ok ? o.result : undefined;
    progress(r ? `  ${n0(r.load.rate)}/s; cores: server ${r.serverCores.toFixed(2)}, machine ${r.machineCores.toFixed(2)}, unexplained ${r.others.toFixed(2)}, idle check ${r.background.toFixed(2)}` : "  failed");
    return o;
  } catch (e) {
    return { ok: false, exitCode: null, log: (e as Error).message };
  }
}

function checkSample(o: Outcome, who: string, c: Case): void {
  const expected = c.sampleExpect ?? c.expect;
  if (o.ok && o.result.sample.status !== expected) notes.push(`${who}, ${c.name}: first answer was ${o.result.sample.status}, expected ${expected}: ${o.result.sample.body}`);
}

async function main(): Promise<void> {
  const gen = pickGenerator();
  const only = process.env.BENCH_ONLY;
  const peer = process.env.BENCH_PEER;
  const dir = await mkdtemp(join(tmpdir(), "regauth-bench-"));
  const ldap = await ldapBench(dir, only, "1");
  const stores = await storeBench(only, "1");
  const databases = await databaseBench(dir, only, "1");
  const cases = [...(await mainCases()), ...stores.cases, ...ldap.cases, ...databases.cases].filter((c) => !only || c.id.includes(only) || c.name.includes(only));
  const perCore = new Map<string, { regauth: Outcome; peer?: Outcome; ratios: number[] }>();
  const allCores = new Map<string, { w1?: Outcome; w2?: Outcome; single?: Outcome; peer?: Outcome }>();
  let limits: Limits | undefined;
  let workers: Awaited<ReturnType<typeof workersSupported>> = { ok: false, log: "" };
  try {
    if (cases.length) workers = await workersSupported(cases[0]!, dir);
    // Per core: `workers: 1` when the build knows the key, so its default (one per CPU) cannot add processes.
    const helperPids = [...ldap.pids, ...stores.pids, ...databases.pids];
    const pinned: Target = { command: regauthCommand, serverCpus: "0", loadCpus: "1", helperPids, ...(workers.ok ? { workers: 1 } : {}) };
    const peerPinned: Target | undefined = peer ? { ...pinned, command: (f) => peerCommand(peer, f) } : undefined;
    for (const c of cases) {
      // Rounds alternate regauth and docker_auth, so that a machine whose speed drifts (a shared VM)
      // moves both alike; the tables show each server's median round and the median of the ratios.
      const mine: Outcome[] = [];
      const theirs: Outcome[] = [];
      for (let k = 0; k < ROUNDS; k++) {
        progress(`per core: ${c.name}${ROUNDS > 1 ? ` (round ${k + 1} of ${ROUNDS})` : ""}`);
        const regauth = await attempt(c, pinned, gen, dir);
        checkSample(regauth, "regauth", c);
        mine.push(regauth);
        if (peerPinned && c.peer !== false) {
          const p = await attempt(c, peerPinned, gen, dir);
          checkSample(p, "docker_auth", c);
          theirs.push(p);
        }
      }
      const rates = (os: Outcome[]) => os.map((o) => (o.ok ? o.result.load.rate : NaN));
      const [a, b] = [rates(mine), rates(theirs)];
      perCore.set(c.id, { regauth: medianOutcome(mine), peer: theirs.length ? medianOutcome(theirs) : undefined, ratios: b.length ? a.map((x, i) => x / b[i]!) : [] });
    }
    progress("limits: crypto.sign and bare node:http");
    const es = perCore.get("anon-es256")?.regauth;
    limits = await measureLimits(es?.ok ? es.result.sample.bytes : 1000, pinned, gen, dir);
    for (const c of cases.filter((c) => c.allCores)) {
      progress(`all cores: ${c.name}`);
      const row: { w1?: Outcome; w2?: Outcome; single?: Outcome; peer?: Outcome } = {};
      if (workers.ok) {
        row.w1 = await attempt(c, { command: regauthCommand, workers: 1, helperPids }, gen, dir);
        row.w2 = await attempt(c, { command: regauthCommand, workers: 2, helperPids }, gen, dir);
      } else row.single = await attempt(c, { command: regauthCommand, helperPids }, gen, dir);
      if (peer && c.peer !== false) row.peer = await attempt(c, { command: (f) => peerCommand(peer, f), helperPids }, gen, dir);
      allCores.set(c.id, row);
    }
  } finally {
    await ldap.stop();
    await stores.stop();
    await databases.stop();
    await rm(dir, { recursive: true, force: true });
  }

  const cpu = cpus()[0]?.model ?? "?";
  out(`regauth benchmark: ${cpus().length} CPUs (${cpu}), node ${process.version}, ${SECONDS} s measured per case after ${WARMUP_SECONDS} s warm-up`);
  out(`load generator: ${gen === "wrk" ? "wrk (one thread, keep-alive, Lua script counts the expected status)" : "node (bench/load.ts: raw keep-alive sockets; wrk is not installed, or BENCH_LOADGEN=node; apt-get install wrk for the usual one)"}`);
  out(`servers log at their default level, to a file: regauth info (one JSON line per token request), docker_auth glog -logtostderr.`);
  out(`"CPU" = cores the server process (and its workers) kept busy during the measurement: 1.00 is one core saturated.`);

  // --- per core -----------------------------------------------------------------------------------
  out();
  out(`PER CORE: server pinned to CPU 0 (taskset -c 0), load generator and slapd pinned to CPU 1 (taskset -c 1); 32 connections, 64 for the 401 row.`);
  out(`÷sign = tokens/s over raw crypto.sign/s for the case's algorithm; ÷http = over bare node:http (LIMITS below).`);
  const signOf = (c: Case) => (c.keyType === "ec" ? limits?.es256 : limits?.rs256);
  const perCoreRows: string[][] = [["case", "tokens/s", "p50 ms", "p90 ms", "p99 ms", "errors", "CPU", "÷sign", "÷http"]];
  const loadCells = (r: LoadResult, rateCell = n0(r.rate)) => [rateCell, ms(r.p50), ms(r.p90), ms(r.p99), String(r.errors)];
  let logBytes = 0;
  for (const c of cases) {
    const o = perCore.get(c.id)?.regauth;
    if (!o) continue;
    const name = c.expect === 401 ? `${c.name}, answered/s` : c.name;
    if (!o.ok) {
      perCoreRows.push([name, failed(o, "regauth", c)]);
      continue;
    }
    const r = o.result;
    logBytes += r.logBytes;
    perCoreRows.push([name, ...loadCells(r.load, rate(r, r.load.rate)), r.serverCores.toFixed(2), c.expect === 200 ? ratio(r.load.rate, signOf(c)) : "", ratio(r.load.rate, limits?.http?.rate)]);
    if (r.probe) perCoreRows.push([`  + ${c.probe!.name}`, ...loadCells(r.probe, rate(r, r.probe.rate))]);
  }
  table(perCoreRows);
  if (ldap.note) out(ldap.note);
  for (const n of [...stores.notes, ...databases.notes]) out(n);
  out(`regauth wrote ${logBytes < 1e6 ? `${(logBytes / 1e3).toFixed(0)} kB` : `${(logBytes / 1e6).toFixed(1)} MB`} of info-level log over these cases.`);

  // --- limits ---------------------------------------------------------------------------------------
  out();
  out(`LIMITS on CPU 0 (one thread): what a single core can do at all.`);
  if (limits) {
    const h = limits.http;
    table([
      ["ceiling", "per s", "p50 ms", "p90 ms", "p99 ms", "errors"],
      [`bare node:http, ${limits.bytes}-byte JSON body, 32 conn`, ...(h ? loadCells(h, rate(limits, h.rate)) : ["failed to start"])],
      ["crypto.sign P-256 (ES256, ieee-p1363)", rate(limits, limits.es256)],
      ["crypto.sign RSA-2048 (RS256)", rate(limits, limits.rs256)],
    ]);
  }

  // --- peer -----------------------------------------------------------------------------------------
  out();
  if (!peer) out(`PEER: set BENCH_PEER=/path/to/docker_auth to run the same cases against docker_auth.`);
  else {
    out(`PEER, per core (pinned the same way, same config YAML; docker_auth has no credential cache and ignores the key): ${peer}`);
    if (ROUNDS > 1) out(`${ROUNDS} rounds a case, alternating the two servers: each column is that server's median round; regauth/docker_auth is the median of the rounds' ratios (each round's in "rounds").`);
    const rows: string[][] = [["case", "regauth/s", "docker_auth/s", "regauth/docker_auth", "p50 r | d", "p99 r | d", "errors r | d", "CPU r | d", ...(ROUNDS > 1 ? ["rounds"] : [])]];
    const both = (a: string, b: string) => `${a} | ${b}`;
    for (const c of cases) {
      const row = perCore.get(c.id);
      if (!row?.peer) continue;
      const [r, d] = [row.regauth, row.peer];
      if (!r.ok || !d.ok) {
        rows.push([c.name, r.ok ? n0(r.result.load.rate) : failed(r, "regauth", c), d.ok ? n0(d.result.load.rate) : failed(d, "docker_auth", c)]);
        continue;
      }
      const [a, b] = [r.result, d.result];
      const ratioCell = ROUNDS > 1 ? median(row.ratios).toFixed(2) : ratio(a.load.rate, b.load.rate);
      rows.push([c.name, rate(a, a.load.rate), rate(b, b.load.rate), ratioCell, both(ms(a.load.p50), ms(b.load.p50)), both(ms(a.load.p99), ms(b.load.p99)), both(String(a.load.errors), String(b.load.errors)), both(a.serverCores.toFixed(2), b.serverCores.toFixed(2)), ...(ROUNDS > 1 ? [row.ratios.map((x) => x.toFixed(2)).join(" ")] : [])]);
      if (a.probe && b.probe)
        rows.push([`  + ${c.probe!.name}`, rate(a, a.probe.rate), rate(b, b.probe.rate), ratio(a.probe.rate, b.probe.rate), both(ms(a.probe.p50), ms(b.probe.p50)), both(ms(a.probe.p99), ms(b.probe.p99)), both(String(a.probe.errors), String(b.probe.errors))]);
    }
    table(rows);
    out(`docker_auth has no credential cache: its "cache on" and 1,000-entry ACL rows (a bcrypt-10 user) pay bcrypt on every`);
    out(`request, and in the 401 row its probe logins (bcrypt each) take much of its core from the 401s.`);
    const peerLog = cases.reduce((sum, c) => {
      const o = perCore.get(c.id)?.peer;
      return sum + (o?.ok ? o.result.logBytes : 0);
    }, 0);
    out(`docker_auth wrote ${(peerLog / 1e6).toFixed(1)} MB of glog over these cases.`);
  }

  // --- all cores ----------------------------------------------------------------------------------
  out();
  out(`ALL CORES: nothing pinned; the server and the load generator share the machine's ${availableParallelism()} CPUs; the main cases (no LDAP).`);
  out(`The load generator needs CPU too, so 2 workers cannot reach 2x 1 worker here: with 1 worker the server has one core and the`);
  out(`generator mostly the other; with 2 they split both. "CPU srv/all" shows the server's cores and the whole machine's; all minus`);
  out(`srv is (about) the generator. Read the 2/1 ratio against srv CPU, not against 2.00; on a dedicated box it would be higher.`);
  if (!workers.ok) {
    out(`workers: not supported by this build (server.workers was refused: ${workers.log.trim().split("\n").slice(-1)[0] ?? ""})`);
    out(`so regauth runs as one process (no workers key); docker_auth (Go) uses every CPU on its own.`);
  }
  const cell = (o: Outcome | undefined, who: string, c: Case): string[] =>
    !o ? [] : o.ok ? [rate(o.result, o.result.load.rate), ms(o.result.load.p99), `${o.result.serverCores.toFixed(2)}/${o.result.machineCores.toFixed(2)}`] : [failed(o, who, c), "", ""];
  const head = workers.ok ? ["w=1 /s", "p99 ms", "CPU srv/all", "w=2 /s", "p99 ms", "CPU srv/all", "w2/w1"] : ["regauth /s", "p99 ms", "CPU srv/all"];
  const allRows: string[][] = [["case", ...head, ...(peer ? ["docker_auth /s", "p99 ms", "CPU srv/all", "regauth/docker_auth"] : [])]];
  for (const c of cases) {
    const row = allCores.get(c.id);
    if (!row) continue;
    const best = workers.ok ? row.w2 : row.single;
    const rate = (o: Outcome | undefined) => (o?.ok ? o.result.load.rate : NaN);
    const mine = workers.ok ? [...cell(row.w1, "regauth w=1", c), ...cell(row.w2, "regauth w=2", c), ratio(rate(row.w2), rate(row.w1))] : cell(row.single, "regauth", c);
    allRows.push([c.expect === 401 ? `${c.name}, answered/s` : c.name, ...mine, ...(peer ? [...cell(row.peer, "docker_auth unpinned", c), ratio(rate(best), rate(row.peer))] : [])]);
  }
  if (allRows.length > 1) table(allRows);
  if (workers.ok && peer) out(`regauth/docker_auth compares w=2 with docker_auth.`);

  if (disturbed) {
    out();
    out(`! = disturbed: other processes kept more than ${IDLE} of a core busy just before or just after that run (the bench waits`);
    out(`up to BENCH_WAIT_IDLE s, default 30, for quiet first), or more than ${DURING} during it (machine CPU less server, load`);
    out(`generator and slapd). Rerun on an idle machine.`);
  }
  if (notes.length) {
    out();
    for (const [i, n] of notes.entries()) out(`(${i + 1}) ${n}`);
  }
}

await main();
