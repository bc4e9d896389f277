// The runtime around the request path, for real: reloads that drop nothing (in process
// and through the CLI's SIGHUP and file watch), cluster workers, bounded shutdown, and
// the answers to requests Node would otherwise drop or answer with an empty body.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Writable } from "node:stream";
import { hashPassword } from "../../src/authn/bcrypt.js";
import { AuthnChain } from "../../src/authn/chain.js";
import { CredentialCache } from "../../src/authn/credential-cache.js";
import { StaticUsersAuthenticator } from "../../src/authn/static-users.js";
import { parseTokenRequest } from "../../src/request/token-request.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { SEMI_SPACE_FLAG } from "../../src/runtime/node-flags.js";
import { Secret } from "../../src/secret.js";
import { RegauthServer } from "../../src/server/server.js";
import { freePort } from "../helpers/ports.js";
import { keepAtExit } from "../helpers/secret-ledger.js";
import { ROOT, startRegauth, testHash, writeKeyPair, decodeJwt } from "../helpers/regauth.js";

let dir: string;
let keys: { cert: string; key: string };
let aliceHash: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-runtime-"));
  keys = await writeKeyPair(dir, "rt", "ec");
  aliceHash = await testHash("alice-pw");
});
after(() => rm(dir, { recursive: true, force: true }));

const configText = (actions: string, extra = "", addr = "127.0.0.1:0") => `
server: {addr: "${addr}"${extra}}
token: {issuer: "rt", expiration: 600, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  "alice": {password: "${aliceHash}"}
acl:
  - match: {account: "alice"}
    actions: ${actions}
`;

const basic = `Basic ${Buffer.from("alice:alice-pw").toString("base64")}`;

function granted(body: string): string[] {
  const t = JSON.parse(body) as { token: string };
  return (decodeJwt(t.token).payload.access as { actions: string[] }[])[0]!.actions;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { headers: { authorization: basic } });
  return { status: r.status, body: await r.text() };
}

function memoryLog(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  keepAtExit("runtime-test-log", () => lines.join("\n"));
  return { lines, log: createLogger("debug", sink) };
}

