// ext_auth with real programs, in bash and in Python (the same behaviours twice):
// docker_auth's exit statuses, labels into the ACL, bad output, timeouts, big output,
// the environment allow-list, the cache, and the password kept out of the log.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { ExtAuthenticator } from "../../src/backends/ext/authenticator.js";
import type { ExtAuthConfig } from "../../src/backends/ext/section.js";
import { createLogger } from "../../src/log.js";
import { Secret } from "../../src/secret.js";
import { testHash } from "../helpers/regauth.js";
import { alive, errorMessage, granted, LANGUAGES, LogSink, q, runs, startTestServer, tracked, waitFor, type TestServer } from "../fixtures/ext/harness.js";

const CICD_SECRET = `cicd-${randomBytes(9).toString("base64url")}`;
const ECHOED = `echoed-${randomBytes(9).toString("base64url")}`;
/** Every password this suite sends; none may appear in regauth's log. */
const PASSWORDS = [CICD_SECRET, ECHOED, "wonderland", "bob-pass", "eve-pass", "not-the-secret", "admin-pass"];

// The plugin after ext_auth in docker_auth's order: proves that exit 2 passes the user on.
const NEXT_PLUGIN = `
export const calls = [];
export default {
  name: "next",
  async authenticate(user, password) {
    calls.push(user);
    if (user === "other-bob") return password.reveal() === "bob-pass" ? { kind: "match", labels: { via: ["plugin"] } } : { kind: "denied" };
    return { kind: "no-match" };
  },
  async stop() {},
};
`;

before(() => {
  process.env.CICD_SECRET = CICD_SECRET;
  process.env.REGAUTH_TEST_NOT_LISTED = "must-not-leak";
});

