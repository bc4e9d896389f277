// The container image, for real: `docker build` of the project's own Dockerfile (unchanged) on
// Debian's dockerd, then the image run as a user runs it.
//
// Nothing can be pulled here, so the Dockerfile's FROM image `node:20-bookworm-slim` is a local
// stand-in under that name (test/helpers/debian-base.ts): Debian bookworm from
// `debootstrap --variant=minbase bookworm` off the Debian mirror apt uses on this machine,
// trimmed as the slim images are, plus this machine's Node 20 and its npm where the official
// image puts them (/usr/local/bin/node, /usr/local/lib/node_modules/npm, /usr/local/include/node)
// and the `node` user, uid/gid 1000. The build runs with `--network host`, so that its RUN steps
// (`apt-get install python3 make g++`, `npm ci`) reach Debian's mirror and the npm registry as
// this machine does; the engine itself has no bridge and touches no iptables rules.
//
// Needs root and `apt-get install docker.io debootstrap docker-registry`; the debootstrapped root
// file system is cached in /var/tmp between runs on one machine and made from nothing otherwise.
import assert from "node:assert/strict";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { importX509, jwtVerify, decodeProtectedHeader } from "jose";
import { buildNodeBase, debianBaseMissing, dockerBuild, importDebianBase, runCommand } from "../helpers/debian-base.js";
import { enginesMissing, startDocker, type RunningDocker } from "../helpers/engines.js";
import { createTar } from "../helpers/oci-image.js";
import { freePort } from "../helpers/ports.js";
import { ROOT, testHash, writeKeyPair } from "../helpers/regauth.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { SEMI_SPACE_FLAG } from "../../src/runtime/node-flags.js";

const IMAGE = "regauth:e2e";
const NETWORK = "regauth-image-e2e";
// A fixed subnet at the far end of docker's default pools: the compose test's engine, which may
// run at the same time, picks its networks' subnets from the start of those pools and skips
// any that a route on this host (this network's bridge) already covers.
const SUBNET = "172.31.250.0/24";
const ISSUER = "regauth image e2e";
const SERVICE = "image.registry";
const PASSWORD = "image-Passw0rd!";

const missing = (await enginesMissing()) ?? (await debianBaseMissing());

