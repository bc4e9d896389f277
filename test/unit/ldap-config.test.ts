// ldap_auth as docker_auth writes it, regauth's additions, and the problems reported at load.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { knownKeysAt } from "../../src/config/schema.js";
import { parseGoDuration } from "../../src/config/duration.js";
import { parseLdapAddr, type LdapAuthConfig } from "../../src/backends/ldap/section.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";
import { writeKeyPair } from "../helpers/regauth.js";

let dir: string;
let caFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-ldap-config-"));
  caFile = (await writeKeyPair(dir, "ca", "ec")).cert;
  await writeFile(join(dir, "bind-pw"), "  s3cret \n");
  await writeFile(join(dir, "empty-pw"), "\n");
  await writeFile(join(dir, "not-pem"), "hello\n");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = ['server: {addr: ":5001", certificate: /x.pem, key: /x.key}', "token: {issuer: i, expiration: 900}", "acl: []", "ldap_auth:"];

function text(ldap: string[]): string {
  return [...HEAD, ...ldap.map((l) => `  ${l}`)].join("\n");
}

async function load(ldap: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const cfg = await parseConfig("auth.yml", text(ldap), dir);
    return { cfg, ldap: cfg.sections.get("ldap_auth") as LdapAuthConfig };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function issues(ldap: string[]): Promise<readonly ConfigIssue[]> {
  try {
    await parseConfig("auth.yml", text(ldap), dir);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues;
  }
  assert.fail("the config was accepted");
}

async function oneIssue(ldap: string[], key: string, ...fragments: (string | RegExp)[]): Promise<void> {
  const list = await issues(ldap);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, key, JSON.stringify(list[0]));
  for (const f of fragments) assert.match(list[0]!.message, typeof f === "string" ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : f);
}

const BASIC = ['addr: "ldap.example.com:389"', 'base: "ou=people,dc=example,dc=org"', 'filter: "(&(uid=${account})(objectClass=person))"'];

test("docker_auth's reference ldap_auth section loads with its meaning", async () => {
  const { cfg, ldap } = await load([
    "addr: ldap.example.com:636",
    "tls: always",
    "insecure_tls_skip_verify: false",
    `ca_certificate: "${caFile}"`,
    "bind_dn: cn=reader,dc=example,dc=com",
    "bind_password_file: bind-pw",
    "base: o=example.com",
    "filter: (&(uid=${account})(objectClass=person))",
    "labels:",
    "  title:",
    "    attribute: title",
    "  groups:",
    "    attribute: memberOf",
    "    parse_cn: true",
    "    lower_case: true",
  ]);
  assert.equal(cfg.users, undefined);
  assert.deepEqual(ldap.servers, [{ addr: "ldap.example.com:636", host: "ldap.example.com", port: 636, tls: "always" }]);
  assert.equal(ldap.insecureSkipVerify, false);
  assert.match(ldap.ca!, /BEGIN CERTIFICATE/);
  assert.equal(ldap.bindDn, "cn=reader,dc=example,dc=com");
  assert.equal(ldap.bindPassword!.reveal(), "s3cret", "read from the file (relative to the working dir) and trimmed, as docker_auth does");
  assert.equal(String(ldap.bindPassword), "***");
  assert.equal(ldap.base, "o=example.com");
  assert.equal(ldap.filter, "(&(uid=${account})(objectClass=person))");
  assert.deepEqual(ldap.labels, [
    ["title", { attribute: "title", parseCn: false, lowerCase: false }],
    ["groups", { attribute: "memberOf", parseCn: true, lowerCase: true }],
  ]);
  assert.equal(ldap.initialBindAsUser, false);
  assert.equal(ldap.groupSearch, undefined);
  assert.deepEqual([ldap.poolSize, ldap.connectTimeoutMs, ldap.timeoutMs, ldap.idleTimeoutMs], [10, 5000, 10000, 60000]);
});

