// The LDAP cases of `npm run bench`: an LDAP user (search + bind + memberOf label) pushing to
// dev-shared/* through an ACL on ${labels:groups}, against a throwaway slapd on loopback,
// with and without the verified-credential cache. bench/run.ts runs them with the others.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashPassword } from "../src/authn/bcrypt.js";
import type { Case } from "./run.js";
import { PEOPLE, READER_DN, READER_PW, slapdMissing, startSlapd, type RunningSlapd } from "../test/helpers/slapd.js";

export type LdapBenchCase = Case;

export interface LdapBench {
  cases: LdapBenchCase[];
  /** Why the LDAP cases are missing, when they are. */
  note?: string;
  stop(): Promise<void>;
}

const NAMES = ["LDAP user, cache on, ES256", "LDAP user, cache off, ES256", "LDAP user, cache off, StartTLS, ES256"];

/** Start slapd (only when an LDAP case is selected by BENCH_ONLY) and describe the cases. */
export async function ldapBench(dir: string, only: string | undefined): Promise<LdapBench> {
  const none: LdapBench = { cases: [], stop: async () => {} };
  if (only && !NAMES.some((n) => n.includes(only))) return none;
  const missing = await slapdMissing();
  if (missing) return { ...none, note: `LDAP cases skipped: ${missing}` };
  const slapd: RunningSlapd = await startSlapd({ users: [{ uid: "alice", password: "alice-password" }], groups: [{ cn: "dev", members: ["alice"] }] });
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
    users,
    acl,
    path: "/auth?service=bench&scope=repository:dev-shared/app:pull,push",
    auth: `Basic ${Buffer.from("alice:alice-password").toString("base64")}`,
  };
  const off = "\ncredential_cache: {ttl_seconds: 0}";
  return {
    cases: [
      { ...common, name: NAMES[0]!, extra: section("none") },
      { ...common, name: NAMES[1]!, extra: section("none") + off },
      { ...common, name: NAMES[2]!, extra: section("starttls") + off },
    ],
    stop: () => slapd.destroy(),
  };
}