describe("the container image built from the project's Dockerfile", { skip: missing, timeout: 900_000 }, () => {
  let work: string;
  let engine: RunningDocker;
  let registry: RunningRegistry | undefined;
  const containers: string[] = [];
  const timings: string[] = [];

  const docker = async (args: string[], input?: string) => {
    const r = await engine.docker(args, input);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}${r.stdout.slice(-2000)}`);
    return r.stdout.trim();
  };
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const v = await f();
    timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return v;
  };

  /** A config directory as a user mounts it at /config (files readable by the image's `node` user). */
  const configDir = async (name: string, config: string, files: Record<string, string> = {}) => {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "auth_config.yml"), config);
    for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
    for (const f of ["auth_config.yml", ...Object.keys(files)]) {
      await chown(join(dir, f), 1000, 1000);
      await chmod(join(dir, f), 0o600);
    }
    return dir;
  };

  /** `docker run -d` on the test's own bridge network, the container's 5001 published on a free loopback port. */
  const runServer = async (name: string, dir: string, args: string[] = []) => {
    const port = await freePort();
    const id = await docker(["run", "-d", "--name", name, "--network", NETWORK, "--read-only", "--health-interval", "1s", "--health-retries", "30", "-p", `127.0.0.1:${port}:5001`, "-v", `${dir}:/config:ro`, IMAGE, ...args]);
    containers.push(id);
    return { id, port };
  };

  const healthy = async (id: string) => {
    const deadline = Date.now() + 60_000;
    let state = "";
    while (Date.now() < deadline) {
      state = await docker(["inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", id]);
      if (state === "running healthy" || !state.startsWith("running")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const logs = await engine.docker(["logs", id]);
    assert.equal(state, "running healthy", `container health: ${state}\n${logs.stdout}${logs.stderr}`);
  };

  let cert: string;
  let tokenKey: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "regauth-image-e2e-"));
    await chmod(work, 0o755);
    engine = await timed("engine start", () => startDocker({ storageDriver: "overlay2" }));
    await timed("debian:bookworm-slim stand-in (debootstrap or cache, import)", () => importDebianBase(engine));
    await timed("node:20-bookworm-slim stand-in", () => buildNodeBase(engine, work));
    await timed("docker build of the Dockerfile", () => dockerBuild(engine, ROOT, IMAGE));
    await docker(["network", "create", "--subnet", SUBNET, NETWORK]);
    const keys = await writeKeyPair(work, "token", "ec");
    cert = await readFile(keys.cert, "utf8");
    tokenKey = await readFile(keys.key, "utf8");
  });

  after(async () => {
    try {
      if (engine) {
        for (const id of containers) await engine.docker(["rm", "-f", "-v", id]);
        await engine.docker(["network", "rm", NETWORK]);
        await engine.stop();
      }
    } finally {
      await registry?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    }
  });

  test("the image holds the compiled server and its production dependencies only, and says how it runs", async (t) => {
    const info = JSON.parse(await docker(["image", "inspect", IMAGE]))[0] as {
      Size: number;
      Config: { User: string; Entrypoint: string[]; Cmd: string[]; Healthcheck: { Test: string[] }; ExposedPorts: Record<string, unknown>; Volumes: Record<string, unknown>; Env: string[] };
    };
    const base = JSON.parse(await docker(["image", "inspect", "node:20-bookworm-slim"]))[0] as { Size: number };
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    t.diagnostic(`image ${IMAGE}: ${mib(info.Size)} (${info.Size} bytes); its base node:20-bookworm-slim stand-in: ${mib(base.Size)}; regauth adds ${mib(info.Size - base.Size)}`);
    for (const line of timings) t.diagnostic(line);
    assert.equal(info.Config.User, "node");
    assert.deepEqual(info.Config.Entrypoint, ["node", SEMI_SPACE_FLAG, "/app/bin/regauth"]);
    assert.deepEqual(info.Config.Cmd, ["serve", "/config/auth_config.yml"]);
    assert.deepEqual(info.Config.Healthcheck.Test, ["CMD", "node", "/app/bin/healthcheck"]);
    assert.ok("5001/tcp" in info.Config.ExposedPorts);
    assert.ok("/data" in info.Config.Volumes);
    assert.ok(info.Config.Env.includes("NODE_ENV=production"));

    // Every path in the image's file system, from `docker export` of a container made from it.
    const id = await docker(["create", IMAGE]);
    containers.push(id);
    const listing = await runCommand("sh", ["-c", `"$DOCKER" export "$ID" | tar -t`], { env: { ...engine.env, DOCKER: "/usr/bin/docker", ID: id } });
    assert.equal(listing.code, 0, listing.stderr);
    const paths = listing.stdout.split("\n").map((p) => p.replace(/^\.?\//, "").replace(/\/$/, "")).filter(Boolean);
    const app = paths.filter((p) => p.startsWith("app/"));
    assert.deepEqual([...new Set(app.map((p) => p.split("/")[1]))].sort(), ["bin", "dist", "node_modules", "package.json", "schema"]);
    assert.deepEqual([...new Set(app.filter((p) => p.startsWith("app/dist/")).map((p) => p.split("/")[2]))], ["src"], "no compiled tests or benchmarks");
    assert.ok(app.includes("app/dist/src/cli/main.js"));
    assert.ok(app.some((p) => p.startsWith("app/schema/")), "the SQL schema files");
    const ts = paths.filter((p) => /\.(ts|mts|cts)$/.test(p) && !/\.d\.[mc]?ts$/.test(p) && !p.includes("/node_modules/"));
    assert.deepEqual(ts, [], "no TypeScript sources outside node_modules");
    assert.ok(!paths.some((p) => p.startsWith("app/src") || p.startsWith("app/test") || p.startsWith("app/bench") || p.startsWith("src/")), "no sources, tests or benchmarks");
    assert.ok(!paths.some((p) => /^app\/tsconfig/.test(p)), "no tsconfig");
    const modules = new Set(
      app.filter((p) => p.startsWith("app/node_modules/")).map((p) => {
        const parts = p.split("/");
        return parts[2]!.startsWith("@") ? `${parts[2]}/${parts[3] ?? ""}` : parts[2]!;
      }),
    );
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!modules.has(dev), `${dev} (a devDependency) is not in the image`);
    assert.ok(![...modules].some((m) => m.startsWith("@types/")), "no @types packages");
    assert.ok(!modules.has("typescript"), "no typescript");
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(modules.has(dep), `${dep} is in the image`);
    // The native modules were built (better-sqlite3) or shipped (bcrypt) for this image's Node.
    assert.ok(app.some((p) => /^app\/node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node$/.test(p)), "better-sqlite3's binding was compiled in the build stage");
    // Compilers stayed in the build stage.
    for (const tool of ["usr/bin/g++", "usr/bin/make", "usr/bin/python3"]) assert.ok(!paths.includes(tool), `${tool} is not in the final image`);
  });

  test("it serves a mounted docker_auth config as non-root on a read-only root file system; healthy over http; its token verifies and the registry accepts it; docker stop ends it in seconds", async (t) => {
    const regauthPort = await freePort();
    registry = await startRegistry({ realm: `http://127.0.0.1:${regauthPort}/auth`, service: SERVICE, issuer: ISSUER, rootCertBundle: join(work, "token.crt") });
    const dir = await configDir(
      "http",
      `# docker_auth's format: the same file cesanta/docker_auth reads.
server:
  addr: ":5001"
token:
  issuer: "${ISSUER}"
  expiration: 900
  certificate: "/config/token.crt"
  key: "/config/token.key"
users:
  "ci": {password: "${await testHash(PASSWORD)}"}
acl:
  - match: {account: "ci"}
    actions: ["*"]
`,
      { "token.crt": cert, "token.key": tokenKey },
    );
    const id = await docker(["run", "-d", "--name", "regauth-http", "--network", NETWORK, "--read-only", "--health-interval", "1s", "--health-retries", "30", "-p", `127.0.0.1:${regauthPort}:5001`, "-v", `${dir}:/config:ro`, IMAGE]);
    containers.push(id);
    await healthy(id);

    // Not root: the server process (PID 1) runs as the image's node user; the root file system is read-only.
    const status = await docker(["exec", id, "cat", "/proc/1/status"]);
    assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, status);
    assert.match(status, /^Gid:\s+1000\s/m);
    const write = await engine.docker(["exec", id, "sh", "-c", "echo x > /app/x"]);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    // The image's own HEALTHCHECK command, as docker runs it.
    assert.equal((await engine.docker(["exec", id, "node", "/app/bin/healthcheck"])).code, 0);

    // A token from the container's /auth, checked with the mounted certificate.
    const basic = Buffer.from(`ci:${PASSWORD}`).toString("base64");
    const res = await fetch(`http://127.0.0.1:${regauthPort}/auth?service=${SERVICE}&scope=repository:ci/app:pull,push`, { headers: { authorization: `Basic ${basic}` } });
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    const header = decodeProtectedHeader(token);
    const key = await importX509(cert, header.alg!);
    const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: SERVICE });
    assert.equal(payload.sub, "ci");
    assert.deepEqual(payload["access"], [{ type: "repository", name: "ci/app", actions: ["pull", "push"] }]);

    // The real registry trusts the same certificate: docker login, push and pull through it.
    const tarFile = join(work, "hello.tar");
    await writeFile(tarFile, createTar({ "hello.txt": "hello from the image e2e test\n" }));
    const ref = `${registry.url}/ci/app:v1`;
    await docker(["import", tarFile, ref]);
    await docker(["login", "-u", "ci", "--password-stdin", registry.url], PASSWORD);
    await docker(["push", ref]);
    await docker(["rmi", ref]);
    await docker(["pull", ref]);
    // The refresh token docker login keeps lives in the embedded SQLite store, on the /data volume.
    const data = await docker(["exec", id, "ls", "/data"]);
    assert.match(data, /regauth\.db/);

    // SIGTERM: the server drains and exits well within docker's 10 s grace period.
    const t0 = Date.now();
    await docker(["stop", "--time", "30", id]);
    const stopSeconds = (Date.now() - t0) / 1000;
    t.diagnostic(`docker stop took ${stopSeconds.toFixed(2)} s`);
    assert.ok(stopSeconds < 10, `stopped in ${stopSeconds} s`);
    const exit = await docker(["inspect", "--format", "{{.State.ExitCode}}", id]);
    assert.equal(exit, "0", "a clean exit on SIGTERM, not a kill");
    const logs = await engine.docker(["logs", id]);
    assert.match(logs.stdout + logs.stderr, /"signal":"SIGTERM"/);
  });

  test("with TLS it is healthy over https too, and accepts docker_auth's arguments (glog flags, then just the config path)", async () => {
    const tls = await writeKeyPair(work, "tls", "ec", ["localhost", "127.0.0.1"]);
    const dir = await configDir(
      "https",
      `server:
  addr: ":5001"
  certificate: "/config/tls.crt"
  key: "/config/tls.key"
token:
  issuer: "${ISSUER}"
  expiration: 900
  certificate: "/config/token.crt"
  key: "/config/token.key"
users: {"": {}}
acl:
  - match: {account: ""}
    actions: ["pull"]
`,
      { "token.crt": cert, "token.key": tokenKey, "tls.crt": await readFile(tls.cert, "utf8"), "tls.key": await readFile(tls.key, "utf8") },
    );
    // cesanta/docker_auth's own image runs `auth_server --v=2 --alsologtostderr /config/auth_config.yml`.
    const { id, port } = await runServer("regauth-https", dir, ["--v=2", "--alsologtostderr", "/config/auth_config.yml"]);
    await healthy(id);
    const probe = await runCommand(process.execPath, ["-e", `require("https").get("https://localhost:${port}/healthz", {ca: require("fs").readFileSync(${JSON.stringify(tls.cert)})}, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", (e) => { console.error(e.message); process.exit(2); })`]);
    assert.equal(probe.code, 0, `https /healthz from the host: ${probe.stderr}`);
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => "refused");
    assert.notEqual(plain, 200, "it serves https only");
    const health = JSON.parse(await docker(["inspect", "--format", "{{json .State.Health}}", id])) as { Log: { ExitCode: number }[] };
    assert.ok(health.Log.some((l) => l.ExitCode === 0), "docker's own health probe passed over https");
    const t0 = Date.now();
    await docker(["stop", id]);
    assert.ok(Date.now() - t0 < 10_000);
  });
});
