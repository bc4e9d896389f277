// The cases of `npm run bench` and how one is run against one server: write its config (the same
// YAML for regauth and docker_auth), start the server, check one answer, warm up 1 s, let the server
// go idle, then measure BENCH_SECONDS with the server's CPU time sampled around it. Also the
// single-core ceilings: raw crypto.sign rates (this file run as `node cases.js --sign ec|rsa SECONDS`) and bare node:http.
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashPassword } from "../src/authn/bcrypt.js";
import { freePort } from "../test/helpers/ports.js";
import { ROOT, writeKeyPair, type KeyFiles } from "../test/helpers/regauth.js";
import { runLoad, type Generator, type LoadResult } from "./load.js";
import { bareHttpCommand, cpuOf, machineBusySeconds, regauthCommand, startServer, type Running } from "./servers.js";

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const WARMUP_SECONDS = 1;

/** One case: a config (users, ACL, extra sections) and the request to repeat. */
export interface Case {
  /** Short name, matched by BENCH_ONLY. */
  id: string;
  name: string;
  keyType: "ec" | "rsa";
  users: string;
  acl: string;
  extra?: string;
  path: string;
  auth?: string;
  connections: number;
  /** The status that counts as an answer. */
  expect: number;
  /** The status of one request alone, before the load, when it differs from `expect` (a flood's 503 needs the flood). */
  sampleExpect?: number;
  /**
   * A form body: the case POSTs it. `{refresh}` in it is replaced by a refresh token minted
   * (GET with `auth` and offline_token=true) once the server is up.
   */
  form?: string;
  /** A second, smaller load run at the same time (its latency is reported on its own). */
  probe?: { name: string; path: string; auth: string; connections: number };
  /** Also run in the all-cores table. */
  allCores: boolean;
  /** More `server` keys (regauth's), written inside its mapping. */
  serverKeys?: string;
  /** Run against docker_auth too (false: it has no such feature). */
  peer?: boolean;
}

/** Where and how to run a case. */
export interface Target {
  command: (configFile: string) => string[];
  /** CPU list for the server (taskset -c), or unpinned. */
  serverCpus?: string;
  /** CPU list for the load generator, or unpinned. */
  loadCpus?: string;
  /** `server.workers` to write into the config, if any. */
  workers?: number;
  /** Processes that belong to the setup (slapd): their CPU is not counted as disturbance. */
  helperPids?: number[];
}

export interface CaseResult {
  load: LoadResult;
  probe?: LoadResult;
  /** Server CPU time over wall time during the measurement: cores it kept busy. */
  serverCores: number;
  /** The same for the whole machine (server + load generator + the rest). */
  machineCores: number;
  logBytes: number;
  /** Cores busy on the machine just before the server started or just after it stopped: other work. */
  background: number;
  /** Cores busy during the measurement that were neither the server, the load generator nor a helper. */
  others: number;
  /** One request before the warm-up: its status and body size. */
  sample: { status: number; bytes: number; body: string };
}

export type Outcome = { ok: true; result: CaseResult } | { ok: false; exitCode: number | null; log: string };

export function bigAcl(n: number): string {
  // n-1 entries that do not match a push to bench/app, of the shapes real ACLs have, then the one that does.
  const lines: string[] = [];
  for (let i = 0; i < n - 1; i++) {
    const shape = i % 4;
    if (shape === 0) lines.push(`  - match: {account: "user${i}", name: "team${i}/*"}\n    actions: ["pull", "push"]`);
    else if (shape === 1) lines.push(`  - match: {name: "/^project-${i}\\\\/.+$/"}\n    actions: ["pull"]`);
    else if (shape === 2) lines.push(`  - match: {account: "/^svc-${i}-.*/", name: "\${account}/*"}\n    actions: ["*"]`);
    else lines.push(`  - match: {labels: {group: "g${i}"}, name: "shared${i}/*"}\n    actions: ["pull"]`);
  }
  lines.push(`  - match: {account: "bench", name: "bench/*"}\n    actions: ["pull", "push"]`);
  return lines.join("\n");
}

