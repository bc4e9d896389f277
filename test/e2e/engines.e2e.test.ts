// End-to-end with real engines: Debian's docker CLI and dockerd (docker login keeps an identity
// token, not the password; push and pull then use the refresh grant; a revocation stops them),
// and containerd's ctr (which asks with the OAuth2 POST password form first), each through the
// real registry. Needs `apt-get install docker.io docker-registry` and root.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { enginesMissing, startContainerd, startDocker, type RunningContainerd, type RunningDocker } from "../helpers/engines.js";
import { BIN, startRegauth, testHash, writeKeyPair, type RunningRegauth } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";

const run = promisify(execFile);
const SERVICE = "engines.registry";
const PASSWORD = "dev-Passw0rd!";
const VIEWER_PASSWORD = "viewer-Passw0rd!";
const missing = await enginesMissing();

describe("docker CLI and ctr through regauth and the real registry", { skip: missing }, () => {
  let dir: string;
  let regauth: RunningRegauth;
  let registry: RunningRegistry;
  let docker: RunningDocker;
  let containerd: RunningContainerd;
  let image: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-engines-"));
    const keys = await writeKeyPair(dir, "token", "ec");
    regauth = await startRegauth(
      `
server: { addr: "127.0.0.1:{{PORT}}", workers: 2 }
token: { issuer: "engines", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}" }
users:
  "dev": { password: "${await testHash(PASSWORD)}" }
  "viewer": { password: "${await testHash(VIEWER_PASSWORD)}" }
acl:
  - match: { account: dev }
    actions: ["*"]
  - match: { account: viewer, name: "dev/*" }
    actions: ["pull"]
`,
      { dir },
    );
    registry = await startRegistry({ realm: `${regauth.url}/auth`, service: SERVICE, issuer: "engines", rootCertBundle: keys.cert });
    [docker, containerd] = await Promise.all([startDocker(), startContainerd()]);
    // An image without pulling anything: a one-file root filesystem, imported.
    const rootfs = join(dir, "rootfs");
    await mkdir(rootfs);
    await writeFile(join(rootfs, "hello.txt"), "hello from regauth's e2e test\n");
    await run("tar", ["-C", rootfs, "-cf", join(dir, "rootfs.tar"), "."]);
    image = `${registry.url}/dev/hello:v1`;
    const imported = await docker.docker(["import", join(dir, "rootfs.tar"), image]);
    assert.equal(imported.code, 0, imported.stderr);
  });
  after(async () => {
    await Promise.allSettled([docker?.stop(), containerd?.stop()]);
    await registry?.stop();
    await regauth?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const tokenLines = (grant: string) => regauth.stdout().split("\n").filter((l) => l.includes(`"grant":"${grant}"`));
  /** The request log is written asynchronously: wait (a bounded while) for what must be in it. */
  const logged = async (ok: () => boolean) => {
    for (let i = 0; i < 250 && !ok(); i++) await new Promise((res) => setTimeout(res, 20));
  };

  test("docker login keeps an identity token and no password; push and pull use the refresh grant; after revoke, pulls fail", async () => {
    const login = await docker.docker(["login", "-u", "dev", "--password-stdin", registry.url], PASSWORD);
    assert.equal(login.code, 0, login.stderr);
    const config = JSON.parse(await readFile(join(docker.configDir, "config.json"), "utf8")) as { auths: Record<string, { auth?: string; identitytoken?: string }> };
    const entry = config.auths[registry.url]!;
    assert.match(entry.identitytoken ?? "", /^regauth_rt_[0-9a-f]{16}_/);
    const text = JSON.stringify(config);
    assert.ok(!text.includes(PASSWORD) && !text.includes(Buffer.from(`dev:${PASSWORD}`).toString("base64")), "no password in config.json");

    const push = await docker.docker(["push", image]);
    assert.equal(push.code, 0, push.stderr + push.stdout);
    assert.equal((await docker.docker(["rmi", image])).code, 0);
    const pull = await docker.docker(["pull", image]);
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    const pushed = (l: string) => /"account":"dev"/.test(l) && /"client_id":"docker"/.test(l) && /"outcome":"issued"/.test(l) && /push/.test(l);
    await logged(() => tokenLines("refresh_token").some(pushed));
    const refreshes = tokenLines("refresh_token");
    assert.ok(refreshes.some(pushed), refreshes.join("\n"));

    const revoke = await run(process.execPath, [BIN, "tokens", "revoke", regauth.configPath, "--account", "dev"], { cwd: regauth.dir });
    assert.match(revoke.stdout, /revoked 1 refresh token/);
    assert.equal((await docker.docker(["rmi", image])).code, 0);
    const denied = await docker.docker(["pull", image]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /refresh token is not valid/, denied.stderr);
  });

  test("the seed's flow: a wrong password is refused at docker login; a pull-only user pulls but its push is denied; logout forgets the login", async () => {
    const wrong = await docker.docker(["login", "-u", "viewer", "--password-stdin", registry.url], "not-the-password");
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unauthorized|invalid username or password/i, wrong.stderr);
    const login = await docker.docker(["login", "-u", "viewer", "--password-stdin", registry.url], VIEWER_PASSWORD);
    assert.equal(login.code, 0, login.stderr);
    // dev pushed dev/hello in the first test; the viewer pulls it.
    await docker.docker(["rmi", image]);
    const pull = await docker.docker(["pull", image]);
    assert.equal(pull.code, 0, pull.stderr);
    const tagged = `${registry.url}/dev/viewer-copy:v1`;
    assert.equal((await docker.docker(["tag", image, tagged])).code, 0);
    const push = await docker.docker(["push", tagged]);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|unauthorized|insufficient_scope|authentication required/i, push.stderr);
    const logout = await docker.docker(["logout", registry.url]);
    assert.equal(logout.code, 0, logout.stderr);
    const config = JSON.parse(await readFile(join(docker.configDir, "config.json"), "utf8")) as { auths?: Record<string, unknown> };
    assert.equal(config.auths?.[registry.url], undefined, "no credentials left for the registry");
    await docker.docker(["rmi", image]);
    const anonymous = await docker.docker(["pull", image]);
    assert.notEqual(anonymous.code, 0);
  });

  test("ctr pulls with a user and password: the OAuth2 POST password grant answers it", async () => {
    const before = tokenLines("password").filter((l) => l.includes('"method":"POST"')).length;
    const pull = await containerd.ctr(["images", "pull", "--plain-http", "--user", `dev:${PASSWORD}`, image]);
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    const list = await containerd.ctr(["images", "ls", "-q"]);
    assert.ok(list.stdout.split("\n").includes(image), list.stdout);
    const postLines = () => tokenLines("password").filter((l) => l.includes('"method":"POST"'));
    await logged(() => postLines().length > before);
    const posts = postLines();
    assert.ok(posts.length > before, "ctr used POST");
    assert.ok(posts.some((l) => /"account":"dev"/.test(l) && /"outcome":"issued"/.test(l)), posts.join("\n"));
    const wrong = await containerd.ctr(["images", "pull", "--plain-http", "--user", "dev:wrong", `${registry.url}/dev/hello:v1`]);
    assert.notEqual(wrong.code, 0);
  });
});
