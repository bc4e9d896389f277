// Prometheus metrics and the audit trail of `regauth serve` as a real process: the values after a
// known sequence of requests (scraped and parsed), summed over two workers, on the main listener
// or their own; backend readiness; reloads; and the audit records for the same sequence, with
// no password or token in any record or log line.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../helpers/ports.js";
import { requestGrant, ROOT, startRegauth, testHash, writeKeyPair, type KeyFiles, type RunningRegauth } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";

const ALICE_PW = "alice-metrics-Passw0rd";
const WRONG_PW = "wrong-metrics-Passw0rd";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus' text format → samples (enough of it for these metrics: no escapes in label values). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[2]?.matchAll(/(\w+)="([^"]*)"/g) ?? []) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of one series; 0 when it has not appeared (a counter never incremented). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.reduce((a, x) => a + x.value, 0);
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

let dir: string;
let keys: KeyFiles;
let hash: string;
let program: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-metrics-"));
  keys = await writeKeyPair(dir, "token", "ec");
  hash = await testHash(ALICE_PW);
  // An ext_authz program that allows pull: a backend whose readiness is whether it can be run.
  program = join(dir, "authz.sh");
  await writeFile(program, '#!/bin/sh\ncat >/dev/null\nexit 0\n');
  await chmod(program, 0o755);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function config(extra: string, workers = 1): string {
  return `
server: {addr: "127.0.0.1:{{PORT}}", workers: ${workers}}
token: {issuer: "metrics", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  alice: {password: "${hash}"}
  "": {}
acl:
  - match: {account: "alice", name: "alice/*"}
    actions: ["*"]
  - match: {account: "", name: "public/*"}
    actions: ["pull"]
${extra}`;
}

/** The known sequence: 3 logins by alice (1 bcrypt, 2 cached), 1 wrong password, 1 anonymous pull, 1 partial grant, 1 malformed request. */
async function sequence(url: string): Promise<void> {
  for (let i = 0; i < 3; i++) assert.deepEqual((await requestGrant(url, "alice", ALICE_PW, "repository:alice/app:pull,push")).actions, ["pull", "push"]);
  assert.equal((await requestGrant(url, "alice", WRONG_PW, "repository:alice/app:pull")).status, 401);
  assert.ok(((await (await fetch(`${url}/auth?service=registry&scope=repository:public/app:pull`)).json()) as { token?: string }).token);
  // Anonymous asks for push and pull on public/: only pull (partial).
  assert.equal((await fetch(`${url}/auth?service=registry&scope=repository:public/app:pull,push`)).status, 200);
  assert.equal((await fetch(`${url}/auth?service=registry&scope=bad`)).status, 400);
}

