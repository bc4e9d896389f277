// A unit test of web sign-in's password and revalidation logic (SignInPasswords in
// src/backends/websignin/passwords.ts): the generated `docker login` passwords, the
// authenticator `docker login` reaches, and the re-checks with the provider. The provider is
// a small object in this file (no OAuth, no HTTP); the token store is the real embedded one
// (SQLite in a worker thread, on a temporary file), as the server uses it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { PASSWORD_PREFIX, SignInPasswords } from "../../src/backends/websignin/passwords.js";
import type { FlowSecrets, ProviderTokens, Revalidation, SignedInUser, WebSignInProvider } from "../../src/backends/websignin/provider.js";
import { Sealer } from "../../src/backends/websignin/seal.js";
import type { AuthnResult } from "../../src/authn/authenticator.js";
import type { Labels } from "../../src/config/types.js";
import { BackendError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { Secret } from "../../src/secret.js";
import { SqliteTokenStore } from "../../src/stores/sqlite/sqlite-store.js";
import type { TokenStore } from "../../src/stores/token-store.js";
import { keepAtExit } from "../helpers/secret-ledger.js";

const DAY_MS = 86_400_000;
const LIFETIME_MS = 30 * DAY_MS;
const HOUR_MS = 3_600_000;
const PASSWORD_SHAPE = /^regauth_pw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A provider that answers what the test says; it never talks to anything. */
class TestProvider implements WebSignInProvider {
  readonly title = "Test provider";
  readonly path = "/test_auth";
  /** When a sign-in is due for a re-check, relative to `now`: negative is already due. */
  recheckInMs = HOUR_MS;
  /** What the next re-checks answer (or throw). */
  answer: (account: string, tokens: ProviderTokens) => Promise<Revalidation> = async (_a, tokens) => ({ ok: true, labels: {}, tokens });
  readonly calls: { account: string; tokens: ProviderTokens }[] = [];

  constructor(readonly key = "test_auth") {}

  authorizationUrl(_flow: FlowSecrets): URL {
    return new URL("https://provider.invalid/authorize");
  }
  async complete(): Promise<SignedInUser> {
    throw new Error("not used here");
  }
  revalidateAt(_user: SignedInUser, now: number): number {
    return now + this.recheckInMs;
  }
  revalidate(account: string, tokens: ProviderTokens): Promise<Revalidation> {
    this.calls.push({ account, tokens });
    return this.answer(account, tokens);
  }
}

/** The store, passed through, counting the reads that came back (to know when parallel logins are past them). */
function countingStore(store: TokenStore): TokenStore & { readonly gets: number } {
  let gets = 0;
  return {
    backend: store.backend,
    get gets() {
      return gets;
    },
    put: (c) => store.put(c),
    async get(id, now) {
      const c = await store.get(id, now);
      gets++;
      return c;
    },
    touch: (id, at, idle) => store.touch(id, at, idle),
    amend: (id, labels, attachment) => store.amend(id, labels, attachment),
    list: (now, filter) => store.list(now, filter),
    revoke: (sel) => store.revoke(sel),
    purge: (now) => store.purge(now),
    hit: (key, w, now) => store.hit(key, w, now),
    resetHits: (key, w, now) => store.resetHits(key, w, now),
    health: () => store.health(),
    close: () => store.close(),
  };
}

let dir: string;
let n = 0;
/** Everything every SignInPasswords of this file logged, at debug level. */
let logText = "";
keepAtExit("websignin-passwords-log", () => logText);
const log = createLogger(
  "debug",
  new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  }),
);
/** Every password and provider token handed out in this file: none may appear in the log. */
const secrets: string[] = [];
const stores: TokenStore[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-websignin-passwords-"));
});
after(async () => {
  for (const s of stores) await s.close();
  await rm(dir, { recursive: true, force: true });
});