test("tls: empty or unset means none, except on port 636 (always); none stays none there; starttls", async () => {
  const mode = async (tls: string | undefined, addr: string) => (await load([`addr: "${addr}"`, ...(tls === undefined ? [] : [`tls: ${tls}`]), ...BASIC.slice(1)])).ldap.servers[0]!.tls;
  assert.equal(await mode(undefined, "h:389"), "none");
  assert.equal(await mode('""', "h:389"), "none");
  assert.equal(await mode(undefined, "h:636"), "always");
  assert.equal(await mode('""', "h:636"), "always");
  assert.equal(await mode("none", "h:636"), "none");
  assert.equal(await mode("starttls", "h:389"), "starttls");
  assert.equal(await mode("always", "h:10636"), "always");
  await oneIssue(["tls: startls", ...BASIC], "ldap_auth.tls", 'unknown tls mode "startls"', 'did you mean "starttls"?');
  await oneIssue(["tls: yes", ...BASIC], "ldap_auth.tls", "use none");
});

test("initial_bind_as_user: bind_dn is a template with ${account}; the bind password is not needed", async () => {
  const { ldap, cfg } = await load([...BASIC, "initial_bind_as_user: true", 'bind_dn: "uid=${account},ou=people,dc=example,dc=org"', "bind_password_file: bind-pw"]);
  assert.equal(ldap.initialBindAsUser, true);
  assert.equal(ldap.bindDn, "uid=${account},ou=people,dc=example,dc=org");
  assert.equal(ldap.bindPassword, undefined);
  assert.match(cfg.warnings.join("\n"), /bind password is not used with initial_bind_as_user/);
  await oneIssue([...BASIC, "initial_bind_as_user: true", 'bind_dn: "cn=reader,dc=example,dc=org"'], "ldap_auth.bind_dn", "must contain ${account}");
  await oneIssue([...BASIC, "initial_bind_as_user: true"], "ldap_auth.initial_bind_as_user", "must contain ${account}");
});

test("the search bind's password: from a file or an environment variable; never empty; one of the two", async () => {
  const env = await load([...BASIC, "bind_dn: cn=reader", "bind_password_env: LDAP_TEST_BIND_PW"], { LDAP_TEST_BIND_PW: "from-env" });
  assert.equal(env.ldap.bindPassword!.reveal(), "from-env");
  await oneIssue([...BASIC, "bind_dn: cn=reader"], "ldap_auth.bind_dn", "needs bind_password_file");
  await oneIssue([...BASIC, "bind_dn: cn=reader", "bind_password_file: empty-pw"], "ldap_auth.bind_password_file", "empty", "anonymous");
  await oneIssue([...BASIC, "bind_dn: cn=reader", "bind_password_file: missing-file"], "ldap_auth.bind_password_file", "cannot read missing-file: ENOENT");
  await oneIssue([...BASIC, "bind_dn: cn=reader", "bind_password_env: LDAP_TEST_UNSET_VAR"], "ldap_auth.bind_password_env", "LDAP_TEST_UNSET_VAR is not set");
  const both = await issues([...BASIC, "bind_dn: cn=reader", "bind_password_file: bind-pw", "bind_password_env: X"]);
  assert.ok(both.some((i) => i.key === "ldap_auth.bind_password_env" && /only one/.test(i.message)), JSON.stringify(both));
  // No bind_dn: anonymous search; a password then is pointless and says so.
  const anon = await load([...BASIC, "bind_password_file: bind-pw"]);
  assert.equal(anon.ldap.bindDn, "");
  assert.equal(anon.ldap.bindPassword, undefined);
  assert.match(anon.cfg.warnings.join("\n"), /bind_dn is empty/);
});

test("required keys, filters and addresses are checked at load, not at the first login", async () => {
  const missing = await issues(["tls: none"]);
  assert.deepEqual(
    missing.map((i) => i.message.split(" ")[0]),
    ["ldap_auth.addr", "ldap_auth.base", "ldap_auth.filter"],
  );
  await oneIssue(['addr: "h:389"', "base: o=x", "filter: (uid=alice)"], "ldap_auth.filter", "must contain ${account}");
  await oneIssue(['addr: "h:389"', "base: o=x", 'filter: "(&(uid=${account})"'], "ldap_auth.filter", "not a valid LDAP filter");
  await oneIssue(['addr: "ldaps://h:636"', ...BASIC.slice(1)], "ldap_auth.addr", "not a URL");
  await oneIssue(['addr: "h"', ...BASIC.slice(1)], "ldap_auth.addr", "host:port");
  await oneIssue(['addr: "h:99999"', ...BASIC.slice(1)], "ldap_auth.addr", "out of range");
  await oneIssue([...BASIC, `ca_certificate: "${join(dir, "nope.crt")}"`], "ldap_auth.ca_certificate", "Error loading CA File", "ENOENT");
  await oneIssue([...BASIC, "ca_certificate: not-pem"], "ldap_auth.ca_certificate", "Couldn't parse PEM in: not-pem");
  await oneIssue([...BASIC, "labels: {groups: {parse_cn: true}}"], "ldap_auth.labels.groups.attribute", "label groups is missing 'attribute'");
  await oneIssue([...BASIC, "labels: {groups: }"], "ldap_auth.labels.groups", "missing 'attribute'");
});

