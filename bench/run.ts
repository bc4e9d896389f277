// `npm run bench`: start regauth as its own process per case and measure tokens/s and latency
// percentiles at 32 concurrent keep-alive connections. Prints a table and the core count.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../src/authn/bcrypt.js";
import { freePort } from "../test/helpers/ports.js";
import { BIN, writeKeyPair } from "../test/helpers/regauth.js";
import { ldapBench } from "./ldap.js";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = 1;

/** One benchmark case: a config (users, ACL, extra sections) and the request to repeat. */
export interface Case {
  name: string;
  keyType: "ec" | "rsa";
  users: string;
  acl: string;
  extra?: string;
  path: string;
  auth?: string;
}

function bigAcl(n: number): string {
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

async function runCase(c: Case, dir: string): Promise<{ rps: number; p50: number; p90: number; p99: number; errors: number; n: number }> {
  const keys = await writeKeyPair(dir, `${c.name.replace(/\W+/g, "-")}`, c.keyType);
  const port = await freePort();
  const cfgFile = join(dir, `${c.name.replace(/\W+/g, "-")}.yml`);
  await writeFile(
    cfgFile,
    `server: {addr: "127.0.0.1:${port}"}\ntoken: {issuer: "bench", expiration: 900, certificate: "${keys.cert}", key: "${keys.key}"}\n${c.extra ?? ""}\nusers:\n${c.users}\nacl:\n${c.acl}\n`,
  );
  const proc = spawn(process.execPath, [BIN, "serve", cfgFile], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, REGAUTH_LOG_LEVEL: "warn" } });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  while (!err.includes("regauth is serving")) {
    if (proc.exitCode !== null) throw new Error(err);
    await new Promise((r) => setTimeout(r, 20));
  }
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const one = () =>
    new Promise<number>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: c.path, agent, headers: c.auth ? { authorization: c.auth } : {} }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", () => resolve(0));
      req.end();
    });
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t = process.hrtime.bigint();
      const status = await one();
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (!measuring) continue;
      if (status !== 200) errors++;
      latencies.push(ms);
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  proc.kill("SIGTERM");
  await new Promise((r) => proc.once("close", r));
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: latencies.length / elapsed, p50: pct(50), p90: pct(90), p99: pct(99), errors, n: latencies.length };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-bench-"));
  const pw = "bench-password";
  const hash10 = await hashPassword(pw, 10);
  const basic = `Basic ${Buffer.from(`bench:${pw}`).toString("base64")}`;
  const anonUsers = `  "": {}`;
  const anonAcl = `  - match: {account: "", name: "public/*"}\n    actions: ["pull"]`;
  const userLine = `  bench: {password: "${hash10}"}`;
  const userAcl = `  - match: {account: "bench"}\n    actions: ["pull", "push"]`;
  const pull = "/auth?service=bench&scope=repository:public/app:pull";
  const push = "/auth?service=bench&scope=repository:bench/app:pull,push";
  const cases: Case[] = [
    { name: "anonymous pull, ES256", keyType: "ec", users: anonUsers, acl: anonAcl, path: pull },
    { name: "anonymous pull, RS256", keyType: "rsa", users: anonUsers, acl: anonAcl, path: pull },
    { name: "user bcrypt cost 10, cache on, ES256", keyType: "ec", users: userLine, acl: userAcl, path: push, auth: basic },
    { name: "user bcrypt cost 10, cache off, ES256", keyType: "ec", users: userLine, acl: userAcl, path: push, auth: basic, extra: "credential_cache: {ttl_seconds: 0}" },
    { name: "user bcrypt cost 10, cache off, RS256", keyType: "rsa", users: userLine, acl: userAcl, path: push, auth: basic, extra: "credential_cache: {ttl_seconds: 0}" },
    { name: "push vs 1,000-entry ACL, ES256", keyType: "ec", users: userLine, acl: bigAcl(1000), path: push, auth: basic },
    { name: "push vs 1,000-entry ACL, RS256", keyType: "rsa", users: userLine, acl: bigAcl(1000), path: push, auth: basic },
  ];
  const only = process.env.BENCH_ONLY;
  const ldap = await ldapBench(dir, only);
  cases.push(...ldap.cases);
  process.stdout.write(`regauth benchmark: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), node ${process.version}, ${CONCURRENCY} connections, ${SECONDS} s per case after ${WARMUP_SECONDS} s warm-up\n\n`);
  const rows: string[][] = [["case", "tokens/s", "p50 ms", "p90 ms", "p99 ms", "requests", "errors"]];
  try {
    for (const c of cases) {
      if (only && !c.name.includes(only)) continue;
      const r = await runCase(c, dir);
      rows.push([c.name, r.rps.toFixed(0), r.p50.toFixed(2), r.p90.toFixed(2), r.p99.toFixed(2), String(r.n), String(r.errors)]);
      process.stderr.write(`  done: ${c.name}\n`);
    }
  } finally {
    await ldap.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [i, r] of rows.entries()) {
    process.stdout.write(r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join("  ") + "\n");
    if (i === 0) process.stdout.write(widths.map((w) => "-".repeat(w)).join("  ") + "\n");
  }
  if (ldap.note) process.stdout.write(`\n${ldap.note}\n`);
}

await main();
