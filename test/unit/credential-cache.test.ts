// The verified-credential cache: a hit only for the same user and password within
// the ttl, a bounded size, and never the plaintext password kept.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import type { Authenticator } from "../../src/authn/authenticator.js";
import { hashPassword } from "../../src/authn/bcrypt.js";
import { AuthnChain } from "../../src/authn/chain.js";
import { CredentialCache } from "../../src/authn/credential-cache.js";
import { Secret } from "../../src/secret.js";

/** A cache on a clock the test moves by hand. */
function cacheAt(ttlMs: number, maxEntries = 100): { cache: CredentialCache; advance(ms: number): void } {
  let now = 1_700_000_000_000;
  const cache = new CredentialCache(ttlMs, maxEntries, () => now);
  return { cache, advance: (ms) => (now += ms) };
}

const pw = (s: string) => new Secret(s);

describe("CredentialCache", () => {
  test("a hit after set returns the labels and method stored", () => {
    const { cache } = cacheAt(60_000);
    assert.equal(cache.get("alice", pw("s3cret")), undefined);
    cache.set("alice", pw("s3cret"), { group: ["admins"] }, "static users");
    const hit = cache.get("alice", pw("s3cret"));
    assert.ok(hit);
    assert.deepEqual(hit.labels, { group: ["admins"] });
    assert.equal(hit.method, "static users");
    assert.equal(cache.size, 1);
  });

  test("a different password, or another user with the same password, misses", () => {
    const { cache } = cacheAt(60_000);
    cache.set("alice", pw("s3cret"), {}, "static users");
    assert.equal(cache.get("alice", pw("s3cret ")), undefined);
    assert.equal(cache.get("alice", pw("S3cret")), undefined);
    assert.equal(cache.get("alice", pw("")), undefined);
    assert.equal(cache.get("bob", pw("s3cret")), undefined);
    assert.equal(cache.get("Alice", pw("s3cret")), undefined);
  });

  test("the boundary between user and password is unambiguous", () => {
    const { cache } = cacheAt(60_000);
    cache.set("a", pw("b\0c"), { who: ["a"] }, "static users");
    cache.set("ab", pw("c"), { who: ["ab"] }, "static users");
    // Neither shifts the boundary onto the other, nor onto a user containing NUL.
    assert.equal(cache.get("a\0b", pw("c")), undefined);
    assert.equal(cache.get("a", pw("bc")), undefined);
    assert.deepEqual(cache.get("a", pw("b\0c"))?.labels, { who: ["a"] });
    assert.deepEqual(cache.get("ab", pw("c"))?.labels, { who: ["ab"] });
    assert.equal(cache.size, 2);
  });

  test("an entry expires after the ttl, on the injected clock", () => {
    const { cache, advance } = cacheAt(60_000);
    cache.set("alice", pw("s3cret"), {}, "static users");
    advance(59_999);
    assert.ok(cache.get("alice", pw("s3cret")));
    advance(1);
    assert.equal(cache.get("alice", pw("s3cret")), undefined);
    // The expired entry is dropped, not kept around.
    assert.equal(cache.size, 0);
  });

  test("setting again renews the expiry", () => {
    const { cache, advance } = cacheAt(1_000);
    cache.set("alice", pw("s3cret"), { v: ["1"] }, "static users");
    advance(900);
    cache.set("alice", pw("s3cret"), { v: ["2"] }, "static users");
    advance(900);
    assert.deepEqual(cache.get("alice", pw("s3cret"))?.labels, { v: ["2"] });
    assert.equal(cache.size, 1);
  });

  test("a hit does not extend the ttl", () => {
    const { cache, advance } = cacheAt(1_000);
    cache.set("alice", pw("s3cret"), {}, "static users");
    advance(600);
    assert.ok(cache.get("alice", pw("s3cret")));
    advance(600);
    assert.equal(cache.get("alice", pw("s3cret")), undefined);
  });

  test("the size is bounded: the oldest entry is evicted first", () => {
    const { cache } = cacheAt(60_000, 3);
    for (const u of ["u1", "u2", "u3"]) cache.set(u, pw(`${u}-pw`), {}, "static users");
    assert.equal(cache.size, 3);
    cache.set("u4", pw("u4-pw"), {}, "static users");
    assert.equal(cache.size, 3);
    assert.equal(cache.get("u1", pw("u1-pw")), undefined);
    for (const u of ["u2", "u3", "u4"]) assert.ok(cache.get(u, pw(`${u}-pw`)), u);
  });

  test("re-setting an entry makes it the newest", () => {
    const { cache } = cacheAt(60_000, 3);
    for (const u of ["u1", "u2", "u3"]) cache.set(u, pw(`${u}-pw`), {}, "static users");
    cache.set("u1", pw("u1-pw"), {}, "static users");
    cache.set("u4", pw("u4-pw"), {}, "static users");
    assert.ok(cache.get("u1", pw("u1-pw")));
    assert.equal(cache.get("u2", pw("u2-pw")), undefined);
  });

  test("a thousand users in a cache of ten keep the last ten", () => {
    const { cache } = cacheAt(60_000, 10);
    for (let i = 0; i < 1000; i++) cache.set(`user${i}`, pw(`pw${i}`), {}, "static users");
    assert.equal(cache.size, 10);
    assert.equal(cache.get("user989", pw("pw989")), undefined);
    for (let i = 990; i < 1000; i++) assert.ok(cache.get(`user${i}`, pw(`pw${i}`)), `user${i}`);
  });

  test("ttl 0 turns the cache off: nothing is stored", () => {
    const { cache } = cacheAt(0);
    assert.equal(cache.enabled, false);
    cache.set("alice", pw("s3cret"), {}, "static users");
    assert.equal(cache.size, 0);
    assert.equal(cache.get("alice", pw("s3cret")), undefined);
  });

  test("maxEntries 0 stores nothing (and does not hang)", () => {
    const { cache } = cacheAt(60_000, 0);
    assert.equal(cache.enabled, false);
    cache.set("alice", pw("s3cret"), {}, "static users");
    assert.equal(cache.size, 0);
  });

  test("clear() empties it", () => {
    const { cache } = cacheAt(60_000);
    cache.set("alice", pw("s3cret"), {}, "static users");
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get("alice", pw("s3cret")), undefined);
  });

  test("two instances do not share entries (each has its own key)", () => {
    const a = cacheAt(60_000).cache;
    const b = cacheAt(60_000).cache;
    a.set("alice", pw("s3cret"), {}, "static users");
    assert.equal(b.get("alice", pw("s3cret")), undefined);
  });

  test("the plaintext password is not held: not in inspect, not in JSON, not in an entry", () => {
    const password = "correct-horse-battery-staple-7f3a";
    const { cache } = cacheAt(60_000);
    cache.set("alice", pw(password), { group: ["admins"] }, "static users");
    cache.set("bob", pw(`${password}-bob`), {}, "static users");
    const views = [
      inspect(cache, { showHidden: true, depth: Infinity, getters: true }),
      JSON.stringify(cache),
      inspect(cache.get("alice", pw(password)), { showHidden: true, depth: Infinity }),
      JSON.stringify(cache.get("alice", pw(password))),
    ];
    for (const v of views) {
      assert.ok(!v.includes(password), v);
      assert.ok(!v.includes(Buffer.from(password).toString("base64")), v);
      assert.ok(!v.includes(Buffer.from(password).toString("hex")), v);
    }
    assert.ok(!Object.values(cache).some((v) => typeof v === "string" && v.includes(password)));
  });
});

