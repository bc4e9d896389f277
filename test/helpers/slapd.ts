// A throwaway OpenLDAP server (slapd 2.5) for tests: its own temp dir, loopback ports (plain
// LDAP with StartTLS, and LDAPS), a self-signed certificate, the memberof overlay, and users
// and groups loaded with ldapadd after start (the overlay computes memberOf only for live adds).
// Stopped by its PID; can be started again on the same data dir and ports.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { canConnect, freePort } from "./ports.js";
import { writeKeyPair } from "./regauth.js";
import { killOnExit } from "./children.js";
import { skipOrFailInCi } from "./requirements.js";
import { declareSecret } from "./secret-ledger.js";

const execFileAsync = promisify(execFile);

export const SLAPD_BIN = process.env["REGAUTH_TEST_SLAPD_BIN"] ?? "/usr/sbin/slapd";
export const LDAPADD_BIN = process.env["REGAUTH_TEST_LDAPADD_BIN"] ?? "ldapadd";

export const SUFFIX = "dc=example,dc=org";
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = "admin-secret";
/** A read-only service account for the search bind (a real entry, not the rootdn). */
export const READER_DN = `cn=reader,${SUFFIX}`;
export const READER_PW = "reader-secret";
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;

export interface SeedUser {
  uid: string;
  password: string;
  cn?: string;
  mail?: string;
  /** Extra attribute lines, e.g. "title: Engineer". */
  extra?: string[];
}

export interface SeedGroup {
  cn: string;
  /** uids of members (people under ou=people). */
  members: string[];
}

export interface SlapdOptions {
  users?: SeedUser[];
  groups?: SeedGroup[];
}

export interface RunningSlapd {
  dir: string;
  /** ldap:// port (StartTLS available on it). */
  port: number;
  /** ldaps:// port. */
  tlsPort: number;
  /** The self-signed certificate slapd serves (SANs 127.0.0.1 and localhost): the CA file for clients. */
  caFile: string;
  pid(): number | undefined;
  /** Stop slapd by its PID (SIGTERM, then SIGKILL after 5 s); the data dir stays. */
  stop(): Promise<void>;
  /** Start slapd again on the same data dir and ports. */
  start(): Promise<void>;
  /** Freeze (SIGSTOP) or thaw (SIGCONT) the process: a directory that accepts connections but never answers. */
  pause(): void;
  resume(): void;
  /** Run ldapadd as the rootdn with this LDIF. */
  add(ldif: string): Promise<void>;
  logs(): string;
  /** Stop and remove the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Whether slapd can run here. When it cannot: in CI (CI=true) the caller must fail with the
 * returned reason; elsewhere it may skip.
 */
export async function slapdMissing(): Promise<string | undefined> {
  try {
    await access(SLAPD_BIN, fsConstants.X_OK);
    await execFileAsync(LDAPADD_BIN, ["-VV"]).catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
      // ldapadd -VV prints its version and exits 0 or 1 depending on the build; only ENOENT matters.
      if (e.code === "ENOENT") throw e;
    });
    return undefined;
  } catch {
    return `slapd and ldapadd are needed for the LDAP tests (${SLAPD_BIN}, ${LDAPADD_BIN}): apt-get install slapd ldap-utils`;
  }
}

export const skipWithoutSlapd = (): Promise<string | undefined> => skipOrFailInCi(slapdMissing());


