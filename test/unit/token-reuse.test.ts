// One token for identical grants within the same second: shared only when every claim but
// jti would be the same, bounded in memory whatever clients ask for.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BATCH_LIMIT, REUSE_LIMIT, TokenSigner, type TokenClaims } from "../../src/token/sign.js";
import { loadSigningKey } from "../../src/token/signing-key.js";
import { decodeJwt, writeKeyPair } from "../helpers/regauth.js";

let dir: string;
let signer: TokenSigner;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-reuse-"));
  const k = await writeKeyPair(dir, "r", "ec");
  signer = new TokenSigner(await loadSigningKey(k.cert, k.key, false));
});
after(() => rm(dir, { recursive: true, force: true }));

const claims = (o: Partial<TokenClaims> = {}): TokenClaims => ({
  issuer: "iss",
  subject: "alice",
  audience: "registry",
  lifetimeSeconds: 300,
  access: [{ type: "repository", name: "a/b", actions: ["push", "pull"] }],
  ...o,
});
const T = 1_800_000_000_000;

describe("token reuse", async () => {
  test("identical claims within one second get the same token; the payload is what it was", async () => {
    const a = await signer.sign(claims(), T + 10);
    const b = await signer.sign(claims(), T + 990);
    assert.equal(b.token, a.token);
    const p = decodeJwt(a.token).payload;
    assert.deepEqual(Object.keys(p), ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"]);
    assert.deepEqual(p.access, [{ type: "repository", name: "a/b", actions: ["pull", "push"] }]);
    assert.equal(p.iat, T / 1000);
    assert.equal(p.exp, T / 1000 + 300);
  });

  test("a new second, or any other claim, gets its own token", async () => {
    const base = await signer.sign(claims(), T);
    const others = [
      await signer.sign(claims(), T + 1000),
      await signer.sign(claims({ subject: "bob" }), T),
      await signer.sign(claims({ audience: "other" }), T),
      await signer.sign(claims({ issuer: "iss2" }), T),
      await signer.sign(claims({ lifetimeSeconds: 301 }), T),
      await signer.sign(claims({ access: [{ type: "repository", name: "a/b", actions: ["pull"] }] }), T),
      await signer.sign(claims({ access: [{ type: "repository", name: "a/c", actions: ["push", "pull"] }] }), T),
      await signer.sign(claims({ access: [{ type: "repository", class: "plugin", name: "a/b", actions: ["push", "pull"] }] }), T),
    ];
    const tokens = new Set([base.token, ...others.map((o) => o.token)]);
    assert.equal(tokens.size, others.length + 1);
    const jtis = new Set([base, ...others].map((t) => decodeJwt(t.token).payload.jti));
    assert.equal(jtis.size, others.length + 1);
  });

  test("no more than REUSE_LIMIT tokens are kept, however many distinct grants arrive in a second", async () => {
    const t = T + 5000;
    for (let i = 0; i < REUSE_LIMIT * 3; i++) await signer.sign(claims({ subject: `u${i}` }), t);
    assert.equal(signer.reusable, REUSE_LIMIT);
    // Past the limit a grant is still signed correctly, just not kept.
    const late = await signer.sign(claims({ subject: "late" }), t);
    assert.equal(decodeJwt(late.token).payload.sub, "late");
    assert.notEqual((await signer.sign(claims({ subject: "late" }), t)).token, late.token);
    await signer.sign(claims(), t + 1000);
    assert.equal(signer.reusable, 1, "the next second starts empty");
  });

  test("every signed token has its own 128-bit jti, across refills of the random pool", async () => {
    const t = T + 9000;
    const jtis = new Set<string>();
    for (let i = 0; i < 700; i++) {
      const jti = decodeJwt((await signer.sign(claims({ subject: `j${i}` }), t)).token).payload.jti as string;
      assert.equal(Buffer.from(jti, "base64url").length, 16);
      jtis.add(jti);
    }
    assert.equal(jtis.size, 700);
  });

  test("grants that arrive together are signed together: identical ones share one signature, each other one gets its own", async () => {
    const t = T + 20_000;
    // More than one batch's worth at once, with every second grant asked twice.
    const n = BATCH_LIMIT * 3;
    const asked = Array.from({ length: n }, (_, i) => signer.sign(claims({ subject: `b${Math.floor(i / 2)}` }), t));
    assert.ok(asked.every((a) => a instanceof Promise), "new grants wait for their batch");
    const tokens = await Promise.all(asked);
    for (let i = 0; i < n; i += 2) {
      assert.equal(tokens[i]!.token, tokens[i + 1]!.token, "an identical grant shares the signature being made");
      assert.equal(decodeJwt(tokens[i]!.token).payload.sub, `b${i / 2}`);
    }
    assert.equal(new Set(tokens.map((x) => x.token)).size, n / 2);
    // Once signed, the same grant is the token itself, with no wait.
    const again = signer.sign(claims({ subject: "b0" }), t + 500);
    assert.ok(!(again instanceof Promise));
    assert.equal(again.token, tokens[0]!.token);
  });

  test("a batch leaves the event loop between its parts: I/O is not held up behind hundreds of signatures", async () => {
    const t = T + 30_000;
    const order: string[] = [];
    const all = Promise.all(Array.from({ length: BATCH_LIMIT * 2 }, (_, i) => Promise.resolve(signer.sign(claims({ subject: `io${i}` }), t)).then(() => order.push("signed"))));
    // Whatever else was queued for this turn (here a callback in the same queue) runs between the first BATCH_LIMIT signatures and the rest.
    setImmediate(() => order.push("timer"));
    await all;
    const at = order.indexOf("timer");
    assert.equal(at, BATCH_LIMIT, `the other callback ran after ${at} of ${order.length - 1} signatures`);
  });
});
