// examples/compose/ for real: Debian's docker-compose (1.29) brings up the example's stacks on
// Debian's dockerd exactly as a user runs them — `docker-compose up -d` in examples/compose/ —
// and the docker CLI logs in, pushes and pulls through them; `docker-compose down -v` removes
// them. Two stacks: docker-compose.yml (registry + regauth + OpenLDAP) and
// docker-compose.lb.yml (Caddy offloading TLS in front of the registry and two regauth replicas
// that share refresh tokens through Redis, `real_ip_header` set, LDAP behind).
//
// Nothing can be pulled here. The images the compose files build (regauth from the project's
// Dockerfile, OpenLDAP from examples/compose/ldap/, Debian's slapd) are built first with
// `docker build --network host` under the names the compose files give them — what
// `docker-compose build` does, except that it cannot give a build the host's network, which
// this engine (no bridge of its own) needs for apt and npm — so `up` finds them. The images
// they pull get stand-ins under the same names (test/helpers/debian-base.ts): registry:2.8 from
// Debian's docker-registry 2.8.2, caddy:2 from Debian's caddy, redis:7 from Debian's
// redis-server, all on a debian:bookworm-slim made with debootstrap, and node:20-bookworm-slim
// (the Dockerfile's base) from that plus this machine's Node 20 and npm.
//
// TLS at the load balancer: Caddy's own local CA signs its certificate for localhost. The
// docker engine treats any registry on a loopback address as insecure: it speaks TLS to it but
// does not verify the certificate (certs.d cannot change that), and would fall back to plain
// HTTP. So the test checks the certificate itself against Caddy's root CA, and that the
// balancer's port answers nothing but TLS — the engine's logins, pushes and pulls went over TLS.
//
// Needs root and `apt-get install docker.io docker-compose debootstrap`.
import assert from "node:assert/strict";
import { access, chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { buildCaddyStandIn, buildNodeBase, buildRedisStandIn, buildRegistryStandIn, debianBaseMissing, dockerBuild, importDebianBase, runCommand } from "../helpers/debian-base.js";
import { enginesMissing, startDocker, type RunningDocker } from "../helpers/engines.js";
import { createTar } from "../helpers/oci-image.js";
import { freePort } from "../helpers/ports.js";
import { ROOT } from "../helpers/regauth.js";

const COMPOSE_BIN = "/usr/bin/docker-compose";
const EXAMPLE = join(ROOT, "examples", "compose");
const PROJECT = "regauth-example"; // examples/compose/.env
/** The stand-ins this file can build, by the image names the compose files pull. */
const STAND_INS: Record<string, (e: RunningDocker, dir: string) => Promise<void>> = {
  "registry:2.8": buildRegistryStandIn,
  "caddy:2": buildCaddyStandIn,
  "redis:7": buildRedisStandIn,
};

// The seed's people (examples/compose/ldap/seed.ldif) and robot (regauth/auth_config.yml).
const ALICE = { user: "alice", password: "alice-password" }; // LDAP, group dev
const BOB = { user: "bob", password: "bob-password" }; // LDAP, group ops
const ROBOT = { user: "ci-robot", password: "ci-robot-password" }; // static user

interface ComposeFile {
  services: Record<string, { image?: string; build?: string | { context: string } }>;
}
const composeFile = async (name: string) => parse(await readFile(join(EXAMPLE, name), "utf8")) as ComposeFile;

async function composeMissing(): Promise<string | undefined> {
  const why = (await enginesMissing()) ?? (await debianBaseMissing());
  if (why) return why;
  const absent = await access(COMPOSE_BIN).then(() => undefined, () => `${COMPOSE_BIN} missing: apt-get install -y docker-compose`);
  if (absent && process.env["CI"] === "true") throw new Error(absent);
  return absent;
}

test("the load-balanced variant's regauth config is the seed's plus real_ip_header and the shared token store", async () => {
  const seed = parse(await readFile(join(EXAMPLE, "regauth/auth_config.yml"), "utf8")) as Record<string, unknown>;
  const lb = parse(await readFile(join(EXAMPLE, "regauth/auth_config.lb.yml"), "utf8")) as Record<string, Record<string, unknown>>;
  assert.equal(lb["server"]!["real_ip_header"], "X-Forwarded-For");
  assert.equal(lb["server"]!["real_ip_pos"], -1);
  assert.ok(lb["token_store"]?.["redis"], "a Redis token store both replicas share");
  const rest = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => k !== "server" && k !== "token_store"));
  assert.deepEqual(rest(lb), rest(seed), "users, LDAP and ACL are the same in both files");
  assert.deepEqual({ ...lb["server"], real_ip_header: undefined, real_ip_pos: undefined }, { ...(seed["server"] as object), real_ip_header: undefined, real_ip_pos: undefined });
});

