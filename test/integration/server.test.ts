// The HTTP server in-process on 127.0.0.1: token endpoint behaviour, bad input, logs, reload.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, jwtVerify } from "jose";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { RegauthServer } from "../../src/server/server.js";
import { testHash, writeKeyPair } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";
import { keepAtExit } from "../helpers/secret-ledger.js";

const PASSWORD = "s3cret-Passw0rd";
let dir: string;
let server: RegauthServer;
let base: string;
const logLines: string[] = [];
let configText: (extra?: string) => Promise<string>;

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
}

async function get(path: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, { headers, ...init });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Send raw bytes, for requests fetch refuses to make. */
function raw(request: Buffer | string): Promise<string> {
  const addr = server.address();
  if (typeof addr === "string") throw new Error("unexpected unix socket");
  return new Promise((resolve, reject) => {
    const s = connect(addr.port, "127.0.0.1", () => s.end(request));
    let out = "";
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-int-"));
  const keys = await writeKeyPair(dir, "token", "ec");
  const aliceHash = await testHash(PASSWORD);
  configText = async (extra = "") => `
server:
  addr: "127.0.0.1:0"
  real_ip_header: "X-Forwarded-For"
  real_ip_pos: -1
token:
  issuer: "int-issuer"
  expiration: 600
  certificate: "${keys.cert}"
  key: "${keys.key}"
users:
  "alice":
    password: "${aliceHash}"
    labels: {group: [dev, ops]}
  "ci": {}
acl:
  - match: {ip: "10.9.0.0/16"}
    actions: []
    comment: "quarantined network"
  - match: {account: "alice", name: "\${labels:group}/*"}
    actions: ["pull", "push"]
    comment: "groups own their namespace"
  - match: {account: "ci", name: "ci/*"}
    actions: ["pull"]
${extra}
`;
  const config = await parseConfig(join(dir, "regauth.yml"), await configText());
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  keepAtExit("server-test-log", () => logLines.join("\n"));
  server = await RegauthServer.start(config, createLogger("info", sink));
  const addr = server.address();
  assert.ok(typeof addr !== "string");
  base = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const XFF = { "x-forwarded-for": "192.0.2.7" };

describe("token endpoint", () => {
  test("grants by label variable, denies others with empty actions, and signs a verifiable token", async () => {
    const r = await get("/auth?service=reg&scope=repository:dev/app:pull,push&scope=repository:qa/app:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    assert.equal(r.status, 200, r.text);
    const jwks = await get("/.well-known/jwks.json");
    const { payload, protectedHeader } = await jwtVerify(r.json.token, createLocalJWKSet(jwks.json), { issuer: "int-issuer", audience: "reg" });
    assert.equal(protectedHeader.alg, "ES256");
    assert.deepEqual(payload.access, [
      { type: "repository", name: "dev/app", actions: ["pull", "push"] },
      { type: "repository", name: "qa/app", actions: [] },
    ]);
    assert.equal(r.json.expires_in, 600);
    assert.ok(!Number.isNaN(Date.parse(r.json.issued_at)));
  });

  test("duplicate and space-separated scopes are merged", async () => {
    const r = await get("/auth?service=reg&scope=repository:dev/a:pull&scope=repository:dev/a:push%20repository:ops/b:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    assert.equal(r.status, 200, r.text);
    const access = JSON.parse(Buffer.from(r.json.token.split(".")[1], "base64url").toString()).access;
    assert.deepEqual(access, [
      { type: "repository", name: "dev/a", actions: ["pull", "push"] },
      { type: "repository", name: "ops/b", actions: ["pull"] },
    ]);
  });

  test("the client IP comes from the last X-Forwarded-For entry and ACL ip rules apply to it", async () => {
    const r = await get("/auth?service=reg&scope=repository:dev/app:pull", { "x-forwarded-for": "192.0.2.7, 10.9.3.4", authorization: basic("alice", PASSWORD) });
    assert.equal(r.status, 200);
    const access = JSON.parse(Buffer.from(r.json.token.split(".")[1], "base64url").toString()).access;
    assert.deepEqual(access[0].actions, [], "the quarantine entry (first match) denies");
    const missing = await get("/auth?service=reg&scope=repository:dev/app:pull", { authorization: basic("alice", PASSWORD) });
    assert.equal(missing.status, 400);
    assert.match(missing.json.errors[0].message, /X-Forwarded-For/);
  });

  test("a wrong password and an unknown user get the same 401 with a Basic challenge", async () => {
    const wrong = await get("/auth?service=reg&scope=repository:dev/app:pull", { ...XFF, authorization: basic("alice", "nope") });
    const unknown = await get("/auth?service=reg&scope=repository:dev/app:pull", { ...XFF, authorization: basic("mallory", "nope") });
    for (const r of [wrong, unknown]) {
      assert.equal(r.status, 401);
      assert.equal(r.headers.get("www-authenticate"), 'Basic realm="int-issuer"');
      assert.equal(r.json.errors[0].code, "UNAUTHORIZED");
    }
    assert.equal(wrong.text, unknown.text);
  });

  test("a user without a password logs in with any password; no credentials is anonymous and denied here", async () => {
    const ci = await get("/auth?service=reg&scope=repository:ci/x:pull,push", { ...XFF, authorization: basic("ci", "anything") });
    assert.equal(ci.status, 200);
    const anon = await get("/auth?service=reg&scope=repository:ci/x:pull", XFF);
    assert.equal(anon.status, 401, "no anonymous user is configured");
  });

  test("account must equal the Basic user", async () => {
    const r = await get("/auth?service=reg&account=bob&scope=repository:dev/app:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    assert.equal(r.status, 400);
    assert.match(r.json.errors[0].message, /user and account are not the same/);
  });

  test("the OAuth2 password form works over POST; a bad refresh_token is an RFC 6749 invalid_grant", async () => {
    const body = new URLSearchParams({ grant_type: "password", username: "alice", password: PASSWORD, service: "reg", scope: "repository:dev/app:pull", client_id: "docker" });
    const r = await get("/auth/token", { ...XFF, "content-type": "application/x-www-form-urlencoded" }, { method: "POST", body: body.toString() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.scope, "repository:dev/app:pull");
    const refresh = await get("/auth/token", { ...XFF, "content-type": "application/x-www-form-urlencoded" }, { method: "POST", body: "grant_type=refresh_token&refresh_token=x&service=reg" });
    assert.equal(refresh.status, 400);
    assert.equal(refresh.json.error, "invalid_grant");
    assert.match(refresh.json.error_description, /refresh token is not valid/);
    const json = await get("/auth", { ...XFF, "content-type": "application/json" }, { method: "POST", body: "{}" });
    assert.equal(json.status, 415);
  });

  test("healthz answers and the JWKS holds the signing key with its kid", async () => {
    assert.equal((await get("/healthz")).status, 200);
    const jwks = await get("/.well-known/jwks.json");
    assert.equal(jwks.json.keys.length, 1);
    assert.equal(jwks.json.keys[0].kid, server.app.key.kid);
    assert.equal(jwks.json.keys[0].d, undefined, "no private part");
  });
});

describe("bad input gets a 4xx with a message and the server keeps serving", () => {
  const cases: [string, string, Record<string, string>, number, RegExp][] = [
    ["uppercase name", "/auth?service=r&scope=repository:Foo:pull", {}, 400, /not a valid repository name/],
    ["missing actions", "/auth?service=r&scope=repository:foo", {}, 400, /expected type:name:actions/],
    ["empty actions", "/auth?service=r&scope=repository:foo:", {}, 400, /no actions/],
    ["bad action", "/auth?service=r&scope=repository:foo:PULL", {}, 400, /action/],
    ["bad type", "/auth?service=r&scope=Repo:foo:pull", {}, 400, /resource type/],
    ["non-UTF-8 query", "/auth?service=%ff%fe&scope=repository:foo:pull", {}, 400, /UTF-8/],
    ["broken escape", "/auth?service=%zz", {}, 400, /percent-encoded/],
    ["too many scopes", `/auth?service=r&scope=${Array.from({ length: 120 }, (_, i) => `repository:x${i}:pull`).join("%20")}`, {}, 400, /too many scopes/],
    ["Basic not base64", "/auth?service=r", { authorization: "Basic !!!!" }, 400, /base64/],
    ["Basic without colon", "/auth?service=r", { authorization: `Basic ${Buffer.from("nocolon").toString("base64")}` }, 400, /user:password/],
    ["Basic not UTF-8", "/auth?service=r", { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}` }, 400, /UTF-8/],
    ["Bearer scheme", "/auth?service=r", { authorization: "Bearer abc" }, 400, /not supported/],
    ["unknown path", "/v2/", {}, 404, /no such endpoint/],
  ];
  for (const [name, path, headers, status, message] of cases) {
    test(name, async () => {
      const r = await get(path, { ...XFF, ...headers });
      assert.equal(r.status, status, r.text);
      assert.match(r.json.errors[0].message, message);
    });
  }

  test("wrong methods get 405 with Allow", async () => {
    const r = await get("/auth", XFF, { method: "DELETE" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("allow"), "GET, POST");
    const h = await get("/healthz", {}, { method: "POST" });
    assert.equal(h.status, 405);
  });

  test("a form body over 16 KiB is 413", async () => {
    const r = await get("/auth", { ...XFF, "content-type": "application/x-www-form-urlencoded" }, { method: "POST", body: `service=${"a".repeat(20000)}` });
    assert.equal(r.status, 413);
    assert.match(r.json.errors[0].message, /longer than/);
  });

  test("a URL over 8 KiB is 414; raw non-UTF-8 bytes and garbage HTTP are 400; headers too large are 431", async () => {
    assert.equal((await get(`/auth?x=${"a".repeat(9000)}`, XFF)).status, 414);
    const rawBytes = await raw(Buffer.concat([Buffer.from("GET /auth?service="), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(" HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n")]));
    assert.match(rawBytes, /^HTTP\/1\.1 4\d\d/);
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    assert.match(garbage, /^HTTP\/1\.1 400/);
    assert.match(garbage, /malformed HTTP request/);
    const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20000)}\r\nConnection: close\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431/);
  });

  test("after all that, tokens are still issued", async () => {
    const r = await get("/auth?service=reg&scope=repository:dev/app:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    assert.equal(r.status, 200);
  });
});

describe("logs", () => {
  test("one JSON line per token request, with account, IP, scopes, outcome and duration, never a password or token", async () => {
    const r = await get("/auth?service=reg&scope=repository:dev/logged:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    const token = r.json.token as string;
    // The request line is written at the end of the turn after the answer.
    const line = await eventually(async () => {
      const found = logLines.map((l) => JSON.parse(l)).find((l) => l.event === "token" && l.requested?.includes("repository:dev/logged:pull"));
      assert.ok(found, "a token log line exists");
      return found;
    });
    assert.equal(line.account, "alice");
    assert.equal(line.client_ip, "192.0.2.7");
    assert.deepEqual(line.granted, ["repository:dev/logged:pull"]);
    assert.equal(line.outcome, "issued");
    assert.equal(typeof line.duration_ms, "number");
    const all = logLines.join("\n");
    assert.ok(!all.includes(PASSWORD), "the password never reaches the log");
    assert.ok(!all.includes(token.split(".")[2]!), "the token never reaches the log");
  });
});

describe("reload", () => {
  test("a bad config is refused and the running one keeps serving; a good one takes effect", async () => {
    await assert.rejects(async () => server.reload(await parseConfig("bad.yml", (await configText()).replace("issuer:", "isuer:"))), /did you mean "issuer"/);
    assert.equal((await get("/auth?service=reg&scope=repository:dev/app:pull", { ...XFF, authorization: basic("alice", PASSWORD) })).status, 200);
    const extra = `  - match: {account: "alice", name: "extra/*"}\n    actions: ["pull"]\n`;
    await server.reload(await parseConfig("good.yml", await configText(extra)));
    const r = await get("/auth?service=reg&scope=repository:extra/x:pull", { ...XFF, authorization: basic("alice", PASSWORD) });
    const access = JSON.parse(Buffer.from(r.json.token.split(".")[1], "base64url").toString()).access;
    assert.deepEqual(access[0].actions, ["pull"]);
  });
});
