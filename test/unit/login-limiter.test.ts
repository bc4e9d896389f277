// Failed-login counters: the sliding window, doubling lockouts with a cap, resets, and the bound on keys.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FailureCounter, LoginLimiter, type FailureLimit } from "../../src/limits/login-limiter.js";

const LIMIT: FailureLimit = { maxFailures: 3, windowMs: 60_000, lockoutMs: 10_000, maxLockoutMs: 35_000 };

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test("failures inside the window lock the key; failures spread wider than the window do not", () => {
  const c = clock();
  const f = new FailureCounter(LIMIT, 100, c.now);
  f.failure("alice");
  f.failure("alice");
  assert.equal(f.retryAfterMs("alice"), 0);
  f.failure("alice");
  assert.equal(f.retryAfterMs("alice"), 10_000);
  const spread = new FailureCounter(LIMIT, 100, c.now);
  for (let i = 0; i < 6; i++) {
    spread.failure("bob");
    c.advance(31_000);
  }
  assert.equal(spread.retryAfterMs("bob"), 0, "never 3 within 60 s");
});

test("each further lockout doubles, up to the cap; the wait counts down", () => {
  const c = clock();
  const f = new FailureCounter(LIMIT, 100, c.now);
  const lockout = () => {
    for (let i = 0; i < 3; i++) f.failure("k");
    return f.retryAfterMs("k");
  };
  assert.equal(lockout(), 10_000);
  c.advance(4_000);
  assert.equal(f.retryAfterMs("k"), 6_000);
  c.advance(6_000);
  assert.equal(lockout(), 20_000);
  c.advance(20_000);
  assert.equal(lockout(), 35_000, "40 s capped at max_lockout");
});

test("a success resets the account, not the address; the limiter answers in whole seconds", () => {
  const c = clock();
  const l = new LoginLimiter(LIMIT, { ...LIMIT, maxFailures: 4 }, 100, c.now);
  for (let i = 0; i < 3; i++) l.failure("alice", "10.0.0.1");
  assert.equal(l.retryAfter("alice", "10.0.0.1"), 10);
  assert.equal(l.retryAfter("alice", "10.0.0.2"), 10, "the account is locked from anywhere");
  assert.equal(l.retryAfter("bob", "10.0.0.1"), 0);
  l.failure("bob", "10.0.0.1");
  assert.equal(l.retryAfter("bob", "10.0.0.1"), 10, "the address has 4 failures now");
  c.advance(10_500);
  l.success("alice");
  assert.equal(l.accounts.retryAfterMs("alice"), 0);
  c.advance(100);
  l.failure("carol", "10.0.0.9");
  assert.equal(l.retryAfter("carol", undefined), 0, "no address (a unix socket): only the account counts");
});

test("at most maxKeys keys are kept (the oldest forgotten), and idle ones expire", () => {
  const c = clock();
  const f = new FailureCounter(LIMIT, 100, c.now);
  for (let i = 0; i < 1000; i++) f.failure(`user${i}`);
  assert.equal(f.size, 100);
  c.advance(LIMIT.windowMs + LIMIT.maxLockoutMs + 1);
  assert.equal(f.retryAfterMs("user999"), 0);
  f.failure("x");
  assert.ok(f.size <= 100);
});

test("a success resets the shared count when the password was really checked or this node saw failures; a cached one alone costs the store nothing", async () => {
  const resets: string[] = [];
  const shared = { hit: async () => 1, reset: async (key: string) => void resets.push(key) };
  const l = new LoginLimiter(LIMIT, LIMIT, 100, clock().now);
  await l.success("alice", shared, false);
  assert.deepEqual(resets, [], "cached, no failures here: nothing to reset");
  await l.success("alice", shared, true);
  assert.equal(resets.length, 1, "a real password check resets");
  assert.match(resets[0]!, /^login-failures:account:[0-9a-f]{32}$/, "the account is hashed in the key, as in hit");
  await l.failure("bob", undefined, shared);
  await l.success("bob", shared, false);
  assert.equal(resets.length, 2, "cached, but this node counted failures: reset");
  const failing = { hit: async () => 1, reset: async () => Promise.reject(new Error("store down")) };
  await l.success("carol", failing, true);
});