const missing = await composeMissing();

describe("examples/compose with docker-compose, the docker CLI and the real images", { skip: missing, timeout: 1_200_000 }, () => {
  let work: string;
  let engine: RunningDocker;
  const timings: string[] = [];
  const ports = { REGISTRY_PORT: 0, REGAUTH_PORT: 0, LB_PORT: 0 };

  const docker = async (args: string[], input?: string) => {
    const r = await engine.docker(args, input);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}${r.stdout.slice(-2000)}`);
    return r.stdout.trim();
  };
  const compose = (file: string, args: string[]) =>
    runCommand(COMPOSE_BIN, ["-f", file, ...args], { cwd: EXAMPLE, env: { ...engine.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) } });
  const composeOk = async (file: string, args: string[]) => {
    const r = await compose(file, args);
    if (r.code !== 0) {
      const logs = await compose(file, ["logs", "--no-color", "--tail", "40"]);
      assert.fail(`docker-compose -f ${file} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}\n--- logs\n${logs.stdout}`);
    }
    return r.stdout;
  };
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const v = await f();
    timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return v;
  };
  const until = async (what: string, ok: () => Promise<boolean>, ms = 90_000, file?: string) => {
    const deadline = Date.now() + ms;
    while (!(await ok().catch(() => false))) {
      if (Date.now() > deadline) {
        const logs = file ? (await compose(file, ["logs", "--no-color", "--tail", "30"])).stdout : "";
        assert.fail(`${what}: not within ${ms / 1000} s\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const login = (registry: string, who: { user: string; password: string }) => engine.docker(["login", "-u", who.user, "--password-stdin", registry], who.password);
  /** A one-file image under `ref`, made without pulling anything. */
  const image = async (ref: string) => {
    const tar = join(work, "hello.tar");
    await writeFile(tar, createTar({ "hello.txt": `hello from the compose e2e test, ${ref}\n` }));
    await docker(["import", tar, ref]);
  };
  /** The JSON token-request lines a compose service logged. */
  const tokenLines = async (file: string, service: string) =>
    (await composeOk(file, ["logs", "--no-color", service]))
      .split("\n")
      .map((l) => l.slice(l.indexOf("|") + 1).trim())
      .filter((l) => l.startsWith("{") && l.includes('"event":"token"'))
      .map((l) => JSON.parse(l) as { account?: string; grant?: string; outcome?: string; client_ip?: string; requested?: string[]; granted?: string[]; refresh_token_issued?: boolean });
  /** Everything of the project that is left in the engine: containers, volumes, networks. */
  const leftovers = async () => {
    const f = ["--filter", `label=com.docker.compose.project=${PROJECT}`];
    return [
      ...(await docker(["ps", "-a", "-q", ...f])).split("\n"),
      ...(await docker(["volume", "ls", "-q", ...f])).split("\n"),
      ...(await docker(["network", "ls", "-q", ...f])).split("\n"),
    ].filter(Boolean);
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "regauth-compose-e2e-"));
    await chmod(work, 0o755);
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    engine = await timed("engine start", () => startDocker({ storageDriver: "overlay2" }));
    await timed("debian:bookworm-slim stand-in (debootstrap or cache, import)", () => importDebianBase(engine));
    await timed("node:20-bookworm-slim stand-in", () => buildNodeBase(engine, work));
    // What the compose files build, under their names; what they pull, from stand-ins.
    const built = new Map<string, string>();
    const pulled = new Set<string>();
    for (const file of ["docker-compose.yml", "docker-compose.lb.yml"]) {
      for (const svc of Object.values((await composeFile(file)).services)) {
        if (svc.build) built.set(svc.image!, resolve(EXAMPLE, typeof svc.build === "string" ? svc.build : svc.build.context));
        else if (svc.image) pulled.add(svc.image);
      }
    }
    for (const name of pulled) if (!built.has(name)) {
      const make = STAND_INS[name];
      assert.ok(make, `no stand-in for ${name}, which the compose files pull`);
      await timed(`${name} stand-in`, () => make(engine, work));
    }
    for (const [name, context] of built) await timed(`docker build -t ${name} ${context.slice(ROOT.length + 1) || "."}`, () => dockerBuild(engine, context, name));
  });

  after(async () => {
    try {
      if (engine) {
        for (const file of ["docker-compose.lb.yml", "docker-compose.yml"]) await compose(file, ["down", "-v", "--remove-orphans", "-t", "5"]);
        await engine.stop();
      }
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  });

  test("docker-compose.yml: up -d; an LDAP user and the static robot log in, push and pull; a push the ACL denies is denied; down -v removes it all", async (t) => {
    for (const line of timings) t.diagnostic(line);
    const file = "docker-compose.yml";
    await composeOk(file, ["config", "-q"]);
    await timed("docker-compose up -d", () => composeOk(file, ["up", "-d"]));
    const registry = `localhost:${ports.REGISTRY_PORT}`;
    // regauth is ready once LDAP answers it.
    await until("regauth /readyz through its published port", async () => (await fetch(`http://127.0.0.1:${ports.REGAUTH_PORT}/readyz`)).status === 200, 90_000, file);
    await until("the registry's /v2/", async () => (await fetch(`http://127.0.0.1:${ports.REGISTRY_PORT}/v2/`)).status === 401, 30_000, file);

    const shared = `${registry}/dev-shared/hello:v1`;
    await image(shared);
    const wrong = await login(registry, { user: ALICE.user, password: "not-her-password" });
    assert.notEqual(wrong.code, 0, "a wrong LDAP password is refused");
    assert.match(wrong.stderr, /unauthorized|invalid username or password/i);
    assert.equal((await login(registry, ALICE)).code, 0, "alice (LDAP) logs in");
    await docker(["push", shared]);
    const own = `${registry}/alice/hello:v1`;
    await docker(["tag", shared, own]);
    await docker(["push", own]);
    await docker(["rmi", shared, own]);
    await docker(["pull", shared]);

    assert.equal((await login(registry, BOB)).code, 0, "bob (LDAP, group ops) logs in");
    await docker(["rmi", shared]);
    await docker(["pull", shared]);
    const bobs = `${registry}/dev-shared/hello:bob`;
    await docker(["tag", shared, bobs]);
    const denied = await engine.docker(["push", bobs]);
    assert.notEqual(denied.code, 0, "bob may not push to dev-shared/");
    assert.match(denied.stderr, /denied|unauthorized|authentication required/i, denied.stderr);
    // Denied by the ACL, not by a broken stack: regauth granted bob pull only on that push.
    const bobLines = (await tokenLines(file, "regauth")).filter((l) => l.account === "bob" && l.outcome === "issued");
    assert.ok(
      bobLines.some((l) => l.requested?.includes("repository:dev-shared/hello:pull,push") && l.granted?.includes("repository:dev-shared/hello:pull")),
      JSON.stringify(bobLines),
    );

    assert.equal((await login(registry, ROBOT)).code, 0, "the CI robot (a static user) logs in");
    const ci = `${registry}/ci/app:v1`;
    await docker(["tag", shared, ci]);
    await docker(["push", ci]);
    await docker(["rmi", ci]);
    await docker(["pull", ci]);
    const robot = (await tokenLines(file, "regauth")).filter((l) => l.account === "ci-robot" && l.outcome === "issued");
    assert.ok(robot.length > 0);
    await docker(["logout", registry]);

    await timed("docker-compose down -v", () => composeOk(file, ["down", "-v", "-t", "5"]));
    assert.deepEqual(await leftovers(), [], "no container, volume or network of the project is left");
    for (const line of timings.slice(-2)) t.diagnostic(line);
  });

  test("docker-compose.lb.yml: TLS offloaded at Caddy, two regauth replicas sharing Redis, LDAP behind; login, push, pull; the client's address reaches regauth", async (t) => {
    const file = "docker-compose.lb.yml";
    await composeOk(file, ["config", "-q"]);
    await timed("docker-compose -f docker-compose.lb.yml up -d", () => composeOk(file, ["up", "-d"]));
    const lb = `localhost:${ports.LB_PORT}`;
    const lbId = (await composeOk(file, ["ps", "-q", "lb"])).trim();
    const rootCa = join(work, "caddy-root.crt");
    await until("Caddy's local CA", async () => (await engine.docker(["cp", `${lbId}:/data/caddy/pki/authorities/local/root.crt`, rootCa])).code === 0, 60_000, file);
    const ca = await readFile(rootCa);
    /** An https request to the balancer, its certificate verified against Caddy's root for the name localhost. */
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
        const req = httpsRequest({ host: "127.0.0.1", servername: "localhost", port: ports.LB_PORT, path, ca, headers: { host: lb, ...headers } }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d));
          res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
    const robotAuth = { authorization: `Basic ${Buffer.from(`${ROBOT.user}:${ROBOT.password}`).toString("base64")}` };
    // Both replicas answer through the balancer, each by its own log: four 200s in a row can all
    // come from one replica while Caddy's health check still counts the other, slower to start
    // on a busy machine, as down (until its next check, 5 s later). The steps below need both.
    const answeredBy = async (service: string) => (await tokenLines(file, service)).some((l) => l.account === ROBOT.user && l.outcome === "issued");
    await until(
      "both regauth replicas through the balancer",
      async () => (await get("/auth?service=registry.example.org", robotAuth)).status === 200 && (await answeredBy("regauth-1")) && (await answeredBy("regauth-2")),
      90_000,
      file,
    );
    assert.equal((await get("/v2/")).status, 401, "the registry, behind the balancer, asks for a token");
    const plain = await fetch(`http://127.0.0.1:${ports.LB_PORT}/v2/`).then((r) => r.status, () => 0);
    assert.notEqual(plain, 401, "the balancer's port does not serve the registry over plain HTTP");

    // regauth itself refuses a request that did not come through the balancer (no X-Forwarded-For).
    const direct = await compose(file, ["exec", "-T", "regauth-1", "node", "-e", "fetch('http://127.0.0.1:5001/auth').then((r) => console.log(r.status))"]);
    assert.equal(direct.stdout.trim(), "400", direct.stderr);

    const shared = `${lb}/dev-shared/hello:lb`;
    await image(shared);
    assert.equal((await login(lb, ALICE)).code, 0, "alice logs in through the balancer");
    await docker(["push", shared]);
    await docker(["rmi", shared]);
    await docker(["pull", shared]);
    assert.equal((await login(lb, BOB)).code, 0);
    const bobs = `${lb}/dev-shared/hello:bob`;
    await docker(["tag", shared, bobs]);
    const denied = await engine.docker(["push", bobs]);
    assert.notEqual(denied.code, 0, "bob's push is denied behind the balancer too");
    assert.equal((await login(lb, ROBOT)).code, 0);
    const ci = `${lb}/ci/app:lb`;
    await docker(["tag", shared, ci]);
    await docker(["push", ci]);
    await docker(["rmi", ci]);
    await docker(["pull", ci]);

    // The replicas share refresh tokens: alice's, issued by one replica at docker login, was
    // honoured by the other for the push and pull that followed.
    const lines = { "regauth-1": await tokenLines(file, "regauth-1"), "regauth-2": await tokenLines(file, "regauth-2") };
    const issuedBy = (Object.keys(lines) as (keyof typeof lines)[]).filter((r) => lines[r].some((l) => l.account === "alice" && l.grant === "password" && l.refresh_token_issued));
    assert.equal(issuedBy.length, 1, JSON.stringify(lines));
    const other = issuedBy[0] === "regauth-1" ? "regauth-2" : "regauth-1";
    assert.ok(
      lines[other].some((l) => l.account === "alice" && l.grant === "refresh_token" && l.outcome === "issued"),
      `${other} accepted the refresh token ${issuedBy[0]} issued:\n${JSON.stringify(lines[other])}`,
    );

    // The client's address, not the balancer's, is what regauth sees: the engine's connections
    // reach Caddy from the project network's gateway (the engine's port proxy on this host).
    const net = JSON.parse(await docker(["network", "inspect", `${PROJECT}_default`]))[0] as { IPAM: { Config: { Gateway: string }[] }; Containers: Record<string, { Name: string; IPv4Address: string }> };
    const gateway = net.IPAM.Config[0]!.Gateway;
    const caddyIp = Object.values(net.Containers).find((c) => c.Name.includes("_lb_") || c.Name.includes("-lb-"))!.IPv4Address.split("/")[0];
    assert.ok(gateway && caddyIp && gateway !== caddyIp);
    const alice = [...lines["regauth-1"], ...lines["regauth-2"]].filter((l) => l.account === "alice");
    assert.ok(alice.length >= 2);
    for (const l of alice) assert.equal(l.client_ip, gateway, `client_ip ${l.client_ip}: the client's address, not Caddy's (${caddyIp})`);
    // A forged X-Forwarded-For from the client does not change it: Caddy replaces the header.
    assert.equal((await get("/auth?service=registry.example.org&scope=repository:ci/app:pull", { ...robotAuth, "x-forwarded-for": "203.0.113.9" })).status, 200);
    const after = [...(await tokenLines(file, "regauth-1")), ...(await tokenLines(file, "regauth-2"))].filter((l) => l.requested?.includes("repository:ci/app:pull"));
    assert.ok(after.length > 0 && after.every((l) => l.client_ip === gateway), JSON.stringify(after));
    t.diagnostic(`client_ip seen by regauth: ${gateway} (the gateway the client came from); Caddy's own address: ${caddyIp}`);

    await docker(["logout", lb]);
    await timed("docker-compose -f docker-compose.lb.yml down -v", () => composeOk(file, ["down", "-v", "-t", "5"]));
    assert.deepEqual(await leftovers(), [], "no container, volume or network of the project is left");
    for (const line of timings.slice(-2)) t.diagnostic(line);
  });
});
