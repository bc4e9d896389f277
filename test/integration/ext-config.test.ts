// ext_auth / ext_authz config: the command resolved at load (refused when missing, not
// executable, or its #! interpreter is missing), the regauth additions and their limits,
// `regauth check`, and the real regauth process keeping program stderr inside its JSON log.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExtAuthConfig, ExtAuthzConfig } from "../../src/backends/ext/section.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";
import { programEnv } from "../../src/exec/command.js";
import { BIN, startRegauth, writeKeyPair } from "../helpers/regauth.js";
import { basic, FIXTURES, q } from "../fixtures/ext/harness.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-ext-config-"));
  await writeFile(join(dir, "not-executable.sh"), "#!/bin/sh\nexit 0\n", { mode: 0o644 });
  await writeFile(join(dir, "no-interpreter.sh"), "#!/nonexistent/bin/python9\n", { mode: 0o755 });
  await writeFile(join(dir, "env-interpreter.sh"), "#!/usr/bin/env no-such-interpreter-xyz\n", { mode: 0o755 });
  await writeFile(join(dir, "ok.sh"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await chmod(join(dir, "ok.sh"), 0o755);
  await mkdir(join(dir, "a-directory"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = `server:
  addr: "127.0.0.1:0"
token:
  issuer: "i"
  expiration: 60
  certificate: "t.crt"
  key: "t.key"
`;

async function load(body: string) {
  return parseConfig("auth.yml", HEAD + body, dir);
}

async function problems(body: string): Promise<ConfigIssue[]> {
  try {
    await load(body);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  return [];
}

async function oneProblem(body: string, key: string, pattern: RegExp): Promise<ConfigIssue> {
  const list = await problems(body);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, key);
  assert.match(list[0]!.message, pattern);
  assert.ok(list[0]!.line !== undefined && list[0]!.line > 0, "the problem has a line");
  return list[0]!;
}

const extAuth = (lines: string) => `ext_auth:\n${lines}\nacl: []\n`;

describe("ext_auth's command is resolved at load", () => {
  test("an absolute path is kept; a relative one is relative to the working directory; a bare name is found in PATH", async () => {
    const abs = (await load(extAuth(`  command: ${q(join(FIXTURES, "ext_auth.sh"))}`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(abs.path, join(FIXTURES, "ext_auth.sh"));
    const rel = (await load(extAuth(`  command: "./ok.sh"\n  args: ["--flag", 5]`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(rel.path, join(dir, "./ok.sh"));
    assert.deepEqual(rel.args, ["--flag", "5"]);
    const bare = (await load(extAuth(`  command: "true"`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.match(bare.path, /^\/.*\/true$/);
  });

  test("defaults: 5 s timeout, 1 MiB of output, no cache, no extra environment", async () => {
    const c = (await load(extAuth(`  command: "true"`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(c.timeoutMs, 5000);
    assert.equal(c.maxOutputBytes, 1024 * 1024);
    assert.equal(c.cacheTtlMs, 0);
    assert.deepEqual(c.env, []);
  });

  test("a missing file is refused at ext_auth.command, with its line", async () => {
    const i = await oneProblem(extAuth(`  command: "/nonexistent/check-user"`), "ext_auth.command", /invalid command: \/nonexistent\/check-user does not exist/);
    assert.equal(i.line, 9);
  });

  test("a name not in PATH is refused", async () => {
    await oneProblem(extAuth(`  command: "no-such-program-xyz"`), "ext_auth.command", /"no-such-program-xyz" is not found in PATH/);
  });

  test("a file that is not executable, or a directory, is refused", async () => {
    await oneProblem(extAuth(`  command: "./not-executable.sh"`), "ext_auth.command", /not executable \(chmod \+x\)/);
    await oneProblem(extAuth(`  command: "./a-directory"`), "ext_auth.command", /is a directory/);
  });

  test("a script whose #! interpreter is missing is refused (it would fail only when run)", async () => {
    await oneProblem(extAuth(`  command: "./no-interpreter.sh"`), "ext_auth.command", /#! interpreter \/nonexistent\/bin\/python9 does not exist/);
    await oneProblem(extAuth(`  command: "./env-interpreter.sh"`), "ext_auth.command", /runs "no-such-interpreter-xyz" through env/);
  });

  test("no command at all is refused", async () => {
    await oneProblem(extAuth(`  args: ["x"]`), "ext_auth", /command is not set/);
    await oneProblem(extAuth(`  command: ""`), "ext_auth.command", /command is not set/);
  });

  test("the same checks apply to ext_authz", async () => {
    await oneProblem(`users: {}\next_authz:\n  command: "/nonexistent/decide"\n`, "ext_authz.command", /does not exist/);
  });
});

describe("regauth additions and their limits", () => {
  test("timeout_seconds takes fractions; 0, negatives, text and more than an hour are refused", async () => {
    const c = (await load(extAuth(`  command: "true"\n  timeout_seconds: 0.25`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(c.timeoutMs, 250);
    await oneProblem(extAuth(`  command: "true"\n  timeout_seconds: 0`), "ext_auth.timeout_seconds", /more than 0/);
    await oneProblem(extAuth(`  command: "true"\n  timeout_seconds: -3`), "ext_auth.timeout_seconds", /more than 0/);
    await oneProblem(extAuth(`  command: "true"\n  timeout_seconds: 5s`), "ext_auth.timeout_seconds", /must be a number/);
    await oneProblem(extAuth(`  command: "true"\n  timeout_seconds: 7200`), "ext_auth.timeout_seconds", /at most 3600/);
  });

  test("max_output_bytes must be a whole number from 1 to 64 MiB", async () => {
    const c = (await load(extAuth(`  command: "true"\n  max_output_bytes: 4096`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(c.maxOutputBytes, 4096);
    await oneProblem(extAuth(`  command: "true"\n  max_output_bytes: 0`), "ext_auth.max_output_bytes", /whole number/);
    await oneProblem(extAuth(`  command: "true"\n  max_output_bytes: 1.5`), "ext_auth.max_output_bytes", /whole number/);
  });

  test("cache_ttl_seconds: 0 (off) up to an hour", async () => {
    const c = (await load(extAuth(`  command: "true"\n  cache_ttl_seconds: 10`))).sections.get("ext_auth") as ExtAuthConfig;
    assert.equal(c.cacheTtlMs, 10_000);
    await oneProblem(extAuth(`  command: "true"\n  cache_ttl_seconds: -1`), "ext_auth.cache_ttl_seconds", /0 \(off\)/);
    // ext_authz has no cache: the key is unknown there.
    await oneProblem(`users: {}\next_authz:\n  command: "true"\n  cache_ttl_seconds: 10\n`, "ext_authz.cache_ttl_seconds", /unknown key/);
  });

  test("env: NAME copies regauth's variable, NAME=value sets one; a bad name is refused; an unset one is a warning", async () => {
    process.env.REGAUTH_TEST_SET_VAR = "from-regauth";
    delete process.env.REGAUTH_TEST_UNSET_VAR;
    const cfg = await load(extAuth(`  command: "true"\n  env: ["REGAUTH_TEST_SET_VAR", "FIXED=a=b c", "REGAUTH_TEST_UNSET_VAR"]`));
    const c = cfg.sections.get("ext_auth") as ExtAuthConfig;
    const env = programEnv(c.env);
    assert.equal(env.REGAUTH_TEST_SET_VAR, "from-regauth");
    assert.equal(env.FIXED, "a=b c");
    assert.equal(env.PATH, process.env.PATH);
    assert.ok(!("REGAUTH_TEST_UNSET_VAR" in env));
    assert.ok(cfg.warnings.some((w) => w.includes("REGAUTH_TEST_UNSET_VAR is not set")));
    await oneProblem(extAuth(`  command: "true"\n  env: ["OK", "1BAD"]`), "ext_auth.env[1]", /not NAME or NAME=value/);
  });

  test("a typo in a key is an error with a suggestion", async () => {
    await oneProblem(extAuth(`  comand: "true"\n  command: "true"`), "ext_auth.comand", /did you mean "command"/);
    await oneProblem(extAuth(`  command: "true"\n  timeout_second: 3`), "ext_auth.timeout_second", /did you mean "timeout_seconds"/);
  });

  test("ext_auth counts as an auth method and ext_authz as an authorizer (no users, no acl needed)", async () => {
    const cfg = await load(`ext_auth:\n  command: "true"\next_authz:\n  command: "true"\n`);
    assert.equal(cfg.users, undefined);
    assert.equal(cfg.acl, undefined);
    assert.equal((cfg.sections.get("ext_authz") as ExtAuthzConfig).path.endsWith("/true"), true);
  });
});

function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("the regauth command", () => {
  test("`regauth check` refuses a missing command with file, line and key, and accepts a good one", async () => {
    const keys = await writeKeyPair(dir, "token", "ec");
    const head = `server:\n  addr: "127.0.0.1:0"\ntoken:\n  issuer: "i"\n  expiration: 60\n  certificate: ${q(keys.cert)}\n  key: ${q(keys.key)}\nacl: []\n`;
    await writeFile(join(dir, "bad.yml"), `${head}ext_auth:\n  command: "./missing-script.sh"\n`);
    const bad = await cli(["check", "bad.yml"], dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.yml:10:\d+: ext_auth\.command: invalid command: \.\/missing-script\.sh does not exist/);
    await writeFile(join(dir, "good.yml"), `${head}ext_auth:\n  command: "./ok.sh"\n`);
    const good = await cli(["check", "good.yml"], dir);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /good\.yml: OK/);
  });

  test("a real regauth process: program stderr lands inside JSON log lines, never raw; the password never appears", async () => {
    const work = await mkdtemp(join(tmpdir(), "regauth-ext-proc-"));
    const keys = await writeKeyPair(work, "token", "ec");
    const secret = "process-level-secret-771";
    process.env.CICD_SECRET = secret;
    const r = await startRegauth(
      `server:\n  addr: "127.0.0.1:{{PORT}}"\ntoken:\n  issuer: "i"\n  expiration: 60\n  certificate: ${q(keys.cert)}\n  key: ${q(keys.key)}\n` +
        `ext_auth:\n  command: ${q(join(FIXTURES, "ext_auth.sh"))}\n  env: ["CICD_SECRET"]\nacl:\n  - match: {labels: {group: CICD}}\n    actions: ["pull"]\n`,
      { dir: work },
    );
    try {
      const get = (user: string, pass: string) => fetch(`${r.url}/auth?service=s&scope=repository:a/b:pull`, { headers: { authorization: basic(user, pass) } });
      assert.equal((await get("cicd", secret)).status, 200);
      assert.equal((await get("cicd", "wrong-process-secret")).status, 401);
      assert.equal((await get("crash", "x")).status, 503);
      assert.equal((await get("echo", secret)).status, 200);
      // The log is flushed asynchronously: wait for the last request's line.
      const deadline = Date.now() + 10_000;
      while (!r.stdout().includes('"account":"echo"') || !r.stdout().includes("the password is ***")) {
        if (Date.now() > deadline) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      const lines = r.stdout().split("\n").filter(Boolean);
      for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `stdout line is JSON: ${l.slice(0, 120)}`);
      const crash = lines.map((l) => JSON.parse(l)).find((e) => e.msg === "program stderr" && e.account === "crash");
      assert.match(crash?.stderr ?? "", /boom: cannot reach the user service/);
      assert.ok(!r.stderr().includes("boom"), "not on regauth's stderr either");
      assert.ok(r.stdout().includes("the password is ***"));
      for (const p of [secret, "wrong-process-secret"]) assert.ok(!r.stdout().includes(p) && !r.stderr().includes(p), "no password in regauth's output");
    } finally {
      await r.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
