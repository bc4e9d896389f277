// The behaviour every TokenStore backend must have, run against each real backend
// (SQLite file, Redis, PostgreSQL) by its own integration test.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { StoreUnavailableError } from "../../src/errors.js";
import type { StoredCredential, TokenStore } from "../../src/stores/token-store.js";

const HOUR = 3_600_000;
export const T0 = 1_900_000_000_000;

export function credential(o: Partial<StoredCredential> = {}): StoredCredential {
  return {
    id: randomBytes(8).toString("hex"),
    kind: "refresh_token",
    secretHash: randomBytes(32).toString("hex"),
    account: "alice",
    method: "static",
    proof: "",
    labels: { group: ["dev", "ops"] },
    clientId: "docker",
    service: "registry",
    createdAt: T0,
    lastUsedAt: T0,
    expiresAt: T0 + 24 * HOUR,
    idleUntil: T0 + 2 * HOUR,
    attachment: "",
    ...o,
  };
}

/**
 * Registers the contract's tests. `open` gives a fresh, empty store each time (its own
 * file, database or key prefix); the suite closes what it opens.
 */
export function storeContract(name: string, open: () => Promise<TokenStore>): void {
  const withStore = (title: string, body: (s: TokenStore) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const s = await open();
      try {
        await body(s);
      } finally {
        await s.close();
      }
    });

  withStore("a credential put is got back whole, labels included", async (s) => {
    const c = credential({ labels: { group: ["a", "b"], "team:x": ["ü"] }, clientId: "", service: "svc", proof: "5f2b9c0e1d3a4b6c", kind: "login_password", attachment: "v1.sealed+/=\u00e9" });
    await s.put(c);
    assert.deepEqual(await s.get(c.id, T0), c);
    assert.equal(await s.get("0123456789abcdef", T0), undefined);
  });

  withStore("an expired or idle credential is not got, listed, nor kept by purge", async (s) => {
    const expired = credential({ expiresAt: T0 + HOUR, idleUntil: null });
    const idle = credential({ idleUntil: T0 + HOUR });
    const live = credential({ idleUntil: null });
    for (const c of [expired, idle, live]) await s.put(c);
    const later = T0 + HOUR + 1;
    assert.equal(await s.get(expired.id, later), undefined);
    assert.equal(await s.get(idle.id, later), undefined);
    assert.deepEqual(await s.get(live.id, later), live);
    assert.deepEqual((await s.list(later)).map((c) => c.id), [live.id]);
    assert.equal(await s.purge(later), 2);
    assert.equal(await s.get(expired.id, T0), undefined, "purged for good");
    assert.deepEqual(await s.get(live.id, later), live);
  });

  withStore("touch records a use and moves the idle deadline", async (s) => {
    const c = credential();
    await s.put(c);
    await s.touch(c.id, T0 + HOUR, T0 + 3 * HOUR);
    const got = await s.get(c.id, T0 + 2.5 * HOUR);
    assert.equal(got?.lastUsedAt, T0 + HOUR);
    assert.equal(got?.idleUntil, T0 + 3 * HOUR);
    await s.touch("0123456789abcdef", T0, null); // unknown id: nothing happens
  });

  withStore("list filters by account and kind, oldest first", async (s) => {
    const a1 = credential({ account: "alice", createdAt: T0 + 2 });
    const a2 = credential({ account: "alice", createdAt: T0 + 1, kind: "login_password" });
    const b = credential({ account: "bob", createdAt: T0 + 3 });
    for (const c of [a1, a2, b]) await s.put(c);
    assert.deepEqual((await s.list(T0)).map((c) => c.id), [a2.id, a1.id, b.id]);
    assert.deepEqual((await s.list(T0, { account: "alice" })).map((c) => c.id), [a2.id, a1.id]);
    assert.deepEqual((await s.list(T0, { account: "alice", kind: "refresh_token" })).map((c) => c.id), [a1.id]);
    assert.deepEqual(await s.list(T0, { account: "nobody" }), []);
  });

  withStore("revoke by id, by account and all, answering how many", async (s) => {
    const cs = [credential({ account: "alice" }), credential({ account: "alice" }), credential({ account: "bob" }), credential({ account: "carol" })];
    for (const c of cs) await s.put(c);
    assert.equal(await s.revoke({ id: cs[3]!.id }), 1);
    assert.equal(await s.get(cs[3]!.id, T0), undefined);
    assert.equal(await s.revoke({ id: cs[3]!.id }), 0);
    assert.equal(await s.revoke({ account: "alice" }), 2);
    assert.equal(await s.get(cs[0]!.id, T0), undefined);
    assert.deepEqual((await s.list(T0)).map((c) => c.id), [cs[2]!.id]);
    assert.equal(await s.revoke({ all: true }), 1);
    assert.deepEqual(await s.list(T0), []);
  });

  withStore("account names are data, not syntax (wildcards, quotes, separators)", async (s) => {
    const odd = credential({ account: "a*'\"%_:{x}" });
    const plain = credential({ account: "a" });
    await s.put(odd);
    await s.put(plain);
    assert.deepEqual((await s.list(T0, { account: "a*'\"%_:{x}" })).map((c) => c.id), [odd.id]);
    assert.equal(await s.revoke({ account: "a*'\"%_:{x}" }), 1);
    assert.deepEqual(await s.get(plain.id, T0), plain);
  });

  withStore("hit counts within a window and starts again in the next", async (s) => {
    assert.equal(await s.hit("fail:alice", 60_000, T0), 1);
    assert.equal(await s.hit("fail:alice", 60_000, T0 + 10), 2);
    assert.equal(await s.hit("fail:bob", 60_000, T0 + 10), 1);
    assert.equal(await s.hit("fail:alice", 60_000, T0 + 60_000), 1, "a new window");
  });

  withStore("amend changes a credential's labels and attachment, and never brings back a revoked one", async (s) => {
    const c = credential({ kind: "login_password", attachment: "old" });
    await s.put(c);
    assert.equal(await s.amend(c.id, { teams: ["x"] }, "new"), true);
    assert.deepEqual(await s.get(c.id, T0), { ...c, labels: { teams: ["x"] }, attachment: "new" });
    await s.revoke({ id: c.id });
    assert.equal(await s.amend(c.id, { teams: ["y"] }, "newer"), false);
    assert.equal(await s.get(c.id, T0), undefined);
  });

  withStore("resetHits forgets one key's count in the window, and no other key's", async (s) => {
    await s.hit("fail:alice", 60_000, T0);
    await s.hit("fail:alice", 60_000, T0 + 1);
    await s.hit("fail:bob", 60_000, T0 + 1);
    await s.resetHits("fail:alice", 60_000, T0 + 2);
    assert.equal(await s.hit("fail:alice", 60_000, T0 + 3), 1, "counting starts again");
    assert.equal(await s.hit("fail:bob", 60_000, T0 + 3), 2, "another key keeps its count");
    await s.resetHits("fail:nobody", 60_000, T0 + 3);
  });

  withStore("health is ok while the backend answers", async (s) => {
    assert.deepEqual(await s.health(), { ok: true });
  });
}

/** `f` retried until it answers (a store coming back after an outage), for at most `ms`. */
export async function eventually<T>(f: () => Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** For assert.rejects: a StoreUnavailableError whose message matches. */
export const isUnavailable = (pattern: RegExp) => (e: Error) => {
  assert.ok(e instanceof StoreUnavailableError, `not a StoreUnavailableError: ${e}`);
  assert.match(e.message, pattern);
  return true;
};