for (const { lang, auth } of LANGUAGES) {
  describe(`ext_auth with a ${lang} program`, () => {
    let s: TestServer;
    let nextCalls: string[];
    before(async () => {
      const adminHash = await testHash("admin-pass");
      s = await startTestServer(async (dir) => {
        await writeFile(join(dir, "next.mjs"), NEXT_PLUGIN);
        return `
users:
  "admin":
    password: ${q(adminHash)}
ext_auth:
  command: ${q(auth)}
  timeout_seconds: 3
  max_output_bytes: 65536
  env: ["CICD_SECRET", ${q(`MARK_DIR=${dir}`)}, "FIXED_VALUE=fixed value with spaces"]
plugin_authn:
  plugin_path: "next.mjs"
acl:
  - match: {labels: {group: CICD}, name: "ci/*"}
    actions: ["pull", "push"]
    comment: "the CI robot pushes"
  - match: {account: "alice", name: "alice/*"}
    actions: ["*"]
  - match: {labels: {via: plugin}}
    actions: ["pull"]
  - match: {labels: {noisy: "yes"}}
    actions: ["pull"]
`;
      });
      nextCalls = ((await import(pathToFileURL(join(s.dir, "next.mjs")).href)) as { calls: string[] }).calls;
    });
    after(async () => {
      await s?.stop();
    });

    const ext = () => s.authenticator("ext_auth") as ExtAuthenticator;

    test("cicd with the right secret gets group CICD, and the ACL entry for that label lets it push", async () => {
      const r = await s.token("cicd", CICD_SECRET, "repository:ci/app:push,pull", "repository:other/app:push");
      assert.deepEqual(granted(r), { "ci/app": ["pull", "push"], "other/app": [] });
      const entry = await s.log.entry((e) => e.event === "token" && e.account === "cicd" && e.status === 200);
      assert.equal(entry?.authn, "ext_auth");
      assert.deepEqual(await ext().authenticate("cicd", new Secret(CICD_SECRET)), { kind: "match", labels: { group: ["CICD"] } });
    });

    test("exit 1 denies with a 401 and no later method is asked", async () => {
      const r = await s.token("cicd", "not-the-secret", "repository:ci/app:pull");
      assert.equal(r.status, 401);
      assert.ok(!nextCalls.includes("cicd"), "the plugin after ext_auth was not asked");
    });

    test("exit 0 with no output allows with no labels", async () => {
      const r = await s.token("alice", "wonderland", "repository:alice/app:push", "repository:ci/app:push");
      assert.deepEqual(granted(r), { "alice/app": ["push"], "ci/app": [] });
      assert.deepEqual(await ext().authenticate("alice", new Secret("wonderland")), { kind: "match", labels: {} });
    });

    test("exit 2 is no match: the next method (plugin_authn) decides", async () => {
      const ok = await s.token("other-bob", "bob-pass", "repository:any/thing:pull,push");
      assert.deepEqual(granted(ok), { "any/thing": ["pull"] });
      assert.ok(nextCalls.includes("other-bob"));
      assert.equal((await s.log.entry((e) => e.event === "token" && e.account === "other-bob"))?.authn, "plugin_authn (next)");
      const denied = await s.token("other-bob", "eve-pass", "repository:any/thing:pull");
      assert.equal(denied.status, 401);
      assert.ok((await runs(s.dir)).filter((u) => u === "other-bob").length >= 2, "ext_auth ran first each time");
    });

    test("a user no method knows gets the usual 401", async () => {
      const r = await s.token("nobody", "x", "repository:any/thing:pull");
      assert.equal(r.status, 401);
      assert.ok(nextCalls.includes("nobody"));
    });

    test("static users come first: the program is not run for them", async () => {
      const before = (await runs(s.dir)).length;
      assert.equal((await s.token("admin", "admin-pass")).status, 200);
      assert.equal((await s.token("admin", "wrong-admin-pass")).status, 401);
      assert.equal((await runs(s.dir)).length, before);
    });

    test("any other exit status is an error: 503 with a clear message, stderr in the log", async () => {
      const r = await s.token("crash", "x", "repository:ci/app:pull");
      assert.equal(r.status, 503);
      assert.equal(r.body.errors[0].code, "BACKEND_UNAVAILABLE");
      assert.match(errorMessage(r), /^ext_auth: the program exited with status 3/);
      const stderr = s.log.entries().find((e) => e.msg === "program stderr" && e.account === "crash");
      assert.match(stderr?.stderr ?? "", /boom: cannot reach the user service/);
      assert.equal(stderr?.level, "warn");
      assert.ok(s.log.entries().some((e) => e.level === "error" && e.account === "crash" && e.exit === 3));
    });

    test("a program killed by a signal is an error naming the signal", async () => {
      const r = await s.token("segv", "x");
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /^ext_auth: the program was killed by SIGSEGV$/);
    });

    test("malformed JSON on stdout: a 503 naming the problem, not a crash; the server keeps serving", async () => {
      const r = await s.token("badjson", "x", "repository:ci/app:pull");
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /ext_auth: the program's output is not valid JSON/);
      const logged = s.log.entries().find((e) => e.account === "badjson" && e.level === "error");
      assert.match(logged?.stdout ?? "", /this is not json/);
      assert.equal((await s.token("alice", "wonderland", "repository:alice/app:pull")).status, 200);
    });

    test("labels of the wrong shape (a string, not a list) are an error too", async () => {
      const r = await s.token("badlabels", "x");
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /label "group" in the program's output must be a list of strings/);
    });

    test("megabytes on stdout: the program is killed at max_output_bytes and the request fails with a 503", async () => {
      const r = await s.token("big", "x");
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /printed more than 65536 bytes on stdout and was killed/);
      assert.equal((await s.token("alice", "wonderland")).status, 200);
    });

    test("megabytes on stderr: the answer stands; the log keeps the first 16 KiB and counts the rest", async () => {
      const r = await s.token("noisy", "x", "repository:some/thing:pull");
      assert.deepEqual(granted(r), { "some/thing": ["pull"] });
      const e = s.log.entries().find((x) => x.msg === "program stderr" && x.account === "noisy");
      assert.ok(e, "stderr was logged");
      assert.equal(e.level, "info");
      assert.equal(e.stderr.length, 16 * 1024);
      assert.equal(e.stderr_dropped_bytes, 5_000_000 - 16 * 1024);
    });

    test("a hanging program is killed at the timeout (its children too) with a 503; other requests are served meanwhile", async () => {
      const hang = tracked(s.token("hang", "x", "repository:ci/app:pull"));
      const pidOf = async (f: string) => Number((await readFile(join(s.dir, f), "utf8").catch(() => "")).trim());
      await waitFor(async () => (await pidOf("hang-child.pid")) > 0, "the hanging program to start its child");
      const [pid, child] = [await pidOf("hang.pid"), await pidOf("hang-child.pid")];
      assert.ok((await alive(pid)) && (await alive(child)), "the program and its child run");
      // Another login runs another program while the first one hangs, and is answered.
      const other = `other-${randomBytes(6).toString("hex")}`;
      const meanwhile = await s.token("spacey", other, "repository:x/y:pull");
      assert.equal(meanwhile.status, 200);
      assert.equal((await s.token("admin", "admin-pass")).status, 200);
      assert.equal(hang.settled(), false, "the other requests were answered while the program still hung");
      const r = await hang.promise;
      assert.equal(r.status, 503);
      assert.match(errorMessage(r), /^ext_auth: the program gave no answer within 3 s and was killed$/);
      await waitFor(async () => !(await alive(pid)) && !(await alive(child)), "the program and its child to be killed");
      assert.equal(ext().running, 0);
    });

    test("the password never reaches the log, even when the program prints it on stderr", async () => {
      assert.equal((await s.token("echo", ECHOED)).status, 200);
      const e = s.log.entries().find((x) => x.msg === "program stderr" && x.account === "echo");
      assert.equal(e?.stderr.trim(), "debug: the password is ***");
      assert.ok(!s.log.text().includes(ECHOED));
    });

    test("the password reaches the program exactly, spaces included", async () => {
      assert.deepEqual(await ext().authenticate("spacey", new Secret(" two  spaces ")), { kind: "match", labels: { password: [" two  spaces "] } });
    });

    test("user names with whitespace, or credentials with a newline, are not passed to the program (no match)", async () => {
      const before = (await runs(s.dir)).length;
      assert.deepEqual(await ext().authenticate("cicd x", new Secret("y")), { kind: "no-match" });
      assert.deepEqual(await ext().authenticate("cicd", new Secret(`${CICD_SECRET}\nextra`)), { kind: "no-match" });
      assert.deepEqual(await ext().authenticate("cicd\n", new Secret(CICD_SECRET)), { kind: "no-match" });
      assert.equal((await runs(s.dir)).length, before);
    });

    test("the environment is the allow-list: listed and fixed variables, PATH and friends, nothing else", async () => {
      const r = await ext().authenticate("env", new Secret("x"));
      assert.equal(r.kind, "match");
      const labels = (r as { labels: Readonly<Record<string, readonly string[]>> }).labels;
      for (const name of ["CICD_SECRET", "MARK_DIR", "FIXED_VALUE", "PATH"]) assert.ok(labels.env!.includes(name), `${name} is passed`);
      assert.ok(!labels.env!.includes("REGAUTH_TEST_NOT_LISTED"), "an unlisted variable is not passed");
      assert.ok(!labels.env!.includes("REGAUTH_LOG_LEVEL") && !labels.env!.includes("NODE_OPTIONS"));
      assert.deepEqual(labels.fixed, ["fixed value with spaces"]);
    });

    test("no password of this suite appears anywhere in the log", () => {
      const text = s.log.text();
      for (const p of PASSWORDS) assert.ok(!text.includes(p), `the log does not contain ${p.slice(0, 3)}...`);
    });
  });
}

