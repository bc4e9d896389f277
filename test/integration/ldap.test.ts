// ldap_auth against a real slapd (OpenLDAP 2.5) on loopback: users, groups and memberOf,
// labels into the ACL, refusals, injection, LDAPS and StartTLS, outages, failover, the pool.
// Needs `apt-get install slapd ldap-utils` (in CI a missing slapd fails these tests).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LdapAuthenticator } from "../../src/backends/ldap/authenticator.js";
import { parseConfig } from "../../src/config/load.js";
import type { LdapAuthConfig } from "../../src/backends/ldap/section.js";
import { Secret } from "../../src/secret.js";
import { decodeJwt, testHash, writeKeyPair, type KeyFiles, serveInProcess, type InProcessServer } from "../helpers/regauth.js";
import { eventually } from "../helpers/store-contract.js";
import { GROUPS, PEOPLE, READER_DN, READER_PW, skipWithoutSlapd, startSlapd, type RunningSlapd, type SeedGroup, type SeedUser } from "../helpers/slapd.js";

const skip = await skipWithoutSlapd();

const USERS: SeedUser[] = [
  { uid: "alice", password: "alice-password", extra: ["title: Engineer"] },
  { uid: "bob", password: "bob-password" },
  { uid: "carol", password: "carol-password" },
  // Two entries with one mail address: a filter on mail finds both.
  { uid: "twin1", password: "twin-password", mail: "twins@example.org" },
  { uid: "twin2", password: "twin-password", mail: "twins@example.org" },
];
const GROUP_LIST: SeedGroup[] = [
  { cn: "dev", members: ["alice"] },
  { cn: "ops", members: ["bob"] },
];
const ROBOT = { user: "ci-robot", pass: "robot-password" };
const FILTER = "(&(uid=${account})(objectClass=inetOrgPerson))";

let dir: string;
let keys: KeyFiles;
let robotHash: string;
let ldap: RunningSlapd;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), "regauth-ldap-it-"));
  keys = await writeKeyPair(dir, "token", "ec");
  robotHash = await testHash(ROBOT.pass);
  await writeFile(join(dir, "bind-password"), `${READER_PW}\n`);
  await writeFile(join(dir, "wrong-bind-password"), "not-the-password\n");
  ldap = await startSlapd({ users: USERS, groups: GROUP_LIST });
});