describe("reloads in process", () => {
  test("a request that started before a reload is answered by the old config; new requests get the new one", async () => {
    const { log } = memoryLog();
    const server = await RegauthServer.start(await parseConfig("rt.yml", configText('["pull", "push"]')), log);
    const a = server.address();
    assert.ok(typeof a !== "string");
    try {
      // A POST whose body is still on its way holds the old configuration.
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: a.port, method: "POST", path: "/auth", headers: { "content-type": "application/x-www-form-urlencoded" } }, (res: IncomingMessage) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode!, body }));
        });
        req.on("error", reject);
        req.write("grant_type=password&username=alice&");
        setTimeout(async () => {
          await server.reload(await parseConfig("rt.yml", configText('["pull"]')));
          const now = await get(`http://127.0.0.1:${a.port}/auth?service=s&scope=repository:x/y:pull,push`);
          assert.deepEqual(granted(now.body), ["pull"], "new requests use the new config");
          req.end("password=alice-pw&service=s&scope=repository:x/y:pull,push");
        }, 100);
      });
      const old = await answer;
      assert.equal(old.status, 200, old.body);
      assert.deepEqual(granted(old.body), ["pull", "push"]);
      // RFC 6749 §5.1: the granted scope.
      assert.equal((JSON.parse(old.body) as { scope: string }).scope, "repository:x/y:pull,push");
    } finally {
      await server.close();
    }
  });

  test("a reload whose TLS files are broken is refused with file, line and key; the running config keeps serving", async () => {
    const tlsKeys = await writeKeyPair(dir, "tls", "ec", ["127.0.0.1"]);
    const tls = (cert: string) => `, certificate: "${cert}", key: "${tlsKeys.key}"`;
    const server = await RegauthServer.start(await parseConfig("rt.yml", configText('["pull"]', tls(tlsKeys.cert))), createLogger("silent"));
    try {
      const junk = join(dir, "junk.pem");
      await writeFile(junk, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
      const before = server.app;
      const err = await server.reload(await parseConfig("rt.yml", configText('["pull", "push"]', tls(junk)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /rt\.yml:2:\d+: server\.certificate: the TLS certificate and key cannot be used/);
      assert.equal(server.app, before, "the running App stays");
      assert.equal(server.tls, true);
    } finally {
      await server.close();
    }
  });

  test("a request without credentials never runs bcrypt; a supplied password pays the dummy check", async () => {
    // The dummy hash costs 13 (about half a second here): an answer twenty times faster ran no bcrypt.
    const slowDummy = await hashPassword("dummy", 13);
    const real = new AuthnChain([], new CredentialCache(0, 1), slowDummy);
    const t0 = process.hrtime.bigint();
    assert.deepEqual(await real.authenticate("", new Secret("", false)), { ok: false });
    const noCredsMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const t1 = process.hrtime.bigint();
    assert.deepEqual(await real.authenticate("mallory", new Secret("guess")), { ok: false });
    const guessMs = Number(process.hrtime.bigint() - t1) / 1e6;
    assert.ok(noCredsMs * 20 < guessMs, `no credentials took ${noCredsMs} ms, a guessed password ${guessMs} ms`);
    // `?account=bob` without credentials names a user with a password: refused, again without bcrypt.
    const users = new StaticUsersAuthenticator(new Map([["bob", { name: "bob", passwordHash: slowDummy, labels: {} }]]));
    const withBob = new AuthnChain([users], new CredentialCache(60_000, 10), slowDummy);
    const t2 = process.hrtime.bigint();
    assert.deepEqual(await withBob.authenticate("bob", parseTokenRequest(new Map([["account", ["bob"]]]), undefined, false, undefined).password), { ok: false });
    const namedMs = Number(process.hrtime.bigint() - t2) / 1e6;
    assert.ok(namedMs * 20 < guessMs, `an account without credentials took ${namedMs} ms, a guessed password ${guessMs} ms`);
    // The same user with its password still logs in.
    assert.deepEqual(await withBob.authenticate("bob", new Secret("dummy")), { ok: true, labels: {}, method: "static users", cached: false });
  });
});

describe("answers Node would drop or leave empty", () => {
  let server: RegauthServer;
  let port: number;
  before(async () => {
    server = await RegauthServer.start(await parseConfig("rt.yml", configText('["pull"]')), createLogger("silent"));
    const a = server.address();
    assert.ok(typeof a !== "string");
    port = a.port;
  });
  after(() => server.close());

  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => s.write(text));
      let out = "";
      s.on("data", (d) => (out += d));
      s.on("end", () => resolve(out));
      s.on("close", () => resolve(out));
      s.on("error", reject);
    });

  test("CONNECT gets a 405 with a JSON reason", async () => {
    const out = await raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert.match(out, /^HTTP\/1\.1 405 /);
    assert.match(out, /"code":"METHOD_NOT_ALLOWED"/);
  });

  test("an HTTP/1.1 request without Host gets a 400 that says so", async () => {
    const out = await raw("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.match(out, /the Host header is required/);
  });

  test("a client that sends headers too slowly is cut off at the header timeout with a 408, not after 40 s", async () => {
    const t0 = Date.now();
    const out = await raw("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  });
});

describe("the CLI: workers, SIGHUP and the file watch, shutdown", () => {
  test("two workers serve; a dead worker is replaced; SIGHUP plus the file watch is one reload; a broken edit keeps the running config", async () => {
    const r = await startRegauth(configText('["pull"]', ", workers: 2", "127.0.0.1:{{PORT}}"));
    try {
      assert.match(r.stderr(), /2 workers/);
      const children = () => execFileSync("pgrep", ["-P", String(r.proc.pid)]).toString().trim().split("\n").filter(Boolean);
      assert.equal(children().length, 2);
      // The primary was started as plain `node bin/regauth`: its workers still get the young generation the launchers give.
      const nodeArgs = async (pid: string) => (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      for (const pid of children()) assert.ok((await nodeArgs(pid)).includes(SEMI_SPACE_FLAG), (await nodeArgs(pid)).join(" "));
      assert.ok(!(await nodeArgs(String(r.proc.pid))).includes(SEMI_SPACE_FLAG));
      assert.deepEqual(granted((await get(`${r.url}/auth?service=s&scope=repository:a/b:pull,push`)).body), ["pull"]);

      // Kill one worker: the primary replaces it and nothing stops answering.
      process.kill(Number(children()[0]), "SIGKILL");
      for (let i = 0; i < 200 && !/worker exited unexpectedly/.test(r.stdout()); i++) await new Promise((res) => setTimeout(res, 25));
      assert.equal((await get(`${r.url}/healthz`)).status, 200);
      for (let i = 0; i < 200 && children().length < 2; i++) await new Promise((res) => setTimeout(res, 25));
      assert.equal(children().length, 2);

      // One edit, signalled twice (SIGHUP now, the file watch within a second): one rebuild.
      const cfg = await readFile(r.configPath, "utf8");
      await writeFile(r.configPath, cfg.replace('actions: ["pull"]', 'actions: ["pull", "push"]'));
      r.proc.kill("SIGHUP");
      for (let i = 0; i < 200 && !/"config reloaded"/.test(r.stdout()); i++) await new Promise((res) => setTimeout(res, 25));
      await new Promise((res) => setTimeout(res, 2500));
      assert.equal(r.stdout().match(/"msg":"config reloaded"/g)?.length, 1, r.stdout());
      // Every worker has the new config: fresh connections land on both.
      for (let i = 0; i < 6; i++) assert.deepEqual(granted((await get(`${r.url}/auth?service=s&scope=repository:a/b:pull,push`)).body), ["pull", "push"]);

      // A broken edit is refused with file, line and key; the running config stays.
      await writeFile(r.configPath, cfg.replace('actions: ["pull"]', "actions: [pull\n  bad: {"));
      r.proc.kill("SIGHUP");
      for (let i = 0; i < 200 && !/config reload failed/.test(r.stdout()); i++) await new Promise((res) => setTimeout(res, 25));
      assert.match(r.stdout(), /config reload failed; still running the previous config/);
      assert.match(r.stdout(), /regauth\.yml:\d+/);
      assert.deepEqual(granted((await get(`${r.url}/auth?service=s&scope=repository:a/b:pull,push`)).body), ["pull", "push"]);
    } finally {
      await r.stop();
    }
  });

  test("SIGTERM ends within the drain bound although a client holds an idle keep-alive connection", async () => {
    for (const workers of [1, 2]) {
      const r = await startRegauth(configText('["pull"]', `, workers: ${workers}, drain_timeout_seconds: 2`, "127.0.0.1:{{PORT}}"));
      const s = connect(r.port, "127.0.0.1");
      await new Promise<void>((res) => s.once("connect", () => res()));
      s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
      await new Promise<void>((res) => s.once("data", () => res()));
      const t0 = Date.now();
      const exited = new Promise<number | null>((res) => r.proc.once("exit", (code) => res(code)));
      r.proc.kill("SIGTERM");
      const code = await exited;
      s.destroy();
      assert.equal(code, 0, `workers: ${workers}`);
      assert.ok(Date.now() - t0 < 5000, `workers: ${workers}: exit took ${Date.now() - t0} ms`);
      await r.stop();
    }
  });
});

describe("the image's HEALTHCHECK (bin/healthcheck)", () => {
  // Asynchronous: the server answering it runs in this process.
  const check = (port: number) =>
    new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, [join(ROOT, "bin", "healthcheck")], { env: { ...process.env, REGAUTH_HEALTH_PORT: String(port) }, stdio: "ignore" });
      p.once("exit", (code) => resolve(code));
    });

  test("passes over http and over https, and fails when nothing answers", async () => {
    const tlsKeys = await writeKeyPair(dir, "hc", "ec", ["127.0.0.1"]);
    for (const tls of [false, true]) {
      const extra = tls ? `, certificate: "${tlsKeys.cert}", key: "${tlsKeys.key}"` : "";
      const server = await RegauthServer.start(await parseConfig("hc.yml", configText('["pull"]', extra)), createLogger("silent"));
      const a = server.address();
      assert.ok(typeof a !== "string");
      try {
        assert.equal(await check(a.port), 0, tls ? "https" : "http");
      } finally {
        await server.close();
      }
    }
    assert.equal(await check(await freePort()), 1);
  });
});