/** The cases that need nothing but regauth (the LDAP ones come from ldap.ts). */
export async function mainCases(): Promise<Case[]> {
  const sqliteRefresh = await refreshCase("sqlite", "SQLite", "token_store: {sqlite: {path: STORE_DIR/regauth.db}}");
  const pw = "bench-password";
  const basic = `Basic ${Buffer.from(`bench:${pw}`).toString("base64")}`;
  const anonUsers = `  "": {}`;
  const anonAcl = `  - match: {account: "", name: "public/*"}\n    actions: ["pull"]`;
  const benchHash = await hashPassword(pw, 10);
  const userLine = `  bench: {password: "${benchHash}"}`;
  const userAcl = `  - match: {account: "bench"}\n    actions: ["pull", "push"]`;
  const pull = "/auth?service=bench&scope=repository:public/app:pull";
  const push = "/auth?service=bench&scope=repository:bench/app:pull,push";
  const off = "credential_cache: {ttl_seconds: 0}";
  const common = { connections: 32, expect: 200, allCores: true };
  const user = { ...common, keyType: "ec" as const, users: userLine, path: push, auth: basic };
  return [
    { ...common, id: "anon-es256", name: "anonymous pull, ES256", keyType: "ec", users: anonUsers, acl: anonAcl, path: pull },
    { ...common, id: "anon-rs256", name: "anonymous pull, RS256", keyType: "rsa", users: anonUsers, acl: anonAcl, path: pull },
    // Every request a different repository: no two grants alike, so no token is reused within a second.
    { ...common, id: "distinct-es256", name: "anonymous pull, distinct repos, ES256", keyType: "ec", users: anonUsers, acl: anonAcl, path: pull.replace("public/app", "public/app{n}") },
    { ...common, id: "distinct-rs256", name: "anonymous pull, distinct repos, RS256", keyType: "rsa", users: anonUsers, acl: anonAcl, path: pull.replace("public/app", "public/app{n}") },
    { ...user, id: "bcrypt-cached", name: "bcrypt-10 user, cache on, ES256", acl: userAcl },
    { ...user, id: "bcrypt-uncached", name: "bcrypt-10 user, cache off, ES256", acl: userAcl, extra: off },
    { ...user, id: "acl-1000", name: "push vs 1,000-entry ACL, ES256", acl: bigAcl(1000) },
    // A flood of wrong passwords for ever new users (each a bcrypt check at the users' cost), at full
    // speed; past server.max_password_checks and its queue it gets fast 503s. The probe measures
    // what the other users see meanwhile.
    // login_limits are off, or the address would be locked at once and no bcrypt would run at all.
    ...[32, 200].flatMap((connections) =>
      (["cached login", "anonymous pull"] as const).map((what) => ({
        ...common,
        id: `flood-${connections}-${what === "cached login" ? "cached" : "anon"}`,
        name: `wrong-password flood, ${connections} conn, + ${what}`,
        keyType: "ec" as const,
        users: `${userLine}\n${anonUsers}`,
        acl: `${userAcl}\n${anonAcl}`,
        extra: "login_limits: {enabled: false}",
        serverKeys: process.env.BENCH_MAX_PASSWORD_CHECKS ? `max_password_checks: ${process.env.BENCH_MAX_PASSWORD_CHECKS}` : undefined,
        path: "/auth",
        form: "grant_type=password&username=flood{n}&password=wrong&service=bench&client_id=bench",
        // 32 connections stay within the bound (checks wait their turn: the form's 400 invalid_grant); 200 fill it (fast 503s).
        expect: connections > 64 ? 503 : 400,
        sampleExpect: 400,
        connections,
        allCores: false,
        peer: false,
        probe: what === "cached login" ? { name: "cached logins meanwhile (4 conn)", path: push, auth: basic, connections: 4 } : { name: "anonymous pulls meanwhile (4 conn)", path: pull, auth: "", connections: 4 },
      })),
    ),
    // casbin decides (one enforce per action, docker_auth's model and labelMatch); docker_auth's peer build has no casbin.
    {
      ...user,
      id: "casbin",
      name: "push decided by casbin_authz, ES256",
      users: `  bench: {password: "${benchHash}", labels: {group: [bench]}}`,
      acl: '  - match: {account: "nobody"}\n    actions: []',
      extra: `casbin_authz: {model_path: "${join(ROOT, "examples", "casbin", "model.conf")}", policy_path: "${join(ROOT, "bench", "casbin-policy.csv")}"}`,
      allCores: false,
      peer: false,
    },
    // docker's identity token at work: the engine's POST for every pull after `docker login`.
    sqliteRefresh,
    {
      ...user,
      id: "no-creds-401",
      name: "no credentials, no anonymous user (401s)",
      acl: userAcl,
      auth: undefined,
      connections: 64,
      expect: 401,
      probe: { name: "cached logins meanwhile (4 conn)", path: push, auth: basic, connections: 4 },
    },
  ];
}

/**
 * The refresh grant (docker's identity token: the engine's POST for every pull after `docker
 * login`) against one token store. docker_auth has no refresh tokens: no peer run.
 */