describe("metrics on the main listener (one process)", () => {
  let r: RunningRegauth;
  before(async () => {
    r = await startRegauth(config(`ext_authz: {command: "${program}"}\naudit: {enabled: true, file: audit.log}`), { dir: await mkdtemp(join(dir, "single-")) });
    await sequence(r.url);
  });
  after(async () => {
    await r?.stop();
  });

  test("token requests, scopes, the credential cache and backend calls count what was done", async () => {
    const m = await scrape(`${r.url}/metrics`);
    assert.equal(value(m, "regauth_token_requests_total", { outcome: "issued", grant: "password" }), 5);
    assert.equal(value(m, "regauth_token_requests_total", { outcome: "unauthorized" }), 1);
    assert.equal(value(m, "regauth_token_requests_total", { outcome: "bad_request" }), 1);
    assert.equal(value(m, "regauth_token_request_duration_seconds_count"), 7);
    assert.equal(value(m, "regauth_scopes_total", { result: "granted" }), 4);
    assert.equal(value(m, "regauth_scopes_total", { result: "partial" }), 1);
    assert.equal(value(m, "regauth_scopes_total", { result: "denied" }), 0);
    assert.equal(value(m, "regauth_credential_cache_total", { result: "miss" }), 1);
    assert.equal(value(m, "regauth_credential_cache_total", { result: "hit" }), 2);
    assert.equal(value(m, "regauth_backend_calls_total", { backend: "static users", result: "denied" }), 1);
    assert.equal(value(m, "regauth_backend_calls_total", { backend: "static ACL", result: "ok" }), 5);
    assert.equal(value(m, "regauth_backend_up", { backend: "ext_authz" }), 1);
    // The token store's calls count too: the failed-login counts it shares (the first, uncached login's reset, the wrong
    // password's account and address), then at least one put per docker login.
    assert.equal(value(m, "regauth_backend_calls_total", { backend: "token_store (sqlite)", result: "ok" }), 3);
    const login = await fetch(`${r.url}/auth?service=registry&offline_token=true&client_id=docker&scope=repository:alice/app:pull`, { headers: { authorization: `Basic ${Buffer.from(`alice:${ALICE_PW}`).toString("base64")}` } });
    assert.ok(((await login.json()) as { refresh_token?: string }).refresh_token);
    assert.ok(value(await scrape(`${r.url}/metrics`), "regauth_backend_calls_total", { backend: "token_store (sqlite)", result: "ok" }) >= 4);
    assert.equal(value(m, "regauth_build_info", { node: process.version }), 1);
    assert.ok(value(m, "regauth_process_resident_memory_bytes") > 0, "process metrics are there");
  });

  test("a backend that cannot serve shows as down, and up again", async () => {
    await chmod(program, 0o644);
    try {
      assert.equal(value(await scrape(`${r.url}/metrics`), "regauth_backend_up", { backend: "ext_authz" }), 0);
    } finally {
      await chmod(program, 0o755);
    }
    assert.equal(value(await scrape(`${r.url}/metrics`), "regauth_backend_up", { backend: "ext_authz" }), 1);
  });

  test("reloads are counted: ok, and failed (the previous config kept)", async () => {
    const text = await readFile(r.configPath, "utf8");
    await writeFile(r.configPath, `${text}\n# touched\n`);
    r.proc.kill("SIGHUP");
    await eventually(async () => assert.equal(value(await scrape(`${r.url}/metrics`), "regauth_config_reloads_total", { result: "ok" }), 1));
    await writeFile(r.configPath, text.replace("issuer:", "isuer:"));
    r.proc.kill("SIGHUP");
    await eventually(async () => assert.equal(value(await scrape(`${r.url}/metrics`), "regauth_config_reloads_total", { result: "failed" }), 1));
    await writeFile(r.configPath, text);
  });

  test("the audit file has one record per decision, with the rule that decided each scope", async () => {
    const records = (await readFile(join(r.dir, "audit.log"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 8, "the sequence's 7 and the docker login of the first test");
    const first = records[0]!;
    assert.equal(first["account"], "alice");
    assert.equal(first["authn"], "static users");
    assert.deepEqual(first["requested"], ["repository:alice/app:pull,push"]);
    assert.deepEqual(first["granted"], ["repository:alice/app:pull,push"]);
    assert.deepEqual(first["rules"], ["repository:alice/app:pull,push <- static ACL #0"]);
    assert.equal(first["client_ip"], "127.0.0.1");
    assert.equal(typeof first["time"], "string");
    assert.deepEqual(
      records.map((x) => x["outcome"]),
      ["issued", "issued", "issued", "unauthorized", "issued", "issued", "bad_request", "issued"],
    );
    assert.deepEqual(records[5]!["granted"], ["repository:public/app:pull"]);
  });

  test("no password or token appears in any audit record or log line", async () => {
    const written = `${await readFile(join(r.dir, "audit.log"), "utf8")}\n${r.stdout()}\n${r.stderr()}`;
    const token = (await requestGrant(r.url, "alice", ALICE_PW, "repository:alice/app:pull")).text;
    const jwt = (JSON.parse(token) as { token: string }).token;
    await eventually(async () => assert.match(r.stdout(), /"request_id":9/));
    for (const secret of [ALICE_PW, WRONG_PW, jwt, jwt.split(".")[2]!, Buffer.from(`alice:${ALICE_PW}`).toString("base64")]) {
      assert.ok(!written.includes(secret) && !r.stdout().includes(secret), `a secret was written: ${secret.slice(0, 12)}...`);
    }
  });
});

describe("metrics summed over two workers, and on their own listener", () => {
  let r: RunningRegauth;
  let metricsPort: number;
  before(async () => {
    metricsPort = await freePort();
    r = await startRegauth(config(`metrics: {addr: "127.0.0.1:${metricsPort}"}\naudit: {enabled: true, file: audit.log}`, 2), { dir: await mkdtemp(join(dir, "cluster-")) });
  });
  after(async () => {
    await r?.stop();
  });

  test("every worker's requests are in one scrape; /metrics is not on the main listener", async () => {
    // Separate connections, so the kernel spreads them over both workers.
    for (let i = 0; i < 20; i++) await fetch(`${r.url}/auth?service=registry&scope=repository:public/app:pull`, { headers: { connection: "close" } });
    const m = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(value(m, "regauth_token_requests_total", { outcome: "issued" }), 20);
    assert.equal(value(m, "regauth_build_info"), 1, "the primary's build info once, not per worker");
    assert.equal((await fetch(`${r.url}/metrics`)).status, 404);
    // Both workers append to one audit file, whole lines each.
    const records = (await readFile(join(r.dir, "audit.log"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { pid: number });
    assert.equal(records.length, 20);
    assert.equal(new Set(records.map((x) => x.pid)).size, 2, "both workers served some of the requests");
  });
});

test("every metric the example alert rules and Grafana dashboard use is one regauth exports", async () => {
  const { parse } = await import("yaml");
  const rules = parse(await readFile(join(ROOT, "examples", "monitoring", "prometheus-alerts.yml"), "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const dashboard = JSON.parse(await readFile(join(ROOT, "examples", "monitoring", "grafana-dashboard.json"), "utf8")) as { panels: { targets: { expr: string }[] }[] };
  const exprs = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
  assert.ok(rules.groups[0]!.rules.length >= 5 && dashboard.panels.length >= 8);
  const r = await startRegauth(config(`ext_authz: {command: "${program}"}`, 1), { dir: await mkdtemp(join(dir, "names-")) });
  try {
    await sequence(r.url);
    // Declared metrics (# TYPE), with a histogram's series; a counter not yet counted has no sample but is declared.
    const text = await (await fetch(`${r.url}/metrics`)).text();
    const exported = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name!);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${name}${suffix}`);
    }
    for (const e of exprs)
      for (const name of e.match(/regauth_[a-z0-9_]+/g) ?? []) assert.ok(exported.has(name), `${name} (in ${e}) is not exported`);
  } finally {
    await r.stop();
  }
});

test("audit records go to stdout by default, whatever the log level, beside (not inside) the log", async () => {
  const text = config("audit: {enabled: true}");
  const r = await startRegauth(text, { dir: await mkdtemp(join(dir, "stdout-")) });
  try {
    assert.equal((await requestGrant(r.url, "alice", ALICE_PW, "repository:alice/app:pull")).status, 200);
    const records = () =>
      r
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{") && !l.includes('"level"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await eventually(async () => assert.equal(records().length, 1));
    assert.equal(records()[0]!["account"], "alice");
    assert.deepEqual(records()[0]!["granted"], ["repository:alice/app:pull"]);
  } finally {
    await r.stop();
  }
  // At the warn level there is no request log line, and the audit record is still written.
  const quiet = await startRegauth(text, { dir: await mkdtemp(join(dir, "quiet-")), env: { REGAUTH_LOG_LEVEL: "warn" } });
  try {
    assert.equal((await requestGrant(quiet.url, "alice", WRONG_PW, "repository:alice/app:pull")).status, 401);
    await eventually(async () => assert.match(quiet.stdout(), /"outcome":"unauthorized"/));
    assert.ok(!quiet.stdout().includes('"msg":"token request"'), "no request log line at warn");
  } finally {
    await quiet.stop();
  }
});