interface Setup {
  provider: TestProvider;
  store: TokenStore & { readonly gets: number };
  passwords: SignInPasswords;
  sealKey: Buffer;
}

/** A fresh store file, a provider, and the passwords over them. */
function setup(): Setup {
  const raw = new SqliteTokenStore(join(dir, `s${++n}`, "regauth.db"), log);
  stores.push(raw);
  const store = countingStore(raw);
  const provider = new TestProvider();
  const sealKey = randomBytes(32);
  const passwords = new SignInPasswords(provider, store, new Sealer(sealKey, `provider tokens ${provider.key}`), LIFETIME_MS, log);
  return { provider, store, passwords, sealKey };
}

function user(account: string, labels: Labels = {}): SignedInUser {
  const tokens: ProviderTokens = { accessToken: `at-${randomBytes(12).toString("hex")}`, refreshToken: `rt-${randomBytes(12).toString("hex")}`, tokenType: "bearer" };
  secrets.push(tokens.accessToken, tokens.refreshToken!);
  return { account, labels, tokens };
}

async function issue(p: SignInPasswords, u: SignedInUser, now?: number): Promise<{ password: string; expiresAt: number; id: string }> {
  const r = await p.issue(u, now);
  secrets.push(r.password);
  const m = PASSWORD_SHAPE.exec(r.password);
  assert.ok(m, `a password looks like regauth_pw_<16 hex>_<43 base64url>: ${r.password.length} characters`);
  return { ...r, id: m[1]! };
}

const login = (p: SignInPasswords, account: string, password: string): Promise<AuthnResult> => p.authenticate(account, new Secret(password));

/** Not let in: unknown to this method (no-match) or refused by it (denied); either is a 401 at /auth. */
function assertRefused(r: AuthnResult, what: string): void {
  assert.ok(r.kind === "no-match" || r.kind === "denied", `${what}: ${JSON.stringify(r)}`);
}

/** Lets parallel work reach its next step: a few turns of the event loop. */
const turn = () => new Promise<void>((r) => setImmediate(r));