test("typos anywhere in ldap_auth are errors with the nearest key suggested", async () => {
  await oneIssue([...BASIC, "bind_password_fle: x"], "ldap_auth.bind_password_fle", 'did you mean "bind_password_file"?');
  await oneIssue([...BASIC, "labels: {groups: {attribute: memberOf, parse_nc: true}}"], "ldap_auth.labels.groups.parse_nc", 'did you mean "parse_cn"?');
  await oneIssue([...BASIC, 'group_search: {base: "o=x", filter: "(member=${dn})", atribute: cn}'], "ldap_auth.group_search.atribute", 'did you mean "attribute"?');
  assert.ok(knownKeysAt(["ldap_auth", "labels", "anything"]).includes("lower_case"));
});

test("regauth additions: failover addresses, group search, pool and timeouts", async () => {
  const { ldap } = await load([
    ...BASIC,
    'failover_addrs: ["ldap2.example.com:389", "[::1]:636"]',
    "group_search:",
    '  base: "ou=groups,dc=example,dc=org"',
    '  filter: "(&(objectClass=groupOfNames)(member=${dn}))"',
    "pool_size: 4",
    "connect_timeout: 1500ms",
    "timeout: 2s",
    "idle_timeout: 1m30s",
  ]);
  assert.deepEqual(
    ldap.servers.map((s) => [s.host, s.port, s.tls]),
    [
      ["ldap.example.com", 389, "none"],
      ["ldap2.example.com", 389, "none"],
      ["::1", 636, "always"],
    ],
  );
  assert.deepEqual(ldap.groupSearch, { base: "ou=groups,dc=example,dc=org", filter: "(&(objectClass=groupOfNames)(member=${dn}))", attribute: "cn", label: "groups", parseCn: false, lowerCase: false });
  assert.deepEqual([ldap.poolSize, ldap.connectTimeoutMs, ldap.timeoutMs, ldap.idleTimeoutMs], [4, 1500, 2000, 90000]);
  await oneIssue([...BASIC, "timeout: 10"], "ldap_auth.timeout", "a bare number is not one");
  await oneIssue([...BASIC, "timeout: 0s"], "ldap_auth.timeout", "more than 0");
  await oneIssue([...BASIC, "pool_size: 0"], "ldap_auth.pool_size", "between 1 and 1000");
  await oneIssue([...BASIC, 'failover_addrs: ["ldap2"]'], "ldap_auth.failover_addrs[0]", "host:port");
  await oneIssue([...BASIC, 'group_search: {base: "o=x", filter: "(objectClass=groupOfNames)"}'], "ldap_auth.group_search.filter", "${dn}");
  await oneIssue([...BASIC, 'group_search: {filter: "(member=${dn})"}'], "ldap_auth.group_search", "group_search.base is required");
});

test("an ldap_auth section alone is an auth method: no users section needed", async () => {
  const { cfg } = await load(BASIC);
  assert.ok(cfg.sections.has("ldap_auth"));
});

test("Go durations and LDAP addresses", () => {
  assert.equal(parseGoDuration("10s"), 10_000);
  assert.equal(parseGoDuration("1.5s"), 1500);
  assert.equal(parseGoDuration("1h2m3s"), 3_723_000);
  assert.equal(parseGoDuration("250ms"), 250);
  assert.equal(parseGoDuration("0"), 0);
  for (const bad of ["", "10", "s", "10 s", "1d", "-1s"]) assert.equal(parseGoDuration(bad), undefined, bad);
  assert.deepEqual(parseLdapAddr("ldap.example.com:389"), { host: "ldap.example.com", port: 389 });
  assert.deepEqual(parseLdapAddr("[2001:db8::1]:636"), { host: "2001:db8::1", port: 636 });
  assert.equal(typeof parseLdapAddr("2001:db8::1:636"), "string");
  assert.equal(typeof parseLdapAddr(":389"), "string");
});
