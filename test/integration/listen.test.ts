// How the server listens: TLS settings, unix sockets, path_prefix, HSTS.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { RegauthServer } from "../../src/server/server.js";
import { writeKeyPair, type KeyFiles } from "../helpers/regauth.js";

let dir: string;
let keys: KeyFiles;
const silent = createLogger("silent");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-listen-"));
  keys = await writeKeyPair(dir, "k", "ec");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function start(server: string): Promise<RegauthServer> {
  const text = `server:\n${server}\ntoken: {issuer: "i", expiration: 60, certificate: "${keys.cert}", key: "${keys.key}"}\nusers: {"": {}}\nacl: []\n`;
  return RegauthServer.start(await parseConfig("listen.yml", text), silent);
}

function port(s: RegauthServer): number {
  const a = s.address();
  assert.ok(typeof a !== "string");
  return a.port;
}

test("TLS: tls_min_version TLS13 refuses a TLS 1.2 client and serves a TLS 1.3 one; HSTS is sent", async () => {
  const s = await start(`  addr: "127.0.0.1:0"\n  certificate: "${keys.cert}"\n  key: "${keys.key}"\n  tls_min_version: TLS13\n  hsts: true`);
  try {
    const ca = await readFile(keys.cert);
    const old = await new Promise<string>((resolve) => {
      const sock = tlsConnect({ host: "127.0.0.1", port: port(s), ca, maxVersion: "TLSv1.2", servername: "localhost" }, () => resolve("connected"));
      sock.on("error", (e) => resolve(e.message));
    });
    assert.notEqual(old, "connected");
    const res = await new Promise<{ status?: number; hsts?: string; proto: string }>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: port(s), path: "/healthz", ca, servername: "localhost" }, (r) => {
        r.resume();
        resolve({ status: r.statusCode, hsts: r.headers["strict-transport-security"] as string, proto: (r.socket as import("node:tls").TLSSocket).getProtocol() ?? "" });
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(res.status, 200);
    assert.equal(res.proto, "TLSv1.3");
    assert.match(res.hsts ?? "", /max-age=\d+/);
  } finally {
    await s.close();
  }
});

test("TLS: Go cipher suite and curve names are honoured; unknown and weak ones are refused with a reason", async () => {
  const s = await start(`  addr: "127.0.0.1:0"\n  certificate: "${keys.cert}"\n  key: "${keys.key}"\n  tls_cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  tls_curve_preferences: [P384]\n  tls_min_version: TLS12`);
  try {
    const ca = await readFile(keys.cert);
    const info = await new Promise<{ cipher: string; curve?: string }>((resolve, reject) => {
      const sock = tlsConnect({ host: "127.0.0.1", port: port(s), ca, maxVersion: "TLSv1.2", servername: "localhost" }, () => {
        resolve({ cipher: sock.getCipher().name, curve: (sock.getEphemeralKeyInfo() as { name?: string }).name });
        sock.end();
      });
      sock.on("error", reject);
    });
    assert.equal(info.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
    assert.equal(info.curve, "secp384r1");
  } finally {
    await s.close();
  }
  await assert.rejects(start(`  addr: ":0"\n  tls_cipher_suites: [TLS_RSA_WITH_RC4_128_SHA, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265]`), (e: Error) => {
    assert.match(e.message, /RC4 is broken/);
    assert.match(e.message, /did you mean "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"/);
    return true;
  });
  await assert.rejects(start(`  addr: ":0"\n  tls_min_version: SSL30`), /SSL 3\.0/);
});

test("net: unix listens on a socket path, and path_prefix moves every endpoint", async () => {
  const sock = join(dir, "regauth.sock");
  const s = await start(`  addr: "${sock}"\n  net: unix\n  path_prefix: /registry-auth`);
  try {
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ socketPath: sock, path }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal(await get("/registry-auth/healthz"), 200);
    assert.equal(await get("/registry-auth/auth?service=x&scope=repository:a:pull"), 200);
    assert.equal(await get("/auth?service=x"), 404);
  } finally {
    await s.close();
  }
});
