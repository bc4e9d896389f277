// Stand-ins for the public images the Dockerfile and the compose example name, built on this
// machine because nothing can be pulled here. Each is made from Debian's own packages and put
// where the official image puts things, under the official image's name:
//   debian:bookworm-slim    `debootstrap --variant=minbase bookworm` from the Debian mirror apt
//                           uses here, trimmed as the slim images are (no docs, man pages,
//                           locales, apt lists or .debs; the same dpkg excludes and apt clean-up)
//   node:20-bookworm-slim   that, plus this machine's Node 20 and its npm where the official
//                           image has them (/usr/local/bin/node, /usr/local/lib/node_modules/npm,
//                           /usr/local/include/node) and the `node` user and group, uid/gid 1000
//   registry:2.8            Debian's docker-registry (distribution 2.8.2) as /bin/registry, with
//                           the official image's /entrypoint.sh, default config and volume
//   caddy:2                 Debian's caddy, with the official image's command, XDG dirs, volumes
//   redis:7                 Debian's redis-server as /usr/local/bin/redis-server, run as `redis`
//                           in /data, protected mode off as the official image builds it
// The debootstrapped root file system is kept as a tarball under /var/tmp between runs on one
// machine (keyed by the date of apt's lists, so an `apt-get update` later makes a fresh one) and
// made from nothing otherwise; a lock file lets test files running at once share one build.
// Where npm reaches the registry through a TLS-inspecting proxy (npm's `cafile` is set here),
// the node stand-in carries that CA bundle in npm's global npmrc, as a corporate base image
// would: the build stage's `npm ci` needs it; nothing else in the image uses it.
import { execFile, spawn } from "node:child_process";
import { access, chmod, cp, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { unmountUnder, type RunningDocker } from "./engines.js";

const run = promisify(execFile);

export const DEBOOTSTRAP_BIN = "/usr/sbin/debootstrap";
/** Bump when what goes into the cached root file system changes. */
const ROOTFS_FORMAT = 2;
const CACHE_DIR = process.env["REGAUTH_DEBIAN_CACHE"] ?? "/var/tmp/regauth-debian-base";

/** Undefined when the stand-ins can be built here; otherwise why. In CI (CI=true) a missing tool is an error. */
export async function debianBaseMissing(): Promise<string | undefined> {
  const absent: string[] = [];
  for (const bin of [DEBOOTSTRAP_BIN, "/usr/bin/tar"]) await access(bin).catch(() => absent.push(bin));
  let why = absent.length ? `${absent.join(", ")} missing: apt-get install -y debootstrap tar` : undefined;
  if (!why && process.getuid?.() !== 0) why = "debootstrap and dockerd need root";
  if (!why && !(await nodeHome())) why = "no Node 20 with npm on this machine to put into the node:20-bookworm-slim stand-in";
  if (why && process.env["CI"] === "true") throw new Error(why);
  return why;
}

/** Where this machine's Debian packages come from: the first bookworm `deb` source apt has. */
async function debianMirror(): Promise<{ mirror: string; sources: string }> {
  const deb822 = await readFile("/etc/apt/sources.list.d/debian.sources", "utf8").catch(() => "");
  if (deb822) {
    for (const stanza of deb822.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/im.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uris && suites.includes("bookworm")) return { mirror: uris, sources: deb822 };
    }
  }
  const list = await readFile("/etc/apt/sources.list", "utf8").catch(() => "");
  const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(list);
  const mirror = m?.[1] ?? "http://deb.debian.org/debian";
  const security = mirror.replace(/\/debian\/?$/, "/debian-security");
  const sources = [
    `Types: deb\nURIs: ${mirror}\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
    `Types: deb\nURIs: ${security}\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  ].join("\n");
  return { mirror, sources };
}

