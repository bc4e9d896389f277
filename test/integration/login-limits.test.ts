// Failed-login limits in a running server: 429 with Retry-After once an account or an address
// has failed too often, the same answer for an account that does not exist, no password check
// while locked, a success resetting the account, the OAuth2 form, and the switch to turn it off.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { skipWithoutRedis, startRedis, type RunningRedis } from "../helpers/redis.js";
import { serveInProcess, testHash, writeKeyPair, type InProcessServer, type KeyFiles } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";

let dir: string;
let keys: KeyFiles;
let hash: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-limits-"));
  keys = await writeKeyPair(dir, "token", "ec");
  hash = await testHash("right-password");
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const config = (limits: string) => `
server: {addr: "127.0.0.1:0"}
token: {issuer: "limits", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
users:
  alice: {password: "${hash}"}
  bob: {password: "${hash}"}
  carol: {password: "${hash}"}
acl:
  - match: {account: "/.+/"}
    actions: ["pull"]
login_limits: ${limits}
`;

async function login(s: InProcessServer, user: string, pass: string, ip?: string) {
  const res = await fetch(`${s.url}/auth?service=registry&scope=repository:x/y:pull`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`, ...(ip ? { "x-forwarded-for": ip } : {}) },
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), text: await res.text() };
}

describe("login_limits", () => {
  let s: InProcessServer;
  before(async () => {
    s = await serveInProcess(join(dir, "a.yml"), config("{account_failures: 3, address_failures: 7, window: 1m, lockout: 30s}"), dir);
  });
  after(async () => {
    await s?.close();
  });

  test("an account locked after 3 failures answers 429 with Retry-After, even with the right password; an unknown account alike", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login(s, "alice", "wrong")).status, 401);
    const locked = await login(s, "alice", "right-password");
    assert.equal(locked.status, 429, locked.text);
    assert.ok(Number(locked.retryAfter) > 0 && Number(locked.retryAfter) <= 30, `retry-after ${locked.retryAfter}`);
    assert.match(locked.text, /"code":"TOOMANYREQUESTS".*too many failed logins/);
    for (let i = 0; i < 3; i++) assert.equal((await login(s, "mallory", "wrong")).status, 401);
    const ghost = await login(s, "mallory", "anything");
    assert.equal(ghost.status, 429);
    assert.equal(ghost.text, locked.text, "a locked unknown account reads like a locked real one");
    // bob is not locked (the address has 6 failures of 7 now)
    assert.equal((await login(s, "bob", "right-password")).status, 200);
  });

  test("an address that fails across accounts is locked too; another address is not", async () => {
    // x-forwarded-for is not trusted here (no real_ip_header): all of this comes from 127.0.0.1,
    // which has 6 failures from the test before; the 7th locks it, for every account.
    assert.equal((await login(s, "carol", "wrong", "10.9.9.9")).status, 401);
    const r = await login(s, "carol", "wrong");
    assert.equal(r.status, 429, r.text);
    const other = await serveInProcess(join(dir, "b.yml"), config("{account_failures: 100, address_failures: 2}").replace('server: {addr: "127.0.0.1:0"}', 'server: {addr: "127.0.0.1:0", real_ip_header: "X-Forwarded-For"}'), dir);
    try {
      assert.equal((await login(other, "u1", "wrong", "10.0.0.1")).status, 401);
      assert.equal((await login(other, "u2", "wrong", "10.0.0.1")).status, 401);
      assert.equal((await login(other, "alice", "right-password", "10.0.0.1")).status, 429);
      assert.equal((await login(other, "alice", "right-password", "10.0.0.2")).status, 200);
    } finally {
      await other.close();
    }
  });

  test("the OAuth2 form gets 429 temporarily_unavailable with Retry-After", async () => {
    const res = await fetch(`${s.url}/auth`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: "alice", password: "right-password", service: "registry", client_id: "t" }).toString(),
    });
    assert.equal(res.status, 429);
    assert.ok(res.headers.get("retry-after"));
    assert.equal(((await res.json()) as { error: string }).error, "temporarily_unavailable");
  });

  test("the request log says rate_limited", async () => {
    await eventually(async () => assert.match(s.logs(), /"outcome":"rate_limited","status":429/), 5000);
  });
});

test("a success resets the account's count; enabled: false turns the limits off", async () => {
  const s = await serveInProcess(join(dir, "c.yml"), config("{account_failures: 3, address_failures: 1000}"), dir);
  try {
    for (let round = 0; round < 3; round++) {
      assert.equal((await login(s, "alice", "wrong")).status, 401);
      assert.equal((await login(s, "alice", "wrong")).status, 401);
      assert.equal((await login(s, "alice", "right-password")).status, 200, `round ${round}`);
    }
  } finally {
    await s.close();
  }
  const off = await serveInProcess(join(dir, "d.yml"), config("{enabled: false}"), dir);
  try {
    for (let i = 0; i < 30; i++) assert.equal((await login(off, "alice", "wrong")).status, 401);
    assert.equal((await login(off, "alice", "right-password")).status, 200);
  } finally {
    await off.close();
  }
});

test("a flood of password checks past server.max_password_checks gets fast 503s with Retry-After; cached logins and anonymous pulls are still served", async () => {
  const { hashPassword } = await import("../../src/authn/bcrypt.js");
  // Cost 13 (about half a second here): the flood arrives long before the first check ends.
  const slow = await hashPassword("slow-password", 13);
  const text = `
server: {addr: "127.0.0.1:0", max_password_checks: 1, max_waiting_password_checks: 2}
token: {issuer: "limits", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  carol: {password: "${slow}"}
  "": {}
acl:
  - match: {account: "/.*/"}
    actions: ["pull"]
login_limits: {enabled: false}
`;
  const s = await serveInProcess(join(dir, "gate.yml"), text, dir);
  try {
    // carol's login is cached first (one slow check, nothing else running).
    assert.equal((await login(s, "carol", "slow-password")).status, 200);
    const flood = Array.from({ length: 12 }, (_, i) => login(s, `nobody${i}`, "wrong"));
    // While the flood's checks run and wait, the cached login and an anonymous pull do not queue behind them.
    const cached = await login(s, "carol", "slow-password");
    const anon = await fetch(`${s.url}/auth?service=registry&scope=repository:x/y:pull`);
    assert.equal(cached.status, 200, cached.text);
    assert.equal(anon.status, 200);
    const answers = await Promise.all(flood);
    const busy = answers.filter((a) => a.status === 503);
    assert.equal(answers.filter((a) => a.status === 401).length, 3, "one running, two waiting: checked and refused");
    assert.equal(busy.length, 9);
    for (const b of busy) {
      assert.equal(b.retryAfter, "1");
      assert.match(b.text, /"code":"SERVER_BUSY","message":"too many password checks in progress; try again shortly"/);
    }
    await eventually(async () => assert.match(s.logs(), /"outcome":"overloaded","status":503/), 5000);
  } finally {
    await s.close();
  }
});

describe("two replicas on one Redis store count failed logins together", { skip: await skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let a: InProcessServer;
  let b: InProcessServer;
  before(async () => {
    redis = await startRedis();
    const text = config("{account_failures: 4, address_failures: 1000}") + `token_store: {redis: {url: "${redis.url}", key_prefix: "limits-${process.pid}:"}}\n`;
    a = await serveInProcess(join(dir, "ra.yml"), text, dir);
    b = await serveInProcess(join(dir, "rb.yml"), text, dir);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.destroy();
  });

  test("two failures on each lock the account on the replica that saw the fourth, and the other within one more attempt", async () => {
    assert.equal((await login(a, "alice", "wrong")).status, 401);
    assert.equal((await login(a, "alice", "wrong")).status, 401);
    assert.equal((await login(b, "alice", "wrong")).status, 401);
    assert.equal((await login(b, "alice", "wrong")).status, 401);
    // b counted the 4th failure in the shared window: locked there, even for the right password.
    assert.equal((await login(b, "alice", "right-password")).status, 429);
    // a has seen only two itself; its next failure learns the shared count and locks it.
    assert.equal((await login(a, "alice", "wrong")).status, 401);
    assert.equal((await login(a, "alice", "right-password")).status, 429);
    // Another account is untouched on both.
    assert.equal((await login(a, "bob", "right-password")).status, 200);
    assert.equal((await login(b, "bob", "right-password")).status, 200);
  });

  test("a success on one replica resets the count both share", async () => {
    assert.equal((await login(a, "carol", "wrong")).status, 401);
    assert.equal((await login(a, "carol", "wrong")).status, 401);
    assert.equal((await login(b, "carol", "wrong")).status, 401);
    assert.equal((await login(b, "carol", "right-password")).status, 200);
    // Without the reset, the shared window would hold 5 failures after these two (limit 4).
    assert.equal((await login(b, "carol", "wrong")).status, 401);
    assert.equal((await login(b, "carol", "wrong")).status, 401);
    assert.equal((await login(b, "carol", "right-password")).status, 200);
  });
});