after(async () => {
  await ldap?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface LdapOpts {
  port?: number;
  extra?: string[];
  /** Replaces the search-account lines (bind_dn, bind_password_file). */
  bind?: string[];
  filter?: string;
  tls?: string;
}

function ldapSection(o: LdapOpts = {}): string {
  const lines = [
    `addr: "127.0.0.1:${o.port ?? ldap.port}"`,
    ...(o.tls ? [`tls: ${o.tls}`] : []),
    ...(o.bind ?? [`bind_dn: "${READER_DN}"`, `bind_password_file: "${join(dir, "bind-password")}"`]),
    `base: "${PEOPLE}"`,
    `filter: "${o.filter ?? FILTER}"`,
    "labels:",
    "  groups: {attribute: memberOf, parse_cn: true, lower_case: true}",
    "  title: {attribute: title}",
    ...(o.extra ?? []),
  ];
  return `ldap_auth:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
}

function configText(o: LdapOpts = {}, withRobot = true): string {
  return `
server: {addr: "127.0.0.1:0"}
token: {issuer: "ldap-it", expiration: 300, certificate: "${keys.cert}", key: "${keys.key}"}
credential_cache: {ttl_seconds: 0}
${withRobot ? `users:\n  "${ROBOT.user}": {password: "${robotHash}", labels: {groups: [ci]}}` : ""}
${ldapSection(o)}
acl:
  - match: {account: "${ROBOT.user}", name: "ci/*"}
    actions: ["pull", "push"]
  - match: {name: "\${labels:groups}-shared/*"}
    actions: ["pull", "push"]
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
`;
}

async function ldapConfig(o: LdapOpts = {}): Promise<LdapAuthConfig> {
  return (await parseConfig("ldap.yml", configText(o), dir)).sections.get("ldap_auth") as LdapAuthConfig;
}

type Server = InProcessServer;
const serve = (text: string): Promise<Server> => serveInProcess("ldap.yml", text, dir);

interface TokenAnswer {
  status: number;
  body: { token?: string; errors?: { code: string; message: string }[] };
  text: string;
}

async function token(s: Server, user: string, pass: string, scope = "repository:dev-shared/app:push,pull"): Promise<TokenAnswer> {
  const res = await fetch(`${s.url}/auth?service=registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` },
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

/** The client is told the directory is unusable, without its address or bind DN; the log has the detail. */
async function assertBackendDetail(s: Server, a: TokenAnswer, detail: RegExp): Promise<void> {
  assert.equal(a.body.errors![0]!.message, "LDAP: the directory cannot be used right now; try again later");
  assert.ok(!a.text.includes("127.0.0.1") && !a.text.includes("dc=example"), a.text);
  // The request line is written at the end of the turn after the answer.
  await eventually(async () => {
    const logged = s
      .logs()
      .split("\n")
      .filter((l) => l.includes('"event":"token"'))
      .map((l) => JSON.parse(l) as { status: number; detail?: string })
      .filter((l) => l.status === 503)
      .map((l) => l.detail ?? "");
    assert.ok(logged.some((d) => detail.test(d)), `no logged detail matches ${detail}: ${JSON.stringify(logged)}`);
  }, 5000);
}

function granted(a: TokenAnswer): string[] {
  assert.equal(a.status, 200, a.text);
  const access = decodeJwt(a.body.token!).payload.access as { actions: string[] }[];
  return access[0]!.actions;
}

const secret = (s: string) => new Secret(s);

describe("ldap_auth against slapd", { skip }, () => {
  let s: Server;
  before(async () => {
    if (!skip) s = await serve(configText());
  });
  after(async () => {
    await s?.close();
  });

  test("a user in group dev (memberOf, parse_cn) pushes dev-shared/*; a user in ops does not", async () => {
    assert.deepEqual(granted(await token(s, "alice", "alice-password")), ["pull", "push"]);
    assert.deepEqual(granted(await token(s, "bob", "bob-password")), []);
    assert.deepEqual(granted(await token(s, "bob", "bob-password", "repository:ops-shared/app:push")), ["push"]);
    assert.deepEqual(granted(await token(s, "carol", "carol-password", "repository:carol/app:push")), ["push"]);
  });

  test("labels come from the entry's attributes as configured", async () => {
    const a = new LdapAuthenticator(await ldapConfig());
    try {
      assert.deepEqual(await a.authenticate("alice", secret("alice-password")), { kind: "match", labels: { groups: ["dev"], title: ["Engineer"] } });
      // An attribute the entry lacks gives an empty label, as in docker_auth.
      assert.deepEqual(await a.authenticate("carol", secret("carol-password")), { kind: "match", labels: { groups: [], title: [] } });
    } finally {
      await a.stop();
    }
  });

  test("a wrong password, an unknown user and an empty password all get the same 401", async () => {
    const wrong = await token(s, "alice", "bob-password");
    const unknown = await token(s, "mallory", "alice-password");
    const empty = await token(s, "alice", "");
    for (const r of [wrong, unknown, empty]) {
      assert.equal(r.status, 401, r.text);
      assert.equal(r.text, wrong.text);
    }
  });

  test("an empty password never reaches the directory (it would be an anonymous bind)", async () => {
    const a = new LdapAuthenticator(await ldapConfig());
    try {
      assert.deepEqual(await a.authenticate("alice", secret("")), { kind: "no-match" });
      assert.deepEqual(await a.authenticate("", secret("alice-password")), { kind: "no-match" });
      assert.equal(a.poolSize, 0, "no connection was opened");
    } finally {
      await a.stop();
    }
  });

  test("injection strings in the account log no one in", async () => {
    // The first three would find exactly alice if put into the filter unescaped.
    const attempts = ["al*", "alice)(uid=*", "*)(memberOf=cn=dev,ou=groups,dc=example,dc=org", "*", "*)(uid=*", "*)(|(objectClass=*))", "alice\\", "alice\0", "(", ")"];
    for (const account of attempts) {
      const r = await token(s, account, "alice-password");
      assert.equal(r.status, 401, `${JSON.stringify(account)}: ${r.text}`);
    }
    // The same with initial_bind_as_user, where the account also goes into a DN.
    const a = new LdapAuthenticator(await ldapConfig({ bind: ["initial_bind_as_user: true", `bind_dn: "uid=\${account},${PEOPLE}"`] }));
    try {
      for (const account of [...attempts, `alice,${PEOPLE}`, "alice+cn=alice", "x,uid=alice", "#alice"]) {
        const r = await a.authenticate(account, secret("alice-password"));
        assert.equal(r.kind, "denied", JSON.stringify(account));
      }
      assert.equal((await a.authenticate("alice", secret("alice-password"))).kind, "match");
    } finally {
      await a.stop();
    }
  });

  test("a filter that finds several entries is a failed login, even with the right password", async () => {
    const a = new LdapAuthenticator(await ldapConfig({ filter: "(mail=${account})" }));
    try {
      assert.equal((await a.authenticate("twins@example.org", secret("twin-password"))).kind, "denied");
      assert.equal((await a.authenticate("nobody@example.org", secret("twin-password"))).kind, "denied");
    } finally {
      await a.stop();
    }
  });

  test("initial_bind_as_user: the user's own bind finds and checks the entry", async () => {
    const a = new LdapAuthenticator(await ldapConfig({ bind: ["initial_bind_as_user: true", `bind_dn: "uid=\${account},${PEOPLE}"`] }));
    try {
      assert.deepEqual(await a.authenticate("alice", secret("alice-password")), { kind: "match", labels: { groups: ["dev"], title: ["Engineer"] } });
      assert.equal((await a.authenticate("alice", secret("wrong"))).kind, "denied");
      assert.equal((await a.authenticate("mallory", secret("alice-password"))).kind, "denied");
    } finally {
      await a.stop();
    }
  });

  test("stillExists (asked before a refresh token is honoured): the search account finds the entry or not", async () => {
    const a = new LdapAuthenticator(await ldapConfig());
    const asUser = new LdapAuthenticator(await ldapConfig({ bind: ["initial_bind_as_user: true", `bind_dn: "uid=\${account},${PEOPLE}"`] }));
    try {
      assert.equal(await a.stillExists("alice"), true);
      assert.equal(await a.stillExists("mallory"), false);
      assert.equal(await a.stillExists("*"), false, "a filter metacharacter is escaped, not a wildcard");
      assert.equal(await a.stillExists("twins@example.org"), false);
      assert.equal(await asUser.stillExists("alice"), undefined, "without a search account nothing can be asked");
    } finally {
      await a.stop();
      await asUser.stop();
    }
  });

  test("group membership by search (no memberOf needed), merged into a label of the same name", async () => {
    const gs = (f: string, more: string[] = []) => ["group_search:", `  base: "${GROUPS}"`, `  filter: "${f}"`, ...more];
    const a = new LdapAuthenticator(await ldapConfig({ extra: gs("(&(objectClass=groupOfNames)(member=${dn}))", ["  label: teams", "  lower_case: true"]) }));
    const b = new LdapAuthenticator(await ldapConfig({ extra: gs("(&(objectClass=groupOfNames)(member=${dn}))") }));
    try {
      assert.deepEqual(await a.authenticate("alice", secret("alice-password")), { kind: "match", labels: { groups: ["dev"], title: ["Engineer"], teams: ["dev"] } });
      assert.deepEqual(await a.authenticate("carol", secret("carol-password")), { kind: "match", labels: { groups: [], title: [], teams: [] } });
      // Same label as the memberOf one: values merged without duplicates.
      assert.deepEqual(await b.authenticate("alice", secret("alice-password")), { kind: "match", labels: { groups: ["dev"], title: ["Engineer"] } });
      assert.deepEqual(await b.authenticate("bob", secret("bob-password")), { kind: "match", labels: { groups: ["ops"], title: [] } });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    // Through the ACL, with memberOf not read at all.
    const only = await serve(configText({ extra: gs("(member=${dn})") }).replace(/ {4}groups: \{attribute: memberOf[^\n]*\n/, ""));
    try {
      assert.deepEqual(granted(await token(only, "alice", "alice-password")), ["pull", "push"]);
      assert.deepEqual(granted(await token(only, "bob", "bob-password")), []);
    } finally {
      await only.close();
    }
  });

  test("an unknown user is refused when LDAP is the last method, and passed on when one follows", async () => {
    const last = new LdapAuthenticator(await ldapConfig());
    const notLast = new LdapAuthenticator(await ldapConfig(), { laterMethods: true });
    try {
      assert.deepEqual(await last.authenticate("mallory", secret("x")), { kind: "denied" });
      assert.deepEqual(await notLast.authenticate("mallory", secret("x")), { kind: "no-match" });
      assert.deepEqual(await notLast.authenticate("alice", secret("x")), { kind: "denied" }, "a known user with a wrong password stops the chain");
    } finally {
      await Promise.all([last.stop(), notLast.stop()]);
    }
  });

  test("the search account refused: a 503 that says so, not a 401; a rotated password file is read again", async () => {
    const file = join(dir, "wrong-bind-password");
    const bad = await serve(configText({ bind: [`bind_dn: "${READER_DN}"`, `bind_password_file: "${file}"`] }));
    try {
      const r = await token(bad, "alice", "alice-password");
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.errors![0]!.code, "BACKEND_UNAVAILABLE");
      await assertBackendDetail(bad, r, /^LDAP: .*refused the search account bind_dn "cn=reader,dc=example,dc=org"/);
      assert.ok(!r.text.includes("not-the-password") && !bad.logs().includes("not-the-password"));
      // The file now has the right password (as after a rotation): used without a reload.
      await writeFile(file, `${READER_PW}\n`);
      assert.deepEqual(granted(await token(bad, "alice", "alice-password")), ["pull", "push"]);
      assert.match(bad.logs(), /"event":"ldap_bind_password_reread"/);
      assert.ok(!bad.logs().includes(READER_PW));
    } finally {
      await bad.close();
    }
  });

  test("the pool stays within pool_size under concurrent logins and reuses its connections", async () => {
    const a = new LdapAuthenticator(await ldapConfig({ extra: ["pool_size: 3"] }));
    try {
      let most = 0;
      const watch = setInterval(() => (most = Math.max(most, a.poolSize)), 0);
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => a.authenticate(i % 2 ? "alice" : "bob", secret(i % 2 ? "alice-password" : "bob-password"))));
      clearInterval(watch);
      most = Math.max(most, a.poolSize);
      assert.ok(results.every((r) => r.kind === "match"), JSON.stringify(results.filter((r) => r.kind !== "match")));
      assert.ok(most >= 1 && most <= 3, `pool grew to ${most}`);
      assert.ok(a.poolSize <= 3);
    } finally {
      await a.stop();
    }
  });
});

describe("LDAP over TLS with a CA file", { skip }, () => {
  const ca = () => [`ca_certificate: "${ldap.caFile}"`];

  test("ldaps (tls: always) and StartTLS both work", async () => {
    for (const o of [{ port: ldap.tlsPort, tls: "always" }, { port: ldap.port, tls: "starttls" }]) {
      const a = new LdapAuthenticator(await ldapConfig({ ...o, extra: ca() }));
      try {
        assert.deepEqual(await a.authenticate("alice", secret("alice-password")), { kind: "match", labels: { groups: ["dev"], title: ["Engineer"] } }, o.tls);
        assert.equal((await a.authenticate("alice", secret("nope"))).kind, "denied", o.tls);
      } finally {
        await a.stop();
      }
    }
  });

  test("without the CA the certificate is refused with a 503 naming the reason; insecure_tls_skip_verify skips the check", async () => {
    for (const o of [{ port: ldap.tlsPort, tls: "always" }, { port: ldap.port, tls: "starttls" }]) {
      const s = await serve(configText(o));
      try {
        const r = await token(s, "alice", "alice-password");
        assert.equal(r.status, 503, r.text);
        await assertBackendDetail(s, r, /^LDAP: cannot connect to the directory \(127\.0\.0\.1:\d+: .*certificate/i);
        // The static robot is checked first and does not need LDAP.
        assert.equal((await token(s, ROBOT.user, ROBOT.pass, "repository:ci/app:push")).status, 200);
      } finally {
        await s.close();
      }
      const a = new LdapAuthenticator(await ldapConfig({ ...o, extra: ["insecure_tls_skip_verify: true"] }));
      try {
        assert.equal((await a.authenticate("alice", secret("alice-password"))).kind, "match", o.tls);
      } finally {
        await a.stop();
      }
    }
  });
});

describe("LDAP outages", { skip }, () => {
  for (const tls of ["none", "starttls", "always"]) {
  test(`LDAP (tls: ${tls}) stopped mid-run: 503 with a clear message, the static robot still works; LDAP back: logins work again without a restart`, async () => {
    const own = await startSlapd({ users: USERS, groups: GROUP_LIST });
    const port = tls === "always" ? own.tlsPort : own.port;
    const s = await serve(configText({ port, tls, extra: ["connect_timeout: 2s", "timeout: 2s", `ca_certificate: "${own.caFile}"`] }));
    try {
      assert.equal((await token(s, "alice", "alice-password")).status, 200);
      await own.stop();
      const down = await token(s, "alice", "alice-password");
      assert.equal(down.status, 503, down.text);
      assert.equal(down.body.errors![0]!.code, "BACKEND_UNAVAILABLE");
      await assertBackendDetail(s, down, new RegExp(`^LDAP: cannot connect to the directory \\(127\\.0\\.0\\.1:${port}: connection refused\\)$`));
      const robot = await token(s, ROBOT.user, ROBOT.pass, "repository:ci/app:push");
      assert.deepEqual(granted(robot), ["push"]);
      // The password never shows up in answers or logs.
      assert.ok(!down.text.includes("alice-password") && !s.logs().includes("alice-password"));
      assert.match(s.logs(), /"event":"ldap_server_down"/);
      await own.start();
      assert.deepEqual(granted(await token(s, "alice", "alice-password")), ["pull", "push"]);
    } finally {
      await s.close();
      await own.destroy();
    }
  });
  }

  test("readiness and regauth_backend_up follow slapd: down while it is stopped, up once it is back", async () => {
    const own = await startSlapd({ users: USERS, groups: GROUP_LIST });
    const s = await serve(configText({ port: own.port, extra: ["connect_timeout: 2s", "timeout: 2s"] }));
    const state = async () => {
      const r = await fetch(`${s.url}/readyz`);
      const body = (await r.json()) as { backends: Record<string, { ok: boolean }> };
      const up = /^regauth_backend_up\{backend="ldap_auth"\} (\d)$/m.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1];
      return { status: r.status, ldap: body.backends["ldap_auth"]?.ok, up };
    };
    try {
      assert.deepEqual(await state(), { status: 200, ldap: true, up: "1" });
      await own.stop();
      assert.deepEqual(await state(), { status: 503, ldap: false, up: "0" });
      await own.start();
      assert.deepEqual(await state(), { status: 200, ldap: true, up: "1" });
      assert.match(s.logs(), /"event":"backend_not_ready","backend":"ldap_auth"/);
      assert.match(s.logs(), /"event":"backend_ready","backend":"ldap_auth"/);
    } finally {
      await s.close();
      await own.destroy();
    }
  });

  test("LDAP that accepts connections but never answers: 503 after the timeout; it answers again once resumed", async () => {
    const own = await startSlapd({ users: USERS, groups: GROUP_LIST });
    const s = await serve(configText({ port: own.port, extra: ["connect_timeout: 2s", "timeout: 1s"] }));
    try {
      assert.equal((await token(s, "alice", "alice-password")).status, 200);
      own.pause();
      const slow = await token(s, "alice", "alice-password");
      assert.equal(slow.status, 503, slow.text);
      await assertBackendDetail(s, slow, /^LDAP: 127\.0\.0\.1:\d+ did not answer .* within 1 s$/);
      own.resume();
      assert.deepEqual(granted(await token(s, "alice", "alice-password")), ["pull", "push"]);
    } finally {
      own.resume();
      await s.close();
      await own.destroy();
    }
  });

  test("failover: an unreachable first server is passed over; the next one answers; the first is used again once back", async () => {
    const a = await startSlapd({ users: USERS.map((u) => (u.uid === "alice" ? { ...u, extra: ["title: from-a"] } : u)), groups: GROUP_LIST });
    const b = await startSlapd({ users: USERS.map((u) => (u.uid === "alice" ? { ...u, extra: ["title: from-b"] } : u)), groups: GROUP_LIST });
    const title = async (auth: LdapAuthenticator) => {
      const r = await auth.authenticate("alice", secret("alice-password"));
      assert.equal(r.kind, "match", JSON.stringify(r));
      return r.kind === "match" ? r.labels.title?.[0] : undefined;
    };
    const auth = new LdapAuthenticator(await ldapConfig({ port: a.port, extra: [`failover_addrs: ["127.0.0.1:${b.port}"]`, "idle_timeout: 1s"] }), { retryDownMs: 100 });
    try {
      assert.equal(await title(auth), "from-a");
      await a.stop();
      assert.equal(await title(auth), "from-b");
      assert.equal(await title(auth), "from-b");
      await a.start();
      // Checked again in the background; connections to b are dropped once a works.
      const deadline = Date.now() + 15_000;
      let t = await title(auth);
      while (t !== "from-a" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        t = await title(auth);
      }
      assert.equal(t, "from-a");
    } finally {
      await auth.stop();
      await Promise.all([a.destroy(), b.destroy()]);
    }
    // A first server that never was reachable.
    const c = await startSlapd({ users: USERS });
    const dead = await startSlapd();
    const deadPort = dead.port;
    await dead.destroy();
    const auth2 = new LdapAuthenticator(await ldapConfig({ port: deadPort, extra: [`failover_addrs: ["127.0.0.1:${c.port}"]`] }));
    try {
      assert.equal((await auth2.authenticate("alice", secret("alice-password"))).kind, "match");
    } finally {
      await auth2.stop();
      await c.destroy();
    }
  });
});