export async function refreshCase(id: string, label: string, store: string): Promise<Case> {
  const pw = "bench-password";
  return {
    id: `refresh-${id}`,
    name: `refresh grant, ${label} store, ES256`,
    keyType: "ec",
    users: `  bench: {password: "${await hashPassword(pw, 10)}"}`,
    acl: `  - match: {account: "bench"}\n    actions: ["pull", "push"]`,
    auth: `Basic ${Buffer.from(`bench:${pw}`).toString("base64")}`,
    path: "/auth",
    form: "grant_type=refresh_token&refresh_token={refresh}&client_id=docker&service=bench&scope=repository%3Abench%2Fapp%3Apull%2Cpush",
    extra: store,
    connections: 32,
    expect: 200,
    allCores: true,
    peer: false,
  };
}

const keys = new Map<string, Promise<KeyFiles>>();

/** The config file: regauth and docker_auth read the same YAML (docker_auth ignores keys it does not know). */
async function writeConfig(c: Case, dir: string, port: number, workers: number | undefined): Promise<string> {
  let k = keys.get(c.id);
  if (!k) keys.set(c.id, (k = writeKeyPair(dir, c.id, c.keyType)));
  const { cert, key } = await k;
  const file = join(dir, `${c.id}-${port}.yml`);
  const server = `server: {addr: "127.0.0.1:${port}"${workers === undefined ? "" : `, workers: ${workers}`}${c.serverKeys ? `, ${c.serverKeys}` : ""}}`;
  await writeFile(file, `${server}\ntoken: {issuer: "bench", expiration: 900, certificate: "${cert}", key: "${key}"}\n${(c.extra ?? "").replaceAll("STORE_DIR", join(dir, `store-${port}`))}\nusers:\n${c.users}\nacl:\n${c.acl}\n`);
  return file;
}

function once(port: number, path: string, auth: string | undefined): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, headers: auth ? { authorization: auth } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: body.length, body: body.toString("utf8", 0, 300) });
      });
    });
    req.on("error", reject);
  });
}

function oncePost(port: number, path: string, form: string): Promise<{ status: number; bytes: number; body: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form }).then(async (r) => {
    const body = await r.text();
    return { status: r.status, bytes: Buffer.byteLength(body), body: body.slice(0, 300) };
  });
}

/**
 * Wait until the server is idle: requests the warm-up left in flight (a cache-off bcrypt case has
 * seconds of them) are still worked on after their connections close, and must not eat into the measurement.
 */
async function settle(server: Running): Promise<void> {
  const deadline = performance.now() + 60_000;
  let before = await server.cpuSeconds();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await server.cpuSeconds();
    if (now - before < 0.02) return;
    before = now;
  }
}

/** Run `c` against `t`: start, sample, warm up, measure (with the probe alongside), stop. */
export async function runCase(c: Case, t: Target, gen: Generator, dir: string): Promise<Outcome> {
  const port = await freePort();
  const configFile = await writeConfig(c, dir, port, t.workers);
  const before = await quiet();
  const started = await startServer(t.command(configFile), port, t.serverCpus, `${configFile}.log`);
  if (!started.ok) return started;
  const server = started.server;
  try {
    let form = c.form;
    if (form?.includes("{refresh}")) {
      const login = await fetch(`http://127.0.0.1:${port}/auth?service=bench&offline_token=true&client_id=docker`, { headers: c.auth ? { authorization: c.auth } : {} });
      const text = await login.text();
      const token = (JSON.parse(text) as { refresh_token?: string }).refresh_token;
      if (!token) return { ok: false, exitCode: null, log: `no refresh token from the login: ${login.status} ${text.slice(0, 300)}` };
      form = form.replace("{refresh}", token);
    }
    const sample = form === undefined ? await once(port, c.path.replace("{n}", "0"), c.auth) : await oncePost(port, c.path, form);
    const loads = (seconds: number) => {
      const main = runLoad(gen, { port, path: c.path, auth: form === undefined ? c.auth : undefined, form, connections: c.connections, seconds, expect: c.expect }, t.loadCpus, dir);
      const probe = c.probe && runLoad(gen, { port, path: c.probe.path, auth: c.probe.auth, connections: c.probe.connections, seconds, expect: 200 }, t.loadCpus, dir);
      return Promise.all([main, probe]);
    };
    await loads(WARMUP_SECONDS);
    await settle(server);
    const helpers = () => cpuOf(t.helperPids ?? []);
    const [cpu0, busy0, help0, t0] = [await server.cpuSeconds(), await machineBusySeconds(), await helpers(), performance.now()];
    const [load, probe] = await loads(SECONDS);
    const [cpu1, busy1, help1, t1] = [await server.cpuSeconds(), await machineBusySeconds(), await helpers(), performance.now()];
    const wall = (t1 - t0) / 1000;
    const [serverCores, machineCores] = [(cpu1 - cpu0) / wall, (busy1 - busy0) / wall];
    const others = machineCores - serverCores - (load.cpuSeconds + (probe?.cpuSeconds ?? 0) + help1 - help0) / wall;
    const result: CaseResult = { load, serverCores, machineCores, others, logBytes: await server.logBytes(), background: before, sample };
    if (probe) result.probe = probe;
    await server.stop();
    result.background = Math.max(before, await busyCores(500));
    return { ok: true, result };
  } finally {
    await server.stop();
  }
}

