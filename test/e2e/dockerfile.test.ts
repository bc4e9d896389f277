// No Docker engine runs on this machine, so `docker build` cannot be tested here. The closest
// faithful stand-in: read the Dockerfile, run its build stage's commands natively in a temp
// dir, assemble the final stage from its COPY lines, check that it holds only what the server
// needs, and run the server from it as a non-root user. What this cannot prove: the base
// image's contents, the mkdir/chown RUN of the final stage (it needs root inside the image)
// and HEALTHCHECK/VOLUME semantics.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { freePort } from "../helpers/ports.js";
import { ROOT, writeKeyPair } from "../helpers/regauth.js";

const run = promisify(execFile);

interface Instr {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  instrs: Instr[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const logical = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (op!.toUpperCase() === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      stages.push({ from: m[1]!, name: m[2] ?? String(stages.length), instrs: [] });
    } else stages.at(-1)!.instrs.push({ op: op!.toUpperCase(), args: args! });
  }
  return stages;
}

let work: string;
let stages: Stage[];
const roots = new Map<string, { dir: string; workdir: string }>();

/** A container path inside a stage → the host path where this test keeps it. */
function hostPath(stage: string, p: string): string {
  const s = roots.get(stage)!;
  return p.startsWith("/") ? join(s.dir, p) : join(s.dir, s.workdir, p);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "regauth-dockerfile-"));
  await chmod(work, 0o755);
  stages = parseDockerfile(await readFile(join(ROOT, "Dockerfile"), "utf8"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("the Dockerfile is multi-stage, on the same Node major, and its final stage runs as non-root", () => {
  assert.ok(stages.length >= 2, "a build stage and a runtime stage");
  const final = stages.at(-1)!;
  for (const s of stages) assert.match(s.from, /^node:20[-.]/, "Node 20 like the project's engines field");
  const user = final.instrs.filter((i) => i.op === "USER").at(-1);
  assert.ok(user && user.args !== "root" && user.args !== "0", "USER is a non-root user");
  const entry = final.instrs.find((i) => i.op === "ENTRYPOINT");
  assert.ok(entry && JSON.parse(entry.args).includes("/app/bin/regauth"));
});

test("building the stages natively gives a runtime tree with only what the server needs, and it serves as non-root", { timeout: 900_000 }, async () => {
  for (const stage of stages) {
    const dir = join(work, stage.name);
    await mkdir(dir, { recursive: true });
    roots.set(stage.name, { dir, workdir: "/" });
    const isFinal = stage === stages.at(-1);
    for (const { op, args } of stage.instrs) {
      if (op === "WORKDIR") {
        roots.get(stage.name)!.workdir = args;
        await mkdir(hostPath(stage.name, args), { recursive: true });
      } else if (op === "COPY") {
        const parts = args.split(/\s+/);
        const from = parts[0]!.startsWith("--from=") ? parts.shift()!.slice(7) : undefined;
        const dest = parts.pop()!;
        for (const src of parts) {
          const source = from ? hostPath(from, src) : join(ROOT, src);
          const target = dest.endsWith("/") || parts.length > 1 ? join(hostPath(stage.name, dest), src.split("/").pop()!) : hostPath(stage.name, dest);
          await mkdir(dirname(target), { recursive: true });
          await cp(source, target, { recursive: true });
        }
      } else if (op === "RUN") {
        if (isFinal) {
          // Only the directory setup, which needs root inside the image, is expected here.
          assert.match(args, /^mkdir -p [/\w ]+ && chown node:node [/\w ]+$/, `unexpected RUN in the final stage: ${args}`);
          continue;
        }
        // The build stage's toolchain: this machine has it already (and apt here is the host's).
        if (args.startsWith("apt-get ")) {
          assert.match(args, /^apt-get update && apt-get install -y --no-install-recommends [\w+ ]+$/, `unexpected apt-get RUN: ${args}`);
          continue;
        }
        await run("sh", ["-c", args], { cwd: hostPath(stage.name, roots.get(stage.name)!.workdir), maxBuffer: 64 << 20, env: { ...process.env, npm_config_loglevel: "error" } });
      }
    }
  }
  const app = hostPath(stages.at(-1)!.name, "/app");
  const top = (await readdir(app)).sort();
  assert.deepEqual(top, ["bin", "dist", "node_modules", "package.json", "schema"]);
  // `regauth db schema` reads the SQL files from the tree it runs in.
  const schema = await run(process.execPath, [join(app, "bin/regauth"), "db", "schema", "postgres"], { cwd: app });
  assert.match(schema.stdout, /CREATE TABLE IF NOT EXISTS "xorm_user"/);
  // Installed packages, scoped ones as "@scope/name" (an emptied scope directory holds none).
  const modules: string[] = [];
  for (const entry of await readdir(join(app, "node_modules"))) {
    if (entry.startsWith("@")) for (const sub of await readdir(join(app, "node_modules", entry))) modules.push(`${entry}/${sub}`);
    else if (!entry.startsWith(".")) modules.push(entry);
  }
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
  for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!modules.includes(dev), `${dev} (a devDependency) is not in the image`);
  for (const prod of Object.keys(pkg.dependencies)) assert.ok(modules.includes(prod), `${prod} is in the image`);
  assert.deepEqual((await readdir(join(app, "dist"))).sort(), ["src"], "no compiled tests or benchmarks");
  // The embedded token store's native binding was built in the build stage and works in the final tree.
  const sqlite = await run(process.execPath, ["-e", "const D = require('better-sqlite3'); const d = new D(':memory:'); console.log(d.prepare('select 41 + 1 as x').get().x)"], { cwd: app });
  assert.equal(sqlite.stdout.trim(), "42");

  // Run it: as `nobody` when this test runs as root (CI), else as the current non-root user.
  const keys = await writeKeyPair(work, "image", "ec");
  await chmod(keys.key, 0o644);
  const port = await freePort();
  const cfg = join(work, "auth_config.yml");
  await writeFile(cfg, `server: {addr: "127.0.0.1:${port}"}\ntoken: {issuer: "img", expiration: 60, certificate: "${keys.cert}", key: "${keys.key}"}\nusers: {"": {}}\nacl:\n  - match: {account: ""}\n    actions: [pull]\n`);
  await chmod(app, 0o755);
  const asRoot = userInfo().uid === 0;
  const nobody = 65534;
  const p = spawn(process.execPath, [join(app, "bin/regauth"), cfg], {
    cwd: work,
    env: { PATH: process.env.PATH, REGAUTH_DATA_DIR: join(work, "data") },
    ...(asRoot ? { uid: nobody, gid: nobody } : {}),
  });
  let err = "";
  p.stderr.on("data", (d) => (err += d));
  try {
    const deadline = Date.now() + 20_000;
    while (!err.includes("regauth is serving") && p.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /regauth is serving/, err);
    const r = await fetch(`http://127.0.0.1:${port}/auth?service=s&scope=repository:lib/x:pull`);
    assert.equal(r.status, 200);
    const pid = p.pid!;
    const uid = Number((await readFile(`/proc/${pid}/status`, "utf8").catch(() => "Uid:\t-1")).match(/Uid:\s+(\d+)/)?.[1] ?? -1);
    assert.notEqual(uid, 0, "the server does not run as root");
    assert.ok((await stat(join(app, "bin/regauth"))).isFile());
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => p.once("close", r));
  }
});