function slapdConf(dir: string, tls: { cert: string; key: string }): string {
  return [
    "include /etc/ldap/schema/core.schema",
    "include /etc/ldap/schema/cosine.schema",
    "include /etc/ldap/schema/inetorgperson.schema",
    "include /etc/ldap/schema/nis.schema",
    "modulepath /usr/lib/ldap",
    "moduleload back_mdb",
    "moduleload memberof",
    `pidfile ${join(dir, "slapd.pid")}`,
    `argsfile ${join(dir, "slapd.args")}`,
    `TLSCertificateFile ${tls.cert}`,
    `TLSCertificateKeyFile ${tls.key}`,
    `TLSCACertificateFile ${tls.cert}`,
    "",
    "database mdb",
    "maxsize 104857600",
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PW}`,
    `directory ${join(dir, "data")}`,
    // Passwords: bind only. Everything else: readable by any bound identity, nothing for anonymous.
    "access to attrs=userPassword by self write by anonymous auth by * none",
    "access to * by users read by * none",
    "overlay memberof",
    "memberof-group-oc groupOfNames",
    "memberof-member-ad member",
    "memberof-memberof-ad memberOf",
    "memberof-refint TRUE",
    "",
  ].join("\n");
}

function seedLdif(opts: SlapdOptions): string {
  const blocks = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ${READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: ${READER_PW}`,
    `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups`,
  ];
  for (const u of opts.users ?? []) {
    const cn = u.cn ?? u.uid;
    blocks.push(
      [
        `dn: uid=${u.uid},${PEOPLE}`,
        "objectClass: inetOrgPerson",
        `uid: ${u.uid}`,
        `cn: ${cn}`,
        `sn: ${cn}`,
        ...(u.mail ? [`mail: ${u.mail}`] : []),
        `userPassword: ${u.password}`,
        ...(u.extra ?? []),
      ].join("\n"),
    );
  }
  for (const g of opts.groups ?? []) {
    blocks.push([`dn: cn=${g.cn},${GROUPS}`, "objectClass: groupOfNames", `cn: ${g.cn}`, ...g.members.map((m) => `member: uid=${m},${PEOPLE}`)].join("\n"));
  }
  return blocks.join("\n\n") + "\n";
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start slapd with the base entries, a read-only service account, and `opts`' users and groups. */
export async function startSlapd(opts: SlapdOptions = {}): Promise<RunningSlapd> {
  const missing = await slapdMissing();
  if (missing) throw new Error(missing);
  // The directory's passwords are secrets of the run: the final scan checks no server wrote them.
  for (const u of opts.users ?? []) declareSecret(u.password);
  declareSecret(READER_PW);
  const dir = await mkdtemp(join(tmpdir(), "regauth-slapd-"));
  await mkdir(join(dir, "data"));
  const tls = await writeKeyPair(dir, "slapd", "ec", ["127.0.0.1", "localhost"]);
  const confPath = join(dir, "slapd.conf");
  await writeFile(confPath, slapdConf(dir, tls));
  let log = "";
  let child: ChildProcess | undefined;
  let port = 0;
  let tlsPort = 0;

  const launch = async (): Promise<void> => {
    const c = spawn(SLAPD_BIN, ["-f", confPath, "-h", `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${tlsPort}/`, "-d", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    killOnExit(c);
    child = c;
    c.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    c.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`slapd exited (${c.exitCode ?? c.signalCode}) before it was ready:\n${log}`);
      if ((await canConnect(port)) && (await canConnect(tlsPort))) return;
      if (Date.now() > deadline) {
        c.kill("SIGKILL");
        throw new Error(`slapd not ready after 10 s:\n${log}`);
      }
      await sleep(20);
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGCONT"); // a paused slapd cannot act on SIGTERM
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  };

  const add = async (ldif: string): Promise<void> => {
    const file = join(dir, `add-${Date.now()}-${Math.random().toString(36).slice(2)}.ldif`);
    await writeFile(file, ldif);
    try {
      await execFileAsync(LDAPADD_BIN, ["-x", "-H", `ldap://127.0.0.1:${port}`, "-D", ROOT_DN, "-w", ROOT_PW, "-f", file]);
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`ldapadd failed: ${err.stderr ?? err.message}`);
    }
  };

  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      tlsPort = await freePort();
      try {
        await launch();
        break;
      } catch (e) {
        // Another process may take a free port before slapd binds it; try other ports.
        if (attempt >= 5 || !/bind|address already in use/i.test(String((e as Error).message))) throw e;
        log = "";
      }
    }
    await add(seedLdif(opts));
  } catch (e) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  let destroyed = false;
  return {
    dir,
    port,
    tlsPort,
    caFile: tls.cert,
    pid: () => child?.pid,
    stop,
    async start() {
      if (child) return;
      await launch();
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    add,
    logs: () => log,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