describe("ext_auth: runs shared and cached", () => {
  const { auth } = LANGUAGES[0];
  let s: TestServer;
  let base: ExtAuthConfig;
  before(async () => {
    s = await startTestServer((dir) => `
ext_auth:
  command: ${q(auth)}
  env: [${q(`MARK_DIR=${dir}`)}]
acl: []
`);
    base = (s.authenticator("ext_auth") as ExtAuthenticator).cfg;
  });
  after(async () => {
    await s?.stop();
  });

  const fresh = (cacheTtlMs: number) => new ExtAuthenticator({ ...base, cacheTtlMs }, createLogger("silent", new LogSink()), 100);

  test("a burst of identical concurrent logins forks one process", async () => {
    const a = fresh(0);
    const before = (await runs(s.dir)).length;
    const results = await Promise.all(Array.from({ length: 25 }, () => a.authenticate("alice", new Secret("wonderland"))));
    assert.ok(results.every((r) => r.kind === "match"));
    assert.equal((await runs(s.dir)).length - before, 1);
    // Different credentials are not shared.
    await Promise.all([a.authenticate("alice", new Secret("wonderland")), a.authenticate("alice", new Secret("other"))]);
    assert.equal((await runs(s.dir)).length - before, 3);
    await a.stop();
  });

  test("cache_ttl_seconds reuses denials and no-match answers (per user and password); 0 does not", async () => {
    const cached = fresh(60_000);
    let before = (await runs(s.dir)).length;
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await cached.authenticate("alice", new Secret("wrong")), { kind: "denied" });
      assert.deepEqual(await cached.authenticate("other-x", new Secret("y")), { kind: "no-match" });
    }
    assert.equal((await runs(s.dir)).length - before, 2);
    assert.deepEqual(await cached.authenticate("alice", new Secret("wonderland")), { kind: "match", labels: {} });
    assert.equal((await runs(s.dir)).length - before, 3, "another password is another entry");
    assert.equal(cached.cacheSize, 3);
    await cached.stop();

    const uncached = fresh(0);
    before = (await runs(s.dir)).length;
    for (let i = 0; i < 3; i++) await uncached.authenticate("alice", new Secret("wrong"));
    assert.equal((await runs(s.dir)).length - before, 3);
    await uncached.stop();
  });

  test("errors are never cached", async () => {
    const cached = fresh(60_000);
    const before = (await runs(s.dir)).length;
    await assert.rejects(cached.authenticate("crash", new Secret("x")), /status 3/);
    await assert.rejects(cached.authenticate("crash", new Secret("x")), /status 3/);
    assert.equal((await runs(s.dir)).length - before, 2);
    await cached.stop();
  });

  test("successful logins are cached by the chain's credential cache (credential_cache.ttl_seconds)", async () => {
    const before = (await runs(s.dir)).length;
    for (let i = 0; i < 3; i++) assert.equal((await s.token("alice", "wonderland")).status, 200);
    assert.equal((await runs(s.dir)).length - before, 1);
  });

  test("a program that exits but leaves a process holding its stdout: all killed at the timeout, a 503 that says so", async () => {
    const a = new ExtAuthenticator({ ...base, timeoutMs: 500 }, createLogger("silent", new LogSink()), 100);
    await assert.rejects(a.authenticate("leaky", new Secret("x")), /exited, but a process it started kept its stdout open for 0\.5 s; all were killed/);
    const pid = Number(await readFile(join(s.dir, "leaky.pid"), "utf8"));
    assert.ok(pid > 0);
    await waitFor(async () => !(await alive(pid)), "the leftover process to be killed");
    await a.stop();
  });

  test("a stopped backend refuses new runs with a 503-class error", async () => {
    const a = fresh(0);
    await a.stop();
    await assert.rejects(a.authenticate("alice", new Secret("wonderland")), (e: Error & { status?: number }) => e.status === 503 && /stopped/.test(e.message));
  });
});
