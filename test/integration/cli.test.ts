// The regauth command line, run as a real process: check, hash, keygen, explain, serve's default.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { BIN, testHash, writeKeyPair } from "../helpers/regauth.js";

const run = promisify(execFile);
let dir: string;

async function regauth(args: string[], opts: { input?: string; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(opts.input ?? "");
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-cli-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("hash makes a $2y$ hash that Apache htpasswd verifies", async () => {
  const r = await regauth(["hash", "--cost", "5"], { input: "correct horse\n" });
  assert.equal(r.code, 0, r.stderr);
  const hash = r.stdout.trim();
  assert.match(hash, /^\$2y\$05\$[./A-Za-z0-9]{53}$/);
  const file = join(dir, "htpasswd");
  await writeFile(file, `u:${hash}\n`);
  await run("htpasswd", ["-vb", file, "u", "correct horse"]);
  await assert.rejects(run("htpasswd", ["-vb", file, "u", "wrong"]));
  const bad = await regauth(["hash", "--cost", "3"], { input: "x" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--cost/);
});

test("keygen writes a key (0600), a certificate and a JWKS, and prints the registry block; it refuses to overwrite", async () => {
  const out = join(dir, "keys");
  const r = await regauth(["keygen", "--type", "rsa", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await stat(join(out, "token.key"))).mode & 0o777, 0o600);
  const cert = new X509Certificate(await readFile(join(out, "token.crt")));
  assert.equal(cert.publicKey.asymmetricKeyType, "rsa");
  const jwks = JSON.parse(await readFile(join(out, "jwks.json"), "utf8"));
  assert.equal(jwks.keys[0].alg, "RS256");
  assert.match(r.stdout, new RegExp(`rootcertbundle: ${join(out, "token.crt")}`));
  assert.match(r.stdout, new RegExp(`kid: ${jwks.keys[0].kid}`));
  const again = await regauth(["keygen", "--out", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /--force/);
  const ec = await regauth(["keygen", "--out", out, "--force"]);
  assert.equal(ec.code, 0);
  assert.equal(JSON.parse(await readFile(join(out, "jwks.json"), "utf8")).keys[0].alg, "ES256");
});

test("check accepts a good config, and lists every problem of a bad one with file, line and key", async () => {
  const keys = await writeKeyPair(dir, "check", "ec");
  const htpasswdHash = (await run("htpasswd", ["-nbB", "-C", "5", "bob", "pw"])).stdout.trim().split(":")[1]!;
  const good = join(dir, "good.yml");
  await writeFile(
    good,
    `server: {addr: ":5001"}\ntoken: {issuer: "x", expiration: 900, certificate: "${keys.cert}", key: "${keys.key}"}\nusers:\n  bob: {password: "${htpasswdHash}"}\nacl:\n  - match: {account: bob}\n    actions: ["*"]\n`,
  );
  const ok = await regauth(["check", good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /OK — 1 static users, 1 ACL entries, tokens signed with ES256/);

  const bad = join(dir, "bad.yml");
  await writeFile(
    bad,
    [
      `server: {addr: ":5001"}`,
      `token:`,
      `  issuer: "x"`,
      `  expiraton: 900`,
      `  certificate: "${keys.cert}"`,
      `  key: "${keys.key}"`,
      `users:`,
      `  bob: {password: "plaintext"}`,
      `google_auth: {domain: "example.com"}`,
      `acl:`,
      `  - match: {account: "/(unclosed/"}`,
      `    actions: ["*"]`,
    ].join("\n"),
  );
  const r = await regauth(["check", bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${bad}:4:3: token.expiraton: unknown key "expiraton"; did you mean "expiration"\\?`));
  const again = await writeFile(bad, (await readFile(bad, "utf8")).replace("expiraton", "expiration"));
  void again;
  const r2 = await regauth(["check", bad]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, new RegExp(`${bad}:8:\\d+: users.bob.password: must be a bcrypt hash`));
  assert.match(r2.stderr, new RegExp(`${bad}:9:\\d+: google_auth.client_id: is required`));
  await writeFile(bad, (await readFile(bad, "utf8")).replace(`"plaintext"`, `"${htpasswdHash}"`).replace(/google_auth.*\n/, ""));
  const r3 = await regauth(["check", bad]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, new RegExp(`${bad}:10:13: acl\\[0\\]\\.match\\.account: invalid pattern "/\\(unclosed/": unterminated group`));
});

test("explain names the entry (index, line, comment) that decides each scope, and what it grants", async () => {
  const keys = await writeKeyPair(dir, "explain", "ec");
  const cfg = join(dir, "explain.yml");
  await writeFile(
    cfg,
    [
      `server: {addr: ":5001"}`,
      `token: {issuer: "x", expiration: 900, certificate: "${keys.cert}", key: "${keys.key}"}`,
      `users:`,
      `  alice: {password: "${await testHash("pw")}", labels: {group: [dev]}}`,
      `acl:`,
      `  - match: {account: "admin"}`,
      `    actions: ["*"]`,
      `    comment: "admins"`,
      `  - match: {name: "\${labels:group}/*"}`,
      `    actions: ["pull", "push"]`,
      `    comment: "groups own their namespace"`,
      `  - match: {ip: "10.0.0.0/8", name: "shared/*"}`,
      `    actions: ["pull"]`,
    ].join("\n"),
  );
  const r = await regauth(["explain", cfg, "--account", "alice", "repository:dev/app:pull,push,delete", "repository:ops/app:pull"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`repository:dev/app:delete,pull,push\\n  matched acl\\[1\\] at ${cfg}:9 \\(groups own their namespace\\)\\n  granted: pull,push`));
  assert.match(r.stdout, /repository:ops\/app:pull\n  no ACL entry matched: denied/);
  const withIp = await regauth(["explain", cfg, "--account", "bob", "--ip", "10.1.2.3", "--label", "group=ops", "repository:shared/x:pull", "repository:ops/y:push"]);
  assert.match(withIp.stdout, /repository:shared\/x:pull\n  matched acl\[2\]/);
  assert.match(withIp.stdout, /repository:ops\/y:push\n  matched acl\[1\]/);
});

test("serve with no config runs the embedded default, prints the registry block, and reuses its key", async () => {
  const home = join(dir, "home");
  await import("node:fs/promises").then((fs) => fs.mkdir(home));
  const start = async () => {
    const p = spawn(process.execPath, [BIN, "serve"], { cwd: home, env: { ...process.env, REGAUTH_DATA_DIR: join(home, "data") } });
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    const deadline = Date.now() + 15_000;
    while (!err.includes("Embedded default config") && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 25));
    p.kill("SIGTERM");
    await new Promise((r) => p.once("close", r));
    return err;
  };
  const first = await start();
  assert.match(first, /realm: http:\/\/127\.0\.0\.1:5001\/auth/);
  assert.match(first, new RegExp(`rootcertbundle: ${join(home, "data", "token.crt")}`));
  const password = (await readFile(join(home, "data", "admin-password"), "utf8")).trim();
  assert.ok(!first.includes(password), "the admin password is not printed");
  const cert1 = await readFile(join(home, "data", "token.crt"), "utf8");
  await start();
  assert.equal(await readFile(join(home, "data", "token.crt"), "utf8"), cert1, "the key is reused");
});

test("serve reloads its config on SIGHUP; a broken file is refused and the old config keeps serving", async () => {
  const { startRegauth } = await import("../helpers/regauth.js");
  const keys = await writeKeyPair(dir, "reload", "ec");
  const head = `server: {addr: "127.0.0.1:{{PORT}}"}\ntoken: {issuer: "r", expiration: 60, certificate: "${keys.cert}", key: "${keys.key}"}\nusers: {"": {}}\nacl:\n  - match: {name: "one/*"}\n    actions: ["pull"]\n`;
  const s = await startRegauth(head);
  try {
    const actions = async (repo: string) => {
      const r = await fetch(`${s.url}/auth?service=x&scope=repository:${repo}:pull`);
      assert.equal(r.status, 200);
      const t = ((await r.json()) as { token: string }).token;
      return JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()).access[0].actions as string[];
    };
    assert.deepEqual(await actions("two/app"), []);
    const current = await readFile(s.configPath, "utf8");
    await writeFile(s.configPath, current.replace("acl:", "acl:\n  - match: {name: \"two/*\"}\n    actions: [\"pull\"]"));
    s.proc.kill("SIGHUP");
    const until = async (cond: () => Promise<boolean> | boolean) => {
      const deadline = Date.now() + 10_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out; stdout:\n${s.stdout()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => s.stdout().includes("config reloaded"));
    assert.deepEqual(await actions("two/app"), ["pull"]);
    await writeFile(s.configPath, (await readFile(s.configPath, "utf8")).replace("issuer:", "issuerr:"));
    s.proc.kill("SIGHUP");
    await until(() => s.stdout().includes("config reload failed"));
    assert.match(s.stdout(), /unknown key \\"issuerr\\"; did you mean \\"issuer\\"/);
    assert.deepEqual(await actions("two/app"), ["pull"], "the running config still serves");
  } finally {
    await s.stop();
  }
});

test("docker_auth's command line (glog flags, then the config path) runs serve, so images can swap binaries", async () => {
  const keys = await writeKeyPair(dir, "dockerauth", "ec");
  const { freePort } = await import("../helpers/ports.js");
  const port = await freePort();
  const cfg = join(dir, "auth_config.yml");
  await writeFile(cfg, `server: {addr: "127.0.0.1:${port}"}\ntoken: {issuer: "d", expiration: 60, certificate: "${keys.cert}", key: "${keys.key}"}\nusers: {"": {}}\nacl: []\n`);
  const p = spawn(process.execPath, [BIN, "-logtostderr", "-v=2", cfg], { cwd: dir });
  let err = "";
  p.stderr.on("data", (d) => (err += d));
  const deadline = Date.now() + 15_000;
  while (!err.includes("regauth is serving") && p.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  try {
    assert.match(err, /ignoring docker_auth's glog flags/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => p.once("close", r));
  }
});

test("keygen --keep leaves existing keys alone (for a compose one-shot service)", async () => {
  const out = join(dir, "keep");
  assert.equal((await regauth(["keygen", "--out", out, "--keep"])).code, 0);
  const before = await readFile(join(out, "token.key"), "utf8");
  const again = await regauth(["keygen", "--out", out, "--keep"]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /keeping them/);
  assert.equal(await readFile(join(out, "token.key"), "utf8"), before);
});