/** Cores the machine keeps busy over the next `ms`. */
async function busyCores(ms: number): Promise<number> {
  const b0 = await machineBusySeconds();
  await new Promise((r) => setTimeout(r, ms));
  return ((await machineBusySeconds()) - b0) / (ms / 1000);
}

/** Other processes share this machine (tests, builds): wait up to BENCH_WAIT_IDLE s (default 30) for it to go quiet; returns the busy cores seen last. */
async function quiet(): Promise<number> {
  const deadline = performance.now() + Number(process.env.BENCH_WAIT_IDLE ?? 30) * 1000;
  for (;;) {
    const busy = await busyCores(500);
    if (busy <= IDLE || performance.now() > deadline) return busy;
  }
}

/** Above this many busy cores (before or after a run), the run is marked as disturbed. */
export const IDLE = 0.1;
/** Above this many cores of unexplained CPU during a run (kernel networking, wrk's sampling gaps are some), likewise. */
export const DURING = 0.2;

export interface Limits {
  /** Bare node:http answering a JSON body of `bytes` bytes, server pinned like regauth. */
  http?: LoadResult;
  /** The most cores other processes kept busy just before or after these measurements. */
  background: number;
  bytes: number;
  /** crypto.sign per second, one thread, on the server's core. */
  es256: number;
  rs256: number;
}

function signRate(type: "ec" | "rsa", cpus: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn("taskset", ["-c", cpus, process.execPath, fileURLToPath(import.meta.url), "--sign", type, String(Math.min(SECONDS, 3))], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.once("close", (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`sign rate (${type}) exited ${code}`))));
  });
}

/** The ceilings on the server's core: signatures per second, and what bare node:http answers. */
export async function measureLimits(bytes: number, t: Target, gen: Generator, dir: string): Promise<Limits> {
  let background = await quiet();
  const es256 = await signRate("ec", t.serverCpus ?? "0");
  const rs256 = await signRate("rsa", t.serverCpus ?? "0");
  const port = await freePort();
  background = Math.max(background, await quiet());
  const started = await startServer(bareHttpCommand(port, bytes), port, t.serverCpus, join(dir, "bare-http.log"));
  if (!started.ok) return { bytes, es256, rs256, background };
  try {
    const spec = { port, path: "/auth?service=bench&scope=repository:public/app:pull", connections: 32, expect: 200 };
    await runLoad(gen, { ...spec, seconds: WARMUP_SECONDS }, t.loadCpus, dir);
    const http = await runLoad(gen, { ...spec, seconds: SECONDS }, t.loadCpus, dir);
    await started.server.stop();
    return { http, bytes, es256, rs256, background: Math.max(background, await busyCores(500)) };
  } finally {
    await started.server.stop();
  }
}

/** A signing input the size of a token's header.payload, signed in a loop for `seconds`; prints signatures/s. */
function signLoop(type: "ec" | "rsa", seconds: number): void {
  const key: KeyObject = type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey : generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const input = Buffer.from("e".repeat(120) + "." + "p".repeat(380));
  const options = type === "ec" ? { key, dsaEncoding: "ieee-p1363" as const } : key;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) sign("sha256", input, options);
    n += 20;
  }
  process.stdout.write(`${n / ((performance.now() - start) / 1000)}\n`);
}


/** Whether this regauth build accepts `server.workers` (refused keys make it exit with a config error). */
export async function workersSupported(c: Case, dir: string): Promise<{ ok: true } | { ok: false; log: string }> {
  const port = await freePort();
  const configFile = await writeConfig(c, dir, port, 1);
  const started = await startServer(regauthCommand(configFile), port, undefined, `${configFile}.log`);
  if (started.ok) {
    await started.server.stop();
    return { ok: true };
  }
  if (/workers/.test(started.log)) return { ok: false, log: started.log };
  throw new Error(`regauth did not start (exit ${started.exitCode}):\n${started.log}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--sign") signLoop(process.argv[3] === "rsa" ? "rsa" : "ec", Number(process.argv[4]));