/** Waits (by event-loop turns, not by time) until `cond` holds; gives up after many turns. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await turn();
  assert.ok(cond(), `gave up waiting: ${what}`);
}

function assertNothingSecretLogged(): void {
  for (const s of secrets) assert.ok(!logText.includes(s), "a password or provider token was logged");
}

describe("SignInPasswords", () => {
  test("an issued password lets its account in with the sign-in's labels; the store keeps only a hash and sealed tokens", async () => {
    const { passwords, store } = setup();
    const u = user("alice", { teams: ["platform", "docs"] });
    const t0 = Date.now();
    const { password, expiresAt, id } = await issue(passwords, u);
    assert.ok(password.startsWith(PASSWORD_PREFIX));
    assert.ok(expiresAt >= t0 + LIFETIME_MS && expiresAt <= Date.now() + LIFETIME_MS, "it lives for the configured lifetime");
    assert.deepEqual(await login(passwords, "alice", password), { kind: "match", labels: { teams: ["platform", "docs"] } });

    const [kept, ...more] = await store.list(Date.now(), { account: "alice" });
    assert.equal(more.length, 0);
    assert.equal(kept!.id, id);
    assert.equal(kept!.kind, "login_password");
    assert.equal(kept!.method, "test_auth");
    assert.equal(kept!.expiresAt, expiresAt);
    const stored = JSON.stringify(kept);
    assert.ok(!stored.includes(secretOf(password)), "not the password's secret part");
    assert.ok(!stored.includes(u.tokens.accessToken) && !stored.includes(u.tokens.refreshToken!), "not the provider's tokens in the clear");
    assertNothingSecretLogged();
  });

  test("signing in again replaces the previous password", async () => {
    const { passwords, store } = setup();
    const first = await issue(passwords, user("alice", { teams: ["a"] }));
    const second = await issue(passwords, user("alice", { teams: ["b"] }));
    assert.notEqual(first.password, second.password);
    assertRefused(await login(passwords, "alice", first.password), "the first password");
    assert.deepEqual(await login(passwords, "alice", second.password), { kind: "match", labels: { teams: ["b"] } });
    assert.deepEqual(
      (await store.list(Date.now(), { account: "alice" })).map((c) => c.id),
      [second.id],
    );
  });

  test("a password issued longer ago than its lifetime is not accepted", async () => {
    const { passwords } = setup();
    const { password } = await issue(passwords, user("alice"), Date.now() - LIFETIME_MS - 60_000);
    assertRefused(await login(passwords, "alice", password), "an expired password");
    assert.equal(await passwords.stillExists("alice"), false);
    assert.equal(await passwords.credentialProof("alice"), "");
  });

  test("the right id with a wrong secret is denied; a wrong account is denied", async () => {
    const { passwords, provider } = setup();
    const { password, id } = await issue(passwords, user("alice", { teams: ["a"] }));
    const forged = `${PASSWORD_PREFIX}${id}_${randomBytes(32).toString("base64url")}`;
    assert.deepEqual(await login(passwords, "alice", forged), { kind: "denied" });
    assert.deepEqual(await login(passwords, "bob", password), { kind: "denied" }, "another account with alice's password");
    assert.deepEqual(await login(passwords, "Alice", password), { kind: "denied" }, "account names are compared exactly");
    // Neither reached the provider, and alice's password still works.
    assert.equal(provider.calls.length, 0);
    assert.equal((await login(passwords, "alice", password)).kind, "match");
  });

  test("anything that is not one of this provider's passwords is no-match (the next method may know it)", async () => {
    const { passwords, store, sealKey } = setup();
    const { password, id } = await issue(passwords, user("alice"));
    const secret = secretOf(password);
    for (const text of [
      "",
      "hunter2",
      `regauth_rt_${id}_${secret}`,
      `${PASSWORD_PREFIX}${id}`,
      `${PASSWORD_PREFIX}${id}_${secret}x`,
      `${PASSWORD_PREFIX}${id.toUpperCase()}_${secret}`,
      ` ${password}`,
      `${PASSWORD_PREFIX}${"0".repeat(16)}_${secret}`,
    ])
      assert.deepEqual(await login(passwords, "alice", text), { kind: "no-match" }, JSON.stringify(text.slice(0, 20)));
    // A password of another provider, in the same store: not this one's.
    const other = new TestProvider("other_auth");
    const otherPasswords = new SignInPasswords(other, store, new Sealer(sealKey, `provider tokens ${other.key}`), LIFETIME_MS, log);
    const theirs = await issue(otherPasswords, user("alice"));
    assert.deepEqual(await login(passwords, "alice", theirs.password), { kind: "no-match" });
    assert.equal((await login(otherPasswords, "alice", theirs.password)).kind, "match");
    // Each provider keeps its own current password for the account.
    assert.equal((await login(passwords, "alice", password)).kind, "match");
  });

  test("a due re-check runs once for five parallel logins, and its labels are used from then on", async () => {
    const { passwords, provider, store } = setup();
    provider.recheckInMs = -1;
    const u = user("alice", { teams: ["old"] });
    const { password, id } = await issue(passwords, u);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fresh: ProviderTokens = { accessToken: `at-${randomBytes(12).toString("hex")}`, refreshToken: u.tokens.refreshToken };
    secrets.push(fresh.accessToken);
    provider.answer = async () => {
      await gate;
      return { ok: true, labels: { teams: ["new", "more"] }, tokens: fresh };
    };
    const readsBefore = store.gets;
    const logins = Array.from({ length: 5 }, () => login(passwords, "alice", password));
    // Every login has read the credential and is waiting on the one re-check.
    await until(() => store.gets - readsBefore >= 5, "five reads of the credential");
    await turn();
    assert.equal(provider.calls.length, 1, "one re-check for all five");
    provider.recheckInMs = HOUR_MS;
    release();
    for (const r of await Promise.all(logins)) assert.deepEqual(r, { kind: "match", labels: { teams: ["new", "more"] } });
    assert.equal(provider.calls.length, 1);
    assert.equal(provider.calls[0]!.account, "alice");
    assert.deepEqual(provider.calls[0]!.tokens, u.tokens, "the re-check gets the tokens of the sign-in");
    // Not due again for an hour: the next login does not ask, and has the new labels.
    assert.deepEqual(await login(passwords, "alice", password), { kind: "match", labels: { teams: ["new", "more"] } });
    assert.equal(provider.calls.length, 1);
    assert.deepEqual((await store.get(id, Date.now()))?.labels, { teams: ["new", "more"] });
    assert.match(logText, /web sign-in re-checked with the provider/);
    assertNothingSecretLogged();
  });

  test("the renewed tokens are what the next re-check gets", async () => {
    const { passwords, provider } = setup();
    provider.recheckInMs = -1;
    const { password } = await issue(passwords, user("alice"));
    const renewed: ProviderTokens = { accessToken: `at-${randomBytes(12).toString("hex")}`, refreshToken: `rt-${randomBytes(12).toString("hex")}` };
    secrets.push(renewed.accessToken, renewed.refreshToken!);
    provider.answer = async () => ({ ok: true, labels: {}, tokens: renewed });
    assert.equal((await login(passwords, "alice", password)).kind, "match");
    assert.equal((await login(passwords, "alice", password)).kind, "match");
    assert.equal(provider.calls.length, 2, "still due at once");
    assert.deepEqual(provider.calls[1]!.tokens, renewed);
  });

  test("a re-check that says no ends the password for good, even if the provider would say yes later", async () => {
    const { passwords, provider, store } = setup();
    provider.recheckInMs = -1;
    const { password, id } = await issue(passwords, user("alice", { teams: ["a"] }));
    provider.answer = async () => ({ ok: false, reason: "alice is not a member of the organization acme" });
    assert.deepEqual(await login(passwords, "alice", password), { kind: "denied" });
    assert.equal(await store.get(id, Date.now()), undefined, "the credential is gone from the store");
    assert.deepEqual(await store.list(Date.now(), { account: "alice" }), []);
    const ended = logText.split("\n").find((l) => l.includes("web sign-in password ended") && l.includes("alice is not a member of the organization acme"));
    assert.ok(ended, `the log says the password ended, and why:\n${logText}`);
    assert.match(ended, /"account":"alice"/);
    assert.match(ended, /"backend":"test_auth"/);

    provider.answer = async (_a, tokens) => ({ ok: true, labels: { teams: ["a"] }, tokens });
    assertRefused(await login(passwords, "alice", password), "an ended password");
    assert.equal(provider.calls.length, 1, "an ended password is not re-checked again");
    assert.equal(await passwords.stillExists("alice"), false);
    assertNothingSecretLogged();
  });

  test("a provider that cannot answer the re-check is a BackendError (a 503), never a silent deny; the password works once it is back", async () => {
    const { passwords, provider, store } = setup();
    provider.recheckInMs = -1;
    const { password, id } = await issue(passwords, user("alice", { teams: ["a"] }));
    const down = new BackendError("test_auth", "cannot reach https://provider.invalid/user: ECONNREFUSED", { publicMessage: "the provider cannot be reached; try again shortly" });
    provider.answer = async () => {
      throw down;
    };
    await assert.rejects(login(passwords, "alice", password), (e: unknown) => {
      assert.equal(e, down, "the provider's own BackendError");
      assert.equal((e as BackendError).status, 503);
      return true;
    });
    // Something else thrown is still a BackendError, naming the account but no secret.
    provider.answer = async () => {
      throw new TypeError("fetch failed");
    };
    await assert.rejects(login(passwords, "alice", password), (e: unknown) => e instanceof BackendError && e.status === 503 && /alice/.test(e.message) && /fetch failed/.test(e.message) && !e.message.includes(password));
    assert.ok(await store.get(id, Date.now()), "the credential is kept while the provider is down");
    await assert.rejects(passwords.stillExists("alice"), BackendError, "stillExists is a BackendError too, not false");

    provider.recheckInMs = HOUR_MS;
    provider.answer = async (_a, tokens) => ({ ok: true, labels: { teams: ["a", "b"] }, tokens });
    assert.deepEqual(await login(passwords, "alice", password), { kind: "match", labels: { teams: ["a", "b"] } });
    assert.equal(provider.calls.length, 4);
    assertNothingSecretLogged();
  });

  test("a record sealed with another key (a rotated signing key) is denied and ended, without asking the provider", async () => {
    const { passwords, provider, store } = setup();
    const { password, id } = await issue(passwords, user("alice", { teams: ["a"] }));
    const rotated = new SignInPasswords(provider, store, new Sealer(randomBytes(32), `provider tokens ${provider.key}`), LIFETIME_MS, log);
    assert.deepEqual(await login(rotated, "alice", password), { kind: "denied" });
    assert.equal(await store.get(id, Date.now()), undefined, "ended");
    assert.equal(provider.calls.length, 0, "there were no readable tokens to re-check with");
    assert.ok(
      logText.split("\n").some((l) => l.includes("web sign-in password ended") && l.includes("signing key rotated") && l.includes(`"account":"alice"`)),
      logText,
    );
    assertRefused(await login(passwords, "alice", password), "the same password through the old key afterwards");
  });

  test("stillExists and credentialProof follow the account's current password", async () => {
    const { passwords, provider } = setup();
    assert.equal(await passwords.stillExists("alice"), false, "no password yet");
    assert.equal(await passwords.credentialProof("alice"), "");
    const first = await issue(passwords, user("alice"));
    assert.equal(await passwords.stillExists("alice"), true);
    assert.equal(await passwords.credentialProof("alice"), first.id, "the current password's id");
    const second = await issue(passwords, user("alice"));
    assert.equal(await passwords.credentialProof("alice"), second.id, "signing in again changes it");
    assert.notEqual(second.id, first.id);
    assert.equal(await passwords.stillExists("bob"), false);

    // A due re-check that says no, reached through stillExists: ended.
    provider.recheckInMs = -1;
    await issue(passwords, user("alice"));
    provider.answer = async () => ({ ok: false, reason: "the account was deleted" });
    assert.equal(await passwords.stillExists("alice"), false);
    assert.equal(await passwords.credentialProof("alice"), "", "no password any more");
    assert.equal(await passwords.stillExists("alice"), false);
    assert.equal(provider.calls.length, 1);
  });

  test("a password revoked while its re-check is in flight stays revoked", async () => {
    const { passwords, provider, store } = setup();
    provider.recheckInMs = -1;
    const { password, id } = await issue(passwords, user("alice"));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    provider.answer = async (_a, tokens) => {
      await gate;
      return { ok: true, labels: {}, tokens };
    };
    const inFlight = login(passwords, "alice", password);
    await until(() => provider.calls.length === 1, "the re-check started");
    assert.equal(await store.revoke({ id }), 1);
    release();
    await inFlight;
    assert.equal(await store.get(id, Date.now()), undefined, "the revoked credential is not back in the store");
    assertRefused(await login(passwords, "alice", password), "the revoked password");
  });

  test("nothing secret was written to the log, and the log is not empty", () => {
    assert.match(logText, /web sign-in password ended/);
    assert.match(logText, /web sign-in re-checked with the provider/);
    assert.ok(secrets.length > 20);
    assertNothingSecretLogged();
  });
});

/** The secret part of a password (after its id). */
function secretOf(password: string): string {
  return PASSWORD_SHAPE.exec(password)![2]!;
}