/** The date (UTC, YYYYMMDD) of apt's newest list on this machine: the cache key of the root file system. */
async function aptListsDate(): Promise<string> {
  let newest = 0;
  const dir = "/var/lib/apt/lists";
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!/Release$/.test(f)) continue;
    newest = Math.max(newest, (await stat(join(dir, f))).mtimeMs);
  }
  return newest ? new Date(newest).toISOString().slice(0, 10).replaceAll("-", "") : "nolists";
}

async function sh(script: string, opts: { cwd?: string } = {}): Promise<string> {
  const r = await run("sh", ["-c", script], { maxBuffer: 256 << 20, ...opts });
  return r.stdout;
}

/** Wait for an exclusive lock file (holding our pid); a lock whose process died is taken over. */
async function lock(path: string, timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(await readFile(path, "utf8").catch(() => ""));
      let alive = false;
      if (holder > 0) {
        try {
          process.kill(holder, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (!alive) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is held by pid ${holder} for more than ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const SLIM_DPKG_EXCLUDES = `# As in the official slim images: no documentation, manual pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`;
const APT_CLEAN = `DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
`;

/**
 * A tarball of Debian bookworm (debootstrap minbase, trimmed as the slim images are), made
 * once per machine and apt-lists date and kept in /var/tmp; made from nothing when absent.
 */
export async function debianRootfsTarball(log: (line: string) => void = () => {}): Promise<string> {
  await mkdir(CACHE_DIR, { recursive: true });
  const tarball = join(CACHE_DIR, `bookworm-minbase-${await aptListsDate()}-v${ROOTFS_FORMAT}.tar`);
  const exists = () => access(tarball).then(() => true, () => false);
  if (await exists()) return tarball;
  const unlock = await lock(join(CACHE_DIR, "build.lock"), 600_000);
  try {
    if (await exists()) return tarball;
    const { mirror, sources } = await debianMirror();
    const work = await mkdtemp(join(CACHE_DIR, "build-"));
    const rootfs = join(work, "rootfs");
    try {
      const started = Date.now();
      await run(DEBOOTSTRAP_BIN, ["--variant=minbase", "bookworm", rootfs, mirror], { maxBuffer: 64 << 20 }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`debootstrap --variant=minbase bookworm ${mirror} failed: ${e.message}\n${(e.stdout ?? "").slice(-3000)}\n${(e.stderr ?? "").slice(-2000)}`);
      });
      await rm(join(rootfs, "etc/apt/sources.list"), { force: true });
      await writeFile(join(rootfs, "etc/apt/sources.list.d/debian.sources"), sources);
      await writeFile(join(rootfs, "etc/dpkg/dpkg.cfg.d/docker"), SLIM_DPKG_EXCLUDES);
      await writeFile(join(rootfs, "etc/apt/apt.conf.d/docker-clean"), APT_CLEAN);
      // What the slim images leave out; debootstrap keeps its .debs and the package lists.
      await sh(
        [
          "rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/*.log var/log/apt/* var/cache/debconf/*-old",
          "find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete",
          "find usr/share/doc -mindepth 1 -type d -empty -delete",
          "rm -rf usr/share/man/* usr/share/info/* usr/share/groff/* usr/share/lintian/*",
          "find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +",
          ": > etc/hostname",
        ].join(" && "),
        { cwd: rootfs },
      );
      await unmountUnder(rootfs);
      await run("tar", ["-C", rootfs, "--numeric-owner", "-cf", `${tarball}.part`, "."], { maxBuffer: 64 << 20 });
      await rename(`${tarball}.part`, tarball);
      log(`debootstrapped bookworm from ${mirror} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      // Older tarballs (an earlier apt-lists date) are of no further use.
      for (const f of await readdir(CACHE_DIR)) if (/^bookworm-minbase-.*\.tar$/.test(f) && join(CACHE_DIR, f) !== tarball) await rm(join(CACHE_DIR, f), { force: true });
    } finally {
      await unmountUnder(work);
      await rm(work, { recursive: true, force: true });
      await rm(`${tarball}.part`, { force: true });
    }
    return tarball;
  } finally {
    await unlock();
  }
}

/** `docker build --network host` (the build's RUN steps reach Debian's mirror and npm as this machine does). */
export async function dockerBuild(engine: RunningDocker, context: string, tag: string, extra: string[] = []): Promise<string> {
  const r = await engine.docker(["build", "--network", "host", "-t", tag, ...extra, context]);
  if (r.code !== 0) throw new Error(`docker build -t ${tag} ${context} failed:\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** Import the Debian root file system into `engine` as debian:bookworm-slim. */
export async function importDebianBase(engine: RunningDocker, log?: (line: string) => void): Promise<void> {
  const tarball = await debianRootfsTarball(log);
  const r = await engine.docker(["import", "--change", 'CMD ["bash"]', tarball, "debian:bookworm-slim"]);
  if (r.code !== 0) throw new Error(`docker import debian:bookworm-slim failed: ${r.stderr}`);
}

/** The prefix of this machine's Node (the directory holding bin/node and lib/node_modules/npm). */
async function nodeHome(): Promise<string | undefined> {
  const node = await sh("readlink -f \"$(command -v node)\"").then((s) => s.trim(), () => "");
  if (!node) return undefined;
  const home = dirname(dirname(node));
  return (await access(join(home, "lib/node_modules/npm/bin/npm-cli.js")).then(() => true, () => false)) ? home : undefined;
}

const NODE_ENTRYPOINT = `#!/bin/sh
set -e
# As the official image's: an option, or a first argument that is no command (or a file that is
# not executable), runs node with the arguments.
if [ "\${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && [ ! -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
`;

/** node:20-bookworm-slim from debian:bookworm-slim (import it first) and this machine's Node 20 and npm. */
export async function buildNodeBase(engine: RunningDocker, workDir: string): Promise<void> {
  const home = await nodeHome();
  if (!home) throw new Error("no node with npm found on this machine");
  const version = (await run(join(home, "bin/node"), ["--version"])).stdout.trim();
  if (!/^v20\./.test(version)) throw new Error(`the node:20-bookworm-slim stand-in needs Node 20; this machine has ${version}`);
  const ctx = await mkdtemp(join(workDir, "node-base-"));
  try {
    const local = join(ctx, "local");
    await mkdir(join(local, "bin"), { recursive: true });
    await mkdir(join(local, "lib/node_modules"), { recursive: true });
    await cp(join(home, "bin/node"), join(local, "bin/node"), { preserveTimestamps: true });
    for (const pkg of ["npm", "corepack"]) {
      if (await access(join(home, "lib/node_modules", pkg)).then(() => true, () => false)) await cp(join(home, "lib/node_modules", pkg), join(local, "lib/node_modules", pkg), { recursive: true, verbatimSymlinks: true });
    }
    await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(local, "bin/npm"));
    await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(local, "bin/npx"));
    if (await access(join(local, "lib/node_modules/corepack")).then(() => true, () => false)) await symlink("../lib/node_modules/corepack/dist/corepack.js", join(local, "bin/corepack"));
    // Headers, so that native modules build against this exact Node without downloading any.
    if (await access(join(home, "include/node")).then(() => true, () => false)) await cp(join(home, "include/node"), join(local, "include/node"), { recursive: true });
    await writeFile(join(ctx, "docker-entrypoint.sh"), NODE_ENTRYPOINT);
    await chmod(join(ctx, "docker-entrypoint.sh"), 0o755);
    let caLines = "";
    const cafile = await run(join(home, "bin/node"), [join(home, "lib/node_modules/npm/bin/npm-cli.js"), "config", "get", "cafile"]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    const ca = cafile && cafile !== "null" && cafile !== "undefined" ? cafile : process.env["NODE_EXTRA_CA_CERTS"];
    if (ca && (await access(ca).then(() => true, () => false))) {
      await cp(ca, join(ctx, "build-host-ca.crt"));
      await mkdir(join(local, "etc"), { recursive: true });
      await writeFile(join(local, "etc/npmrc"), "cafile=/usr/local/share/ca-certificates/build-host/ca-bundle.crt\n");
      caLines = "COPY build-host-ca.crt /usr/local/share/ca-certificates/build-host/ca-bundle.crt\n";
    }
    await writeFile(
      join(ctx, "Dockerfile"),
      `FROM debian:bookworm-slim
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=${version.slice(1)}
COPY local/ /usr/local/
${caLines}COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
`,
    );
    await dockerBuild(engine, ctx, "node:20-bookworm-slim");
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

const REGISTRY_ENTRYPOINT = `#!/bin/sh
set -e
case "$1" in
  *.yaml|*.yml) set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
`;
const REGISTRY_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

const REDIS_ENTRYPOINT = `#!/bin/sh
set -e
# As the official image's: \`redis-server ...\` (or options alone) runs as the redis user in /data,
# with protected mode off (the official image compiles that default in).
if [ "\${1#-}" != "$1" ] || [ "\${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  shift
  case "\${1:-}" in
    *.conf) conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
    *) set -- redis-server --protected-mode no "$@" ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    find . \\! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
`;

async function buildFromFiles(engine: RunningDocker, workDir: string, tag: string, files: Record<string, string>): Promise<void> {
  const ctx = await mkdtemp(join(workDir, "stand-in-"));
  try {
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(ctx, name), text);
      if (name.endsWith(".sh")) await chmod(join(ctx, name), 0o755);
    }
    await dockerBuild(engine, ctx, tag);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

const APT_INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends";

/** registry:2.8 (also tagged registry:2): Debian's docker-registry laid out as the official image. */
export async function buildRegistryStandIn(engine: RunningDocker, workDir: string): Promise<void> {
  await buildFromFiles(engine, workDir, "registry:2.8", {
    Dockerfile: `FROM debian:bookworm-slim
RUN ${APT_INSTALL} docker-registry ca-certificates && rm -rf /var/lib/apt/lists/* \\
 && ln -s /usr/bin/docker-registry /bin/registry && mkdir -p /var/lib/registry
COPY config.yml /etc/docker/registry/config.yml
COPY entrypoint.sh /entrypoint.sh
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/etc/docker/registry/config.yml"]
`,
    "config.yml": REGISTRY_CONFIG,
    "entrypoint.sh": REGISTRY_ENTRYPOINT,
  });
  await engine.docker(["tag", "registry:2.8", "registry:2"]);
}

/** caddy:2: Debian's caddy with the official image's command, environment and volumes. */
export async function buildCaddyStandIn(engine: RunningDocker, workDir: string): Promise<void> {
  await buildFromFiles(engine, workDir, "caddy:2", {
    Dockerfile: `FROM debian:bookworm-slim
RUN ${APT_INSTALL} caddy ca-certificates && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /config/caddy /data/caddy /srv
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
VOLUME ["/config", "/data"]
EXPOSE 80 443 443/udp 2019
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
`,
  });
}

/** redis:7: Debian's redis-server laid out and started as the official image does. */
export async function buildRedisStandIn(engine: RunningDocker, workDir: string): Promise<void> {
  await buildFromFiles(engine, workDir, "redis:7", {
    Dockerfile: `FROM debian:bookworm-slim
RUN ${APT_INSTALL} redis-server && rm -rf /var/lib/apt/lists/* \\
 && ln -s /usr/bin/redis-server /usr/local/bin/redis-server && ln -s /usr/bin/redis-cli /usr/local/bin/redis-cli \\
 && mkdir -p /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME ["/data"]
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
`,
    "entrypoint.sh": REDIS_ENTRYPOINT,
  });
}

/** Spawn a command, collecting its output; never rejects. */
export function runCommand(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d));
    p.stderr.on("data", (d: Buffer) => (stderr += d));
    p.once("error", (e) => resolve({ code: -1, stdout, stderr: stderr + String(e) }));
    p.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(opts.input ?? "");
  });
}
