// The LDAP cases of `npm run bench`: an LDAP user (search + bind + memberOf label) pushing to
// dev-shared/* through an ACL on ${labels:groups}, against a throwaway slapd on loopback,
// with and without the verified-credential cache. bench/run.ts runs them with the others.
// slapd is pinned with the load generator (`cpus`), so the server's core is the server's alone.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashPassword } from "../src/authn/bcrypt.js";
import type { Case } from "./cases.js";
import { PEOPLE, READER_DN, READER_PW, slapdMissing, startSlapd, type RunningSlapd } from "../test/helpers/slapd.js";

export type LdapBenchCase = Case;

export interface LdapBench {
  cases: LdapBenchCase[];
  /** Why the LDAP cases are missing, when they are. */
  note?: string;
  /** slapd's pid, when it runs. */
  pids: number[];
  stop(): Promise<void>;
}

const NAMES = ["LDAP user, cache on, ES256", "LDAP user, cache off, ES256", "LDAP user, cache off, StartTLS, ES256"];
const IDS = ["ldap-cached", "ldap-uncached", "ldap-starttls"];

/** Start slapd (only when an LDAP case is selected by BENCH_ONLY), pin it to `cpus`, and describe the cases. */
export async function ldapBench(dir: string, only: string | undefined, cpus: string): Promise<LdapBench> {
  const none: LdapBench = { cases: [], pids: [], stop: async () => {} };
  if (only && ![...NAMES, ...IDS].some((n) => n.includes(only))) return none;
  const missing = await slapdMissing();
  if (missing) return { ...none, note: `LDAP cases skipped: ${missing}` };
  const slapd: RunningSlapd = await startSlapd({ users: [{ uid: "alice", password: "alice-password" }], groups: [{ cn: "dev", members: ["alice"] }] });
  await promisify(execFile)("taskset", ["-a", "-p", "-c", cpus, String(slapd.pid())]);
  const pwFile = join(dir, "ldap-bind-password");
  await writeFile(pwFile, `${READER_PW}\n`);
  // A static CI robot first, as in the setup (it does not take part in these requests).
  const users = `  ci-robot: {password: "${await hashPassword("robot-password", 10)}"}`;
  const acl = `  - match: {name: "\${labels:groups}-shared/*"}\n    actions: ["pull", "push"]`;
  const section = (tls: string) =>
    [
      "ldap_auth:",
      `  addr: "127.0.0.1:${slapd.port}"`,
      `  tls: ${tls}`,
      `  ca_certificate: "${slapd.caFile}"`,
      `  bind_dn: "${READER_DN}"`,
      `  bind_password_file: "${pwFile}"`,
      `  base: "${PEOPLE}"`,
      '  filter: "(&(uid=${account})(objectClass=inetOrgPerson))"',
      "  labels: {groups: {attribute: memberOf, parse_cn: true}}",
    ].join("\n");
  const common = {
    keyType: "ec" as const,
    connections: 32,
    expect: 200,
    allCores: false,
    users,
    acl,
    path: "/auth?service=bench&scope=repository:dev-shared/app:pull,push",
    auth: `Basic ${Buffer.from("alice:alice-password").toString("base64")}`,
  };
  const off = "\ncredential_cache: {ttl_seconds: 0}";
  return {
    cases: [
      { ...common, id: IDS[0]!, name: NAMES[0]!, extra: section("none") },
      { ...common, id: IDS[1]!, name: NAMES[1]!, extra: section("none") + off },
      { ...common, id: IDS[2]!, name: NAMES[2]!, extra: section("starttls") + off },
    ],
    pids: [slapd.pid()!],
    stop: () => slapd.destroy(),
  };
}