describe("AuthnChain: identical logins in flight", () => {
  /** An authenticator that counts its calls and answers after a pause: alice's password is "right". */
  function slowAuthenticator(): Authenticator & { calls: number } {
    return {
      name: "slow",
      calls: 0,
      async authenticate(user: string, password: Secret) {
        this.calls++;
        await new Promise((r) => setTimeout(r, 30));
        if (user !== "alice") return { kind: "no-match" };
        return password.reveal() === "right" ? { kind: "match", labels: { group: ["dev"] } } : { kind: "denied" };
      },
      async stop() {},
    };
  }

  test("twenty logins with the same user and password at once are checked once, and all get its answer", async () => {
    const a = slowAuthenticator();
    const chain = new AuthnChain([a], new CredentialCache(60_000, 100), await hashPassword("dummy", 4));
    const answers = await Promise.all(Array.from({ length: 20 }, () => chain.authenticate("alice", pw("right"))));
    assert.equal(a.calls, 1);
    assert.ok(answers.every((r) => r.ok && r.labels.group?.[0] === "dev"));
    // Then it is remembered.
    assert.deepEqual(await chain.authenticate("alice", pw("right")), { ok: true, labels: { group: ["dev"] }, method: "slow", cached: true });
    assert.equal(a.calls, 1);
  });

  test("a different password, or a wrong one, is never answered by another login's check", async () => {
    const a = slowAuthenticator();
    const chain = new AuthnChain([a], new CredentialCache(60_000, 100), await hashPassword("dummy", 4));
    const [right, wrong, wrongAgain] = await Promise.all([chain.authenticate("alice", pw("right")), chain.authenticate("alice", pw("wrong")), chain.authenticate("alice", pw("wrong"))]);
    assert.equal(right.ok, true);
    assert.deepEqual(wrong, { ok: false });
    assert.deepEqual(wrongAgain, { ok: false });
    assert.equal(a.calls, 2, "one check for the right password, one shared by the two wrong ones");
    // A failure is not remembered: the next wrong attempt is checked again.
    assert.deepEqual(await chain.authenticate("alice", pw("wrong")), { ok: false });
    assert.equal(a.calls, 3);
  });

  test("with the cache off, every login is checked", async () => {
    const a = slowAuthenticator();
    const chain = new AuthnChain([a], new CredentialCache(0, 100), await hashPassword("dummy", 4));
    await Promise.all(Array.from({ length: 5 }, () => chain.authenticate("alice", pw("right"))));
    assert.equal(a.calls, 5);
  });
});
