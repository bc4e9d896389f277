// Two regauth processes with one signing key and one shared store (real Redis, then real
// PostgreSQL), as behind a load balancer: a refresh token issued by one works on the other,
// a revocation through either is seen by both at once, and a store outage costs refresh
// tokens (logins go on) until the store is back, without a restart.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createLocalJWKSet, jwtVerify } from "jose";
import { skipWithoutPostgres, startPostgres, type RunningPostgres } from "../helpers/postgres.js";
import { skipWithoutRedis, startRedis, type RunningRedis } from "../helpers/redis.js";
import { BIN, startRegauth, testHash, writeKeyPair, type KeyFiles, type RunningRegauth } from "../helpers/regauth.js";

const run = promisify(execFile);
const PASSWORD = "replica-Passw0rd";
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

async function login(r: RunningRegauth, user = "alice"): Promise<{ status: number; token?: string; refresh_token?: string }> {
  const res = await fetch(`${r.url}/auth?service=registry&offline_token=true&client_id=docker&scope=repository:${user}/app:pull`, { headers: { authorization: basic(user, PASSWORD) } });
  return { status: res.status, ...((await res.json()) as object) };
}

async function refresh(r: RunningRegauth, token: string): Promise<{ status: number; body: any }> {
  const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: token, service: "registry", client_id: "docker", scope: "repository:alice/app:pull,push" });
  const res = await fetch(`${r.url}/auth`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  return { status: res.status, body: await res.json() };
}

async function verify(r: RunningRegauth, token: string): Promise<string | undefined> {
  const jwks = createLocalJWKSet((await (await fetch(`${r.url}/.well-known/jwks.json`)).json()) as { keys: [] });
  return (await jwtVerify(token, jwks, { issuer: "replicas", audience: "registry" })).payload.sub;
}

const config = async (keys: KeyFiles, store: string) => `
server: { addr: "127.0.0.1:{{PORT}}", workers: 1 }
token: { issuer: "replicas", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
token_store: ${store}
users:
  "alice": { password: "${await testHash(PASSWORD)}" }
  "bob": { password: "${await testHash(PASSWORD)}" }
acl:
  - match: { account: "/.+/", name: "\${account}/*" }
    actions: ["pull", "push"]
`;

/** The same cases for each shared store. `outage` stops the store's server, `back` starts it again. */
function replicaCases(name: string, setup: () => Promise<{ store: string; outage(): Promise<void>; back(): Promise<void>; stop(): Promise<void> }>, skip: string | undefined) {
  describe(`two replicas sharing ${name}`, { skip }, () => {
    let dir: string;
    let a: RunningRegauth;
    let b: RunningRegauth;
    let env: Awaited<ReturnType<typeof setup>>;
    before(async () => {
      env = await setup();
      dir = await mkdtemp(join(tmpdir(), `regauth-replicas-${name}-`));
      const keys = await writeKeyPair(dir, "token", "ec");
      const text = await config(keys, env.store);
      [a, b] = await Promise.all([startRegauth(text), startRegauth(text)]);
    });
    after(async () => {
      await Promise.allSettled([a?.stop(), b?.stop()]);
      await env?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test("a refresh token issued by one replica works on the other; its access token verifies with the shared key", async () => {
      const l = await login(a);
      assert.equal(l.status, 200);
      assert.match(l.refresh_token ?? "", /^regauth_rt_/);
      const r = await refresh(b, l.refresh_token!);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await verify(a, r.body.token), "alice");
      assert.equal((await refresh(a, l.refresh_token!)).status, 200);
    });

    test("a revocation through either replica's config is refused by both at once", async () => {
      const l = await login(b, "bob");
      const body = (t: string) => new URLSearchParams({ grant_type: "refresh_token", refresh_token: t, service: "registry", client_id: "docker", scope: "repository:bob/app:pull" });
      const post = (r: RunningRegauth) => fetch(`${r.url}/auth`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: body(l.refresh_token!) });
      assert.equal((await post(a)).status, 200);
      const list = await run(process.execPath, [BIN, "tokens", "list", a.configPath, "--account", "bob"]);
      assert.match(list.stdout, /\bbob\s+docker\s+registry\b/);
      const revoked = await run(process.execPath, [BIN, "tokens", "revoke", a.configPath, "--account", "bob"]);
      assert.match(revoked.stdout, new RegExp(`revoked 1 refresh token or web sign-in password of account "bob" \\(${name}\\)`));
      for (const r of [a, b]) {
        const res = await post(r);
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: string }).error, "invalid_grant");
      }
    });

    test("the store down: logins still succeed without a refresh token, refresh grants get a 503; then both recover by themselves", async () => {
      const { refresh_token } = await login(a);
      await env.outage();
      try {
        const l = await login(b);
        assert.equal(l.status, 200);
        assert.ok(l.token);
        assert.equal(l.refresh_token, undefined);
        const r = await refresh(a, refresh_token!);
        assert.equal(r.status, 503);
        assert.equal(r.body.error, "temporarily_unavailable");
        assert.equal(r.body.error_description, "the token store is unavailable; try again shortly");
      } finally {
        await env.back();
      }
      // The test's Redis keeps nothing across a restart (no persistence), so the old token may be gone: log in anew.
      let fresh: string | undefined;
      for (let i = 0; i < 100 && !fresh; i++) {
        fresh = (await login(b)).refresh_token;
        if (!fresh) await new Promise((res) => setTimeout(res, 100));
      }
      assert.match(fresh ?? "", /^regauth_rt_/, "replica b hands refresh tokens out again");
      assert.equal((await refresh(a, fresh!)).status, 200, "replica a, which saw the outage too, uses the store again");
      assert.match(b.stdout(), /"event":"refresh_token_not_issued"/);
      assert.ok(!/regauth_rt_[0-9a-f]{16}_/.test(a.stdout() + b.stdout()), "no token in the logs");
    });
  });
}

replicaCases(
  "redis",
  async () => {
    const redis: RunningRedis = await startRedis();
    return { store: `{ redis: { url: "${redis.url}" } }`, outage: () => redis.stop(), back: () => redis.start(), stop: () => redis.destroy() };
  },
  await skipWithoutRedis(),
);

replicaCases(
  "postgres",
  async () => {
    const pg: RunningPostgres = await startPostgres();
    return { store: `{ postgres: { url: "${pg.url}" } }`, outage: () => pg.stop(), back: () => pg.start(), stop: () => pg.destroy() };
  },
  await skipWithoutPostgres(),
);
