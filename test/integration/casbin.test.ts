// casbin_authz in a running server: the example registry policy decides token grants for
// static users (labels included), reloads pick up a changed policy, and a broken policy at
// reload is refused while the running one keeps answering.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { RegauthServer } from "../../src/server/server.js";
import { BIN, decodeJwt, ROOT, testHash, writeKeyPair } from "../helpers/regauth.js";

let dir: string;
let server: RegauthServer;
let url: string;
let text: string;
const policy = () => join(dir, "policy.csv");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-casbin-it-"));
  const keys = await writeKeyPair(dir, "token", "ec");
  await copyFile(join(ROOT, "examples", "casbin", "model.conf"), join(dir, "model.conf"));
  await copyFile(join(ROOT, "examples", "casbin", "registry-policy.csv"), policy());
  const hash = await testHash("pw");
  text = `
server: {addr: "127.0.0.1:0"}
token: {issuer: "casbin-it", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
users:
  alice: {password: "${hash}", labels: {group: [dev]}}
  bob: {password: "${hash}", labels: {group: [ops]}}
  ci-robot: {password: "${hash}"}
  admin: {password: "${hash}"}
casbin_authz:
  model_path: ${join(dir, "model.conf")}
  policy_path: ${policy()}
`;
  server = await RegauthServer.start(await parseConfig(join(dir, "auth.yml"), text, dir), createLogger("silent"));
  const a = server.address();
  assert.ok(typeof a !== "string");
  url = `http://127.0.0.1:${a.port}`;
});
after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function granted(user: string, scope: string): Promise<string[]> {
  const res = await fetch(`${url}/auth?service=registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:pw`).toString("base64")}` },
  });
  const body = (await res.json()) as { token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  const access = decodeJwt(body.token!).payload.access as { actions: string[] }[];
  return [...(access[0]?.actions ?? [])].sort();
}

describe("casbin_authz with the example registry policy", () => {
  test("a group member (role by g, label by labelMatch) pushes; a member without the label does not", async () => {
    assert.deepEqual(await granted("alice", "repository:team/app:push,pull"), ["pull", "push"]);
    assert.deepEqual(await granted("bob", "repository:team/app:push,pull"), []);
  });

  test("a policy without labels ('') matches any user's; the IP must be in the policy's", async () => {
    assert.deepEqual(await granted("ci-robot", "repository:library/app:push,pull"), ["pull"]);
    assert.deepEqual(await granted("ci-robot", "repository:library/other:pull"), []);
  });

  test("`regauth explain` asks casbin too", async () => {
    const cfg = join(dir, "explain.yml");
    await writeFile(cfg, text);
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "explain", cfg, "--account", "alice", "--ip", "127.0.0.1", "--service", "registry", "repository:team/app:push"]);
    assert.match(stdout, /repository:team\/app:push\n  matched casbin_authz \([^)]*policy.csv\)\n  granted: push\n/);
  });

  test("examples/casbin/regauth-casbin.yml works as its comment says (keygen, then check)", async () => {
    const ex = join(dir, "example");
    await cp(join(ROOT, "examples", "casbin"), ex, { recursive: true });
    const run = promisify(execFile);
    await run(process.execPath, [BIN, "keygen", "--out", "keys"], { cwd: ex });
    const { stdout } = await run(process.execPath, [BIN, "check", "regauth-casbin.yml"], { cwd: ex });
    assert.match(stdout, /regauth-casbin.yml: OK — 2 static users, 0 ACL entries/);
  });

  test("the model's admin rule grants everything", async () => {
    assert.deepEqual(await granted("admin", "repository:any/thing:push,pull,delete"), ["delete", "pull", "push"]);
  });

  test("a changed policy is used after a reload; a broken one is refused at reload and the running one stays", async () => {
    await writeFile(policy(), `${await readFile(policy(), "utf8")}p, ci-robot, repository, library/other, registry, 127.0.0.1, pull, ""\n`);
    await server.reload(await parseConfig(join(dir, "auth.yml"), text, dir));
    assert.deepEqual(await granted("ci-robot", "repository:library/other:pull"), ["pull"]);

    await writeFile(policy(), 'p, ci-robot, repository, library/app, registry, 127.0.0.1, pull, "{broken"\n');
    await assert.rejects(
      parseConfig(join(dir, "auth.yml"), text, dir),
      (e: Error) => e instanceof ConfigError && e.issues.some((i) => i.key === "casbin_authz.policy_path" && /not a JSON object of lists/.test(i.message)),
    );
    assert.deepEqual(await granted("ci-robot", "repository:library/other:pull"), ["pull"]);
  });
});
