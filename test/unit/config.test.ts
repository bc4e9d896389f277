// parseConfig reads docker_auth's YAML as docker_auth (Go, yaml.v2) reads it, and
// reports every problem as a ConfigError issue with file, line and key.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { knownKeysAt } from "../../src/config/schema.js";
import { nearest } from "../../src/config/suggest.js";
import type { Config } from "../../src/config/types.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

// docker_auth's reference hashes: "badmin" and "123" (htpasswd -nB, cost 5).
const HASH_ADMIN = "$2y$05$LO.vzwpWC5LZGqThvEfznu8qhb5SGqvBSWY1J3yZ4AxtMRZ3kN5jC";
const HASH_TEST = "$2y$05$WuwBasGDAgr.QCbGIjKJaep4dhxeai9gNZdmBnQXqpKly57oNutya";

/** A small valid config, one line per item so that tests can point at lines. */
function minimal(): string[] {
  return [
    "server:", //                          1
    '  addr: ":5001"', //                  2
    "  certificate: /etc/auth/server.pem", // 3
    "  key: /etc/auth/server.key", //      4
    "token:", //                           5
    "  issuer: Acme", //                   6
    "  expiration: 900", //                7
    "users:", //                           8
    "  admin:", //                         9
    `    password: "${HASH_ADMIN}"`, //    10
    "acl:", //                             11
    "  - match: {account: admin}", //      12
    '    actions: ["*"]', //               13
  ];
}

/** Replace lines (1-based) of the minimal config, or append when `line` is past the end. */
function edit(edits: Record<number, string | null>, base = minimal()): string {
  const lines: (string | null)[] = [...base];
  for (const [n, text] of Object.entries(edits)) lines[Number(n) - 1] = text;
  return lines.filter((l) => l !== null && l !== undefined).join("\n");
}

async function issuesOf(text: string, file = "auth.yml"): Promise<readonly ConfigIssue[]> {
  try {
    await parseConfig(file, text);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(e.issues.length > 0);
    assert.equal(e.status, 500);
    return e.issues;
  }
  assert.fail("the config was accepted");
}

/** Exactly one issue, at this key and line, whose message has every fragment. */
async function oneIssue(text: string, key: string | undefined, line: number, ...fragments: (string | RegExp)[]): Promise<ConfigIssue> {
  const issues = await issuesOf(text);
  assert.equal(issues.length, 1, `expected one issue, got ${JSON.stringify(issues)}`);
  const i = issues[0]!;
  assert.equal(i.file, "auth.yml");
  assert.equal(i.key, key);
  assert.equal(i.line, line, `line of ${JSON.stringify(i)}`);
  for (const f of fragments) {
    if (typeof f === "string") assert.ok(i.message.includes(f), `message ${JSON.stringify(i.message)} should mention ${JSON.stringify(f)}`);
    else assert.match(i.message, f);
  }
  return i;
}

describe("a docker_auth reference config (minus the sections regauth does not implement yet) is accepted", () => {
  // The structure and ACL of docker_auth's examples/reference.yml, with its commented-out
  // server and token settings switched on (numeric TLS ids included, as its comments allow).
  const reference = `
server:
  addr: ":5001"
  net: "tcp"
  path_prefix: ""
  certificate: "/path/to/server.pem"
  key: "/path/to/server.key"
  hsts: true
  tls_min_version: TLS12
  tls_curve_preferences:
    - P521
    - 24
    - P256
  tls_cipher_suites:
    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    - 0xc014
    - 0xc00a
  real_ip_header: "X-Forwarded-For"
  real_ip_pos: -2

token:
  issuer: "Acme auth server"
  expiration: 900
  certificate: "/path/to/token.pem"
  key: "/path/to/token.key"
  disable_legacy_key_id: false

users:
  "admin":
    password: "${HASH_ADMIN}"
  "test":
    password: "${HASH_TEST}"
  "": {}

acl:
  - match: {ip: "127.0.0.0/8"}
    actions: ["*"]
    comment: "Allow everything from localhost (IPv4)"
  - match: {ip: "::1"}
    actions: ["*"]
    comment: "Allow everything from localhost (IPv6)"
  - match: {ip: "172.17.0.1"}
    actions: ["*"]
    comment: "Allow everything from the local Docker bridge address"
  - match: {account: "admin"}
    actions: ["*"]
    comment: "Admin has full access to everything."
  - match: {account: "test", name: "test-*"}
    actions: ["*"]
    comment: "User \\"test\\" has full access to test-* images but nothing else. (1)"
  - match: {account: "test"}
    actions: []
    comment: "User \\"test\\" has full access to test-* images but nothing else. (2)"
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
  - match: {account: "/.+/", type: "registry", name: "catalog"}
    actions: ["*"]
  - match: {account: "/.+/"}
    actions: ["pull"]
  - match: {account: "", name: "hello-world"}
    actions: ["pull"]
  - match: {account: "/^(.+)@test.com$/", name: "\${account:1}/*"}
    actions: []
  - match: {labels: {"group": "VIP"}}
    actions: ["push"]
  - match: {labels: {"group": "/trainee|dev/"}}
    actions: ["push", "pull"]
  - match: {name: "\${labels:group}-shared/*"}
    actions: ["push", "pull"]
  - match: {name: "\${labels:project}/*"}
    actions: ["push", "pull"]
  - match: {name: "\${labels:project}-{labels:tier}/*"}
    actions: ["push", "pull"]
  - match: {labels: {"title": "Developer"}}
    actions: ["*"]
  - match: {labels: {"groups": "Admin"}}
    actions: ["push"]
`;
  let cfg: Config;
  before(async () => {
    cfg = await parseConfig("reference.yml", reference, "/base");
  });

  test("server", () => {
    assert.equal(cfg.file, "reference.yml");
    assert.equal(cfg.server.addr, ":5001");
    assert.equal(cfg.server.net, "tcp");
    assert.equal(cfg.server.pathPrefix, "");
    assert.equal(cfg.server.certificate, "/path/to/server.pem");
    assert.equal(cfg.server.key, "/path/to/server.key");
    assert.equal(cfg.server.hsts, true);
    assert.equal(cfg.server.realIpHeader, "X-Forwarded-For");
    assert.equal(cfg.server.realIpPos, -2);
  });

  test("TLS settings, names and numeric ids alike, in OpenSSL's terms", () => {
    assert.equal(cfg.server.tls.minVersion, "TLSv1.2");
    // P521, 24 (= P384), P256
    assert.equal(cfg.server.tls.ecdhCurve, "secp521r1:secp384r1:prime256v1");
    // 0xc014 = TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, 0xc00a = TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    assert.equal(cfg.server.tls.ciphers, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA");
  });

  test("token", () => {
    assert.deepEqual(cfg.token, {
      issuer: "Acme auth server",
      expiration: 900,
      certificate: "/path/to/token.pem",
      key: "/path/to/token.key",
      disableLegacyKeyId: false,
    });
  });

  test("users, the anonymous one included", () => {
    assert.deepEqual([...cfg.users!.keys()].sort(), ["", "admin", "test"]);
    assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_ADMIN);
    assert.equal(cfg.users!.get("test")!.passwordHash, HASH_TEST);
    assert.equal(cfg.users!.get("")!.passwordHash, undefined);
    assert.deepEqual(cfg.users!.get("")!.labels, {});
  });

  test("the ACL, in order, with comments and the line of each entry", () => {
    const acl = cfg.acl!;
    assert.equal(acl.length, 18);
    assert.deepEqual(
      acl.map((e) => e.index),
      [...Array(18).keys()],
    );
    assert.deepEqual(acl[0]!.match, { account: undefined, type: undefined, name: undefined, ip: "127.0.0.0/8", service: undefined, labels: undefined });
    assert.deepEqual(acl[0]!.actions, ["*"]);
    assert.equal(acl[0]!.comment, "Allow everything from localhost (IPv4)");
    assert.deepEqual(acl[5]!.actions, []);
    assert.equal(acl[4]!.comment, 'User "test" has full access to test-* images but nothing else. (1)');
    assert.equal(acl[6]!.match.name, "${account}/*");
    assert.equal(acl[6]!.comment, undefined);
    assert.deepEqual(acl[12]!.match.labels, { group: "/trainee|dev/" });
    const lines = reference.split("\n");
    for (const e of acl) {
      assert.equal(e.where.file, "reference.yml");
      assert.match(lines[e.where.line! - 1]!, /^\s+- match:/);
    }
    assert.equal(lines[acl[3]!.where.line! - 1], '  - match: {account: "admin"}');
  });

  test("one warning (its ACL splices ${labels:...} values as pattern syntax), default credential cache", () => {
    assert.equal(cfg.warnings.length, 1, cfg.warnings.join("\n"));
    assert.match(cfg.warnings[0]!, /acl_options: \{label_values: literal\}/);
    assert.deepEqual(cfg.credentialCache, { ttlSeconds: 60, maxEntries: 10_000 });
  });

  test("where() locates any key", () => {
    const line = reference.split("\n").indexOf("  expiration: 900") + 1;
    assert.deepEqual(cfg.where(["token", "expiration"]), { file: "reference.yml", line, column: 3, key: "token.expiration" });
    const name = cfg.where(["acl", 6, "match", "name"]);
    assert.equal(name.key, "acl[6].match.name");
    assert.ok(reference.split("\n")[name.line! - 1]!.includes("${account}/*"));
  });
});

describe("docker_auth's examples/simple.yml is accepted", () => {
  test("as it is", async () => {
    const simple = `
server:
  addr: ":5001"
  certificate: "/path/to/server.pem"
  key: "/path/to/server.key"

token:
  issuer: "Acme auth server"  # Must match issuer in the Registry config.
  expiration: 900
  # disable_legacy_key_id: true

users:
  "admin":
    password: "${HASH_ADMIN}"  # badmin
  "test":
    password: "${HASH_TEST}"  # 123

acl:
  - match: {account: "admin"}
    actions: ["*"]
    comment: "Admin has full access to everything."
  - match: {account: "test"}
    actions: ["pull"]
    comment: "User \\"test\\" can pull stuff."
  # Access is denied by default.
`;
    const cfg = await parseConfig("simple.yml", simple);
    assert.equal(cfg.token.issuer, "Acme auth server");
    assert.equal(cfg.token.expiration, 900);
    assert.equal(cfg.token.disableLegacyKeyId, false);
    // No token key: the server's is used.
    assert.equal(cfg.token.certificate, undefined);
    assert.equal(cfg.users!.size, 2);
    assert.equal(cfg.acl!.length, 2);
    assert.equal(cfg.acl![1]!.comment, 'User "test" can pull stuff.');
    assert.equal(cfg.server.hsts, false);
    assert.equal(cfg.server.net, "tcp");
    assert.equal(cfg.server.realIpPos, 0);
    assert.equal(cfg.server.tls.minVersion, "TLSv1.2");
  });
});

describe("every problem is a ConfigError issue with file, line and key", () => {
  test("the minimal config used below is valid", async () => {
    await parseConfig("auth.yml", edit({}));
  });

  test("unknown top-level key, with the nearest known one suggested", async () => {
    await oneIssue(edit({ 14: "acls: []" }), "acls", 14, 'unknown key "acls"', 'did you mean "acl"?');
  });

  test("unknown key in server", async () => {
    await oneIssue(edit({ 2: '  adr: ":5001"' }), "server.adr", 2, 'unknown key "adr"', 'did you mean "addr"?');
  });

  test("unknown key in a user", async () => {
    await oneIssue(edit({ 10: `    pasword: "${HASH_ADMIN}"` }), "users.admin.pasword", 10, 'did you mean "password"?');
  });

  test("unknown key in an ACL match", async () => {
    await oneIssue(edit({ 12: "  - match: {acount: admin}" }), "acl[0].match.acount", 12, 'did you mean "account"?');
  });

  test("an unknown key that resembles nothing gets no suggestion", async () => {
    const i = await oneIssue(edit({ 7: "  expiration: 900", 8: "  frobnicator: 1", 9: "users:", 10: "  admin:", 11: `    password: "${HASH_ADMIN}"`, 12: "acl:", 13: "  - match: {account: admin}", 14: '    actions: ["*"]' }), "token.frobnicator", 8, 'unknown key "frobnicator"');
    assert.ok(!i.message.includes("did you mean"));
  });

  const typeErrors: [string, Record<number, string | null>, string, number, string][] = [
    ["expiration: soon", { 7: "  expiration: soon" }, "token.expiration", 7, "must be a number"],
    ["expiration quoted (yaml.v2 will not put a string in an int)", { 7: '  expiration: "900"' }, "token.expiration", 7, "must be a number"],
    ["hsts: maybe", { 4: "  key: /k\n  hsts: maybe" }, "server.hsts", 5, "must be true or false"],
    ["actions: pull", { 13: "    actions: pull" }, "acl[0].actions", 13, "must be a list"],
    ["server: a string", { 1: "server: here", 2: "token:", 3: "  issuer: Acme", 4: "  expiration: 900", 5: null, 6: null, 7: null }, "server", 1, "must be a mapping"],
    ["acl: a mapping", { 11: "acl: {account: admin}", 12: null, 13: null }, "acl", 11, "must be a list"],
    ["a user given as a string", { 9: `  admin: "${HASH_ADMIN}"`, 10: null }, "users.admin", 9, "must be a mapping"],
    ["real_ip_pos: last", { 4: "  key: /k\n  real_ip_header: X-Real-IP\n  real_ip_pos: last" }, "server.real_ip_pos", 6, "must be a number"],
  ];
  for (const [name, edits, key, line, message] of typeErrors) {
    test(`wrong type: ${name}`, async () => {
      await oneIssue(edit(edits), key, line, message);
    });
  }

  test("issuer missing", async () => {
    await oneIssue(edit({ 6: null }), "token.issuer", 5, "token.issuer is required");
  });

  test("issuer empty", async () => {
    await oneIssue(edit({ 6: '  issuer: ""' }), "token.issuer", 6, "token.issuer is required");
  });

  for (const value of ["0", "-5"]) {
    test(`expiration: ${value}`, async () => {
      await oneIssue(edit({ 7: `  expiration: ${value}` }), "token.expiration", 7, `expiration must be positive, got ${value}`);
    });
  }

  test("expiration missing", async () => {
    await oneIssue(edit({ 7: null }), "token", 5, "expiration must be positive, got 0");
  });

  test("server.addr missing", async () => {
    await oneIssue(edit({ 2: null }), "server.addr", 1, "server.addr is required");
  });

  test("no users section: no auth methods", async () => {
    await oneIssue(edit({ 8: null, 9: null, 10: null }), undefined, 1, "no auth methods are configured", "empty user map");
  });

  test("an empty users map is fine (deny everyone)", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 8: "users: {}", 9: null, 10: null }));
    assert.equal(cfg.users!.size, 0);
  });

  test("no acl section", async () => {
    await oneIssue(edit({ 11: null, 12: null, 13: null }), undefined, 1, "ACL is empty", "empty list");
  });

  test("an empty acl list is fine (deny all)", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 11: "acl: []", 12: null, 13: null }));
    assert.deepEqual(cfg.acl, []);
  });


  test("gcs_token_db (Google Cloud Storage) is refused by name, with what to use instead", async () => {
    await oneIssue(
      edit({ 14: "google_auth:", 15: "  {client_id: x, client_secret: y, gcs_token_db: {bucket: b, client_secret_file: f}}" }),
      "google_auth.gcs_token_db",
      15,
      "Google Cloud Storage is not offered as a token db",
    );
  });

  const badHashes = ["badmin", "$2y$05$short", `${HASH_ADMIN}x`, HASH_ADMIN.replace("$2y$05$", "$2y$99$"), HASH_ADMIN.replace("$2y$", "$3y$"), ""];
  for (const hash of badHashes) {
    test(`bad bcrypt hash ${JSON.stringify(hash)}`, async () => {
      await oneIssue(edit({ 10: `    password: "${hash}"` }), "users.admin.password", 10, "must be a bcrypt hash", "plaintext passwords are not accepted");
    });
  }

  const goodHashes = [HASH_ADMIN, HASH_ADMIN.replace("$2y$", "$2a$"), HASH_ADMIN.replace("$2y$", "$2b$"), HASH_ADMIN.replace("$05$", "$12$")];
  for (const hash of goodHashes) {
    test(`bcrypt hash accepted: ${hash.slice(0, 7)}...`, async () => {
      const cfg = await parseConfig("auth.yml", edit({ 10: `    password: "${hash}"` }));
      assert.equal(cfg.users!.get("admin")!.passwordHash, hash);
    });
  }

  // docker_auth's TestValidation cases for `ip`, and a few more.
  const ipPatterns: [string, boolean][] = [
    ["192.168.0.1", true],
    ["192.168.0.0/16", true],
    ["2001:db8::1", true],
    ["2001:db8::/48", true],
    ["::ffff:10.0.0.0/104", true],
    ["0.0.0.0/0", true],
    ["192.168.0.1/100", false],
    ["192.168.0.*", false],
    ["foo", false],
    ["2001:db8::/222", false],
    ["10.0.0.300", false],
    ["10.0.0.0/33", false],
    ["10.0.0.0/", false],
    ["10.0.0.0/8/8", false],
    ["010.0.0.1", false],
    ["fe80::1%eth0", false],
    ["", false],
  ];
  for (const [ip, ok] of ipPatterns) {
    test(`ip pattern ${JSON.stringify(ip)} is ${ok ? "accepted" : "refused"}`, async () => {
      const text = edit({ 12: `  - match: {ip: "${ip}"}` });
      if (ok) assert.equal((await parseConfig("auth.yml", text)).acl![0]!.match.ip, ip);
      else await oneIssue(text, "acl[0].match.ip", 12, "invalid IP pattern", JSON.stringify(ip));
    });
  }

  test("a YAML syntax error has its line", async () => {
    const i = await oneIssue(edit({ 10: "\t password: x" }), undefined, 10, "YAML syntax");
    assert.equal(typeof i.column, "number");
  });

  test("a YAML syntax error: a key indented too far", async () => {
    const issues = await issuesOf(edit({ 3: "   certificate: /x" }));
    assert.ok(issues.every((i) => i.file === "auth.yml" && i.line !== undefined && i.message.startsWith("YAML syntax")));
    assert.ok(issues.some((i) => i.line === 2 || i.line === 3), JSON.stringify(issues));
  });

  test("an alias to an unknown anchor", async () => {
    await oneIssue(edit({ 14: "  - match: *nothing", 15: "    actions: []" }), "acl[1].match", 14, 'unknown anchor "nothing"');
  });

  test("the config must be a mapping", async () => {
    await oneIssue("- server\n- token\n", undefined, 1, "must be a YAML mapping");
  });

  test("several problems are reported at once, each at its line (schema)", async () => {
    const issues = await issuesOf(edit({ 2: '  adr: ":5001"', 7: "  expiration: soon", 14: "acls: []" }));
    assert.deepEqual(
      issues.map((i) => [i.key, i.line]).sort(),
      [
        ["acls", 14],
        ["server.adr", 2],
        ["token.expiration", 7],
      ],
    );
  });

  test("several problems are reported at once, each at its line (meaning)", async () => {
    const issues = await issuesOf(edit({ 6: null, 7: "  expiration: 0", 10: '    password: "plain"', 12: '  - match: {ip: "1.2.3"}' }));
    assert.deepEqual(
      issues.map((i) => [i.key, i.line]),
      [
        ["token.issuer", 5],
        ["token.expiration", 6],
        ["users.admin.password", 9],
        ["acl[0].match.ip", 11],
      ],
    );
    assert.ok(issues.every((i) => i.file === "auth.yml"));
  });

  test("the error message lists every issue as file:line:column: key: message", async () => {
    try {
      await parseConfig("auth.yml", edit({ 2: '  adr: ":5001"', 14: "acls: []" }));
      assert.fail("accepted");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      const lines = e.message.split("\n");
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^auth\.yml:2:3: server\.adr: unknown key "adr"/);
      assert.match(lines[1]!, /^auth\.yml:14:1: acls: unknown key "acls"/);
    }
  });
});

describe("other server, token and credential_cache checks", () => {
  const cases: [string, Record<number, string | null>, string | undefined, number, string][] = [
    ["net: udp", { 4: "  key: /k\n  net: udp" }, "server.net", 5, "server.net must be unix or tcp"],
    ["path_prefix not absolute", { 4: "  key: /k\n  path_prefix: auth" }, "server.path_prefix", 5, "must be an absolute path"],
    ["certificate without key", { 4: null }, "server.certificate", 3, "both were not provided"],
    ["token certificate without key", { 7: "  expiration: 900\n  certificate: /t.pem" }, "token.certificate", 8, "both were not provided"],
    ["no key at all", { 3: null, 4: null }, "token", 3, "none provided"],
    ["letsencrypt", { 4: "  key: /k\n  letsencrypt:\n    email: a@b.c" }, "server.letsencrypt", 5, "letsencrypt is not supported"],
    ["real_ip_pos without real_ip_header", { 4: "  key: /k\n  real_ip_pos: -1" }, "server.real_ip_pos", 5, "no effect without real_ip_header"],
    ["SSL 3.0", { 4: "  key: /k\n  tls_min_version: SSL30" }, "server.tls_min_version", 5, "SSL 3.0"],
    ["SSL 3.0 by id", { 4: "  key: /k\n  tls_min_version: 0x0300" }, "server.tls_min_version", 5, "SSL 3.0"],
    ["unknown TLS version", { 4: "  key: /k\n  tls_min_version: TLS14" }, "server.tls_min_version", 5, 'unknown TLS version "TLS14"'],
    ["RC4", { 4: "  key: /k\n  tls_cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]" }, "server.tls_cipher_suites[0]", 5, "RC4"],
    ["RC4 by id", { 4: "  key: /k\n  tls_cipher_suites: [0x0005]" }, "server.tls_cipher_suites[0]", 5, "RC4"],
    ["misspelt suite", { 4: "  key: /k\n  tls_cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265" }, "server.tls_cipher_suites[0]", 6, 'did you mean "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"'],
    ["TLS 1.3 suites", { 4: "  key: /k\n  tls_min_version: TLS13\n  tls_cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]" }, "server.tls_cipher_suites", 6, "TLS 1.3 ciphersuites are not configurable"],
    ["unknown curve", { 4: "  key: /k\n  tls_curve_preferences: [P256, P999]" }, "server.tls_curve_preferences[1]", 5, 'unknown curve "P999"'],
    ["negative cache ttl", { 14: "credential_cache: {ttl_seconds: -1}" }, "credential_cache.ttl_seconds", 14, "must be 0 (off) or more"],
    ["cache max_entries 0", { 14: "credential_cache:", 15: "  max_entries: 0" }, "credential_cache.max_entries", 15, "must be at least 1"],
  ];
  for (const [name, edits, key, line, message] of cases) {
    test(name, async () => {
      await oneIssue(edit(edits), key, line, message);
    });
  }

  const tls: [string, string, Partial<Config["server"]["tls"]>][] = [
    ["tls_min_version: TLS13", "tls_min_version: TLS13", { minVersion: "TLSv1.3" }],
    ["tls_min_version: TLS10", "tls_min_version: TLS10", { minVersion: "TLSv1" }],
    ["tls_min_version: 0x0303", "tls_min_version: 0x0303", { minVersion: "TLSv1.2" }],
    ["tls_min_version: 0x303 (any form Go's ParseUint reads)", "tls_min_version: 0x303", { minVersion: "TLSv1.2" }],
    ["tls_min_version: 772", "tls_min_version: 772", { minVersion: "TLSv1.3" }],
    ["curves by id", "tls_curve_preferences: [29, 0x17, 25]", { ecdhCurve: "X25519:prime256v1:secp521r1" }],
    ["suites by id", "tls_cipher_suites: [0xc02f, 49200, 0xCCA8]", { ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305" }],
  ];
  for (const [name, line, want] of tls) {
    test(name, async () => {
      const cfg = await parseConfig("auth.yml", edit({ 4: `  key: /k\n  ${line}` }));
      for (const [k, v] of Object.entries(want)) assert.equal(cfg.server.tls[k as keyof typeof want], v);
    });
  }

  test("path_prefix loses its trailing slash; relative key paths are resolved against the base directory", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 3: "  certificate: certs/server.pem", 4: "  key: certs/server.key\n  path_prefix: /auth/" }), "/srv/regauth");
    assert.equal(cfg.server.pathPrefix, "/auth");
    assert.equal(cfg.server.certificate, "/srv/regauth/certs/server.pem");
    assert.equal(cfg.server.key, "/srv/regauth/certs/server.key");
  });

  test("credential_cache settings", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 14: "credential_cache: {ttl_seconds: 0, max_entries: 5}" }));
    assert.deepEqual(cfg.credentialCache, { ttlSeconds: 0, maxEntries: 5 });
  });

  test("net: unix", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 2: "  addr: /run/regauth.sock\n  net: unix" }));
    assert.equal(cfg.server.net, "unix");
    assert.equal(cfg.server.addr, "/run/regauth.sock");
  });
});

describe("YAML 1.1, as Go's yaml.v2 reads it", () => {
  const bools: [string, boolean][] = [
    ["yes", true],
    ["Yes", true],
    ["on", true],
    ["ON", true],
    ["true", true],
    ["no", false],
    ["off", false],
    ["false", false],
  ];
  for (const [word, want] of bools) {
    test(`hsts: ${word} is ${want}`, async () => {
      const cfg = await parseConfig("auth.yml", edit({ 4: `  key: /k\n  hsts: ${word}` }));
      assert.equal(cfg.server.hsts, want);
    });
  }

  test("disable_legacy_key_id: yes", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 7: "  expiration: 900\n  disable_legacy_key_id: yes" }));
    assert.equal(cfg.token.disableLegacyKeyId, true);
  });

  // Where a string is expected, a plain scalar is its text, not the number or boolean it would resolve to.
  const texts: [string, string][] = [
    ["1.0", "1.0"],
    ["1.10", "1.10"],
    ["0123", "0123"],
    ["0x1F", "0x1F"],
    ["1e3", "1e3"],
    ["yes", "yes"],
    ["off", "off"],
    ["2024-01-02", "2024-01-02"],
    ["12345678901234567890", "12345678901234567890"],
  ];
  for (const [plain, want] of texts) {
    test(`a plain ${plain} where a string is expected is the text ${JSON.stringify(want)}`, async () => {
      const cfg = await parseConfig("auth.yml", edit({ 6: `  issuer: ${plain}`, 12: `  - match: {service: ${plain}, account: ${plain}}`, 13: `    actions: [${plain}]\n    comment: ${plain}` }));
      assert.equal(cfg.token.issuer, want);
      assert.equal(cfg.acl![0]!.match.service, want);
      assert.equal(cfg.acl![0]!.match.account, want);
      assert.deepEqual(cfg.acl![0]!.actions, [want]);
      assert.equal(cfg.acl![0]!.comment, want);
    });
  }

  test("user names that YAML 1.1 would read as numbers or booleans stay text", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 8: "users:\n  123: {}\n  yes: {}\n  1.50: {}" }));
    assert.deepEqual([...cfg.users!.keys()].sort(), ["1.50", "123", "admin", "yes"]);
  });

  test("anchors, aliases and << merge keys", async () => {
    const text = [
      "server: &srv",
      '  addr: ":5001"',
      "  certificate: /c.pem",
      "  key: /k.pem",
      "token:",
      "  issuer: Acme",
      "  expiration: 900",
      "users:",
      "  admin: &admin",
      `    password: "${HASH_ADMIN}"`,
      "    labels: {group: [admins]}",
      "  root: *admin",
      "  ops:",
      "    <<: *admin",
      "    labels: {group: [ops]}",
      "acl:",
      "  - match: &admins {account: /^(admin|root)$/}",
      "    actions: &all ['*']",
      "  - match:",
      "      <<: *admins",
      "      name: 'team/*'",
      "    actions: *all",
      "  - match:",
      "      <<: [{account: x, name: a}, {account: y, type: t}]",
      "    actions: []",
    ].join("\n");
    const cfg = await parseConfig("auth.yml", text);
    assert.equal(cfg.users!.get("root")!.passwordHash, HASH_ADMIN);
    assert.deepEqual(cfg.users!.get("root")!.labels, { group: ["admins"] });
    assert.equal(cfg.users!.get("ops")!.passwordHash, HASH_ADMIN);
    assert.deepEqual(cfg.users!.get("ops")!.labels, { group: ["ops"] });
    assert.equal(cfg.acl![1]!.match.account, "/^(admin|root)$/");
    assert.equal(cfg.acl![1]!.match.name, "team/*");
    assert.deepEqual(cfg.acl![1]!.actions, ["*"]);
    // In a list of merged mappings, the earlier one wins.
    assert.equal(cfg.acl![2]!.match.account, "x");
    assert.equal(cfg.acl![2]!.match.name, "a");
    assert.equal(cfg.acl![2]!.match.type, "t");
  });

  test("a duplicated key keeps the last value", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 7: "  expiration: 900\n  expiration: 60", 10: `    password: "${HASH_TEST}"\n    password: "${HASH_ADMIN}"` }));
    assert.equal(cfg.token.expiration, 60);
    assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_ADMIN);
  });

  test("a duplicated user keeps the last definition", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 10: `    password: "${HASH_ADMIN}"\n  admin:\n    password: "${HASH_TEST}"` }));
    assert.equal(cfg.users!.size, 1);
    assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_TEST);
  });

  test("null sections are absent sections", async () => {
    await oneIssue(edit({ 11: "acl:", 12: null, 13: null }), undefined, 1, "ACL is empty");
    await oneIssue(edit({ 8: "users: ~", 9: null, 10: null }), undefined, 1, "no auth methods");
  });

  test("a key named __proto__ is an ordinary unknown key", async () => {
    await oneIssue(edit({ 14: "__proto__: {}" }), "__proto__", 14, 'unknown key "__proto__"');
  });
});

describe("users", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "regauth-config-test-"));
    await writeFile(join(dir, "admin.bcrypt"), `${HASH_ADMIN}\n`);
    await writeFile(join(dir, "plain.txt"), "badmin\n");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("password_file: the hash is read from the file, trimmed", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 10: `    password_file: ${join(dir, "admin.bcrypt")}` }));
    assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_ADMIN);
  });

  test("password_file: a relative path is relative to the base directory", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 10: "    password_file: admin.bcrypt" }), dir);
    assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_ADMIN);
  });

  test("password_file that cannot be read", async () => {
    await oneIssue(edit({ 10: `    password_file: ${join(dir, "missing")}` }), "users.admin.password_file", 10, "cannot read", "ENOENT");
  });

  test("password_file with a plaintext password", async () => {
    await oneIssue(edit({ 10: `    password_file: ${join(dir, "plain.txt")}` }), "users.admin.password_file", 10, "must be a bcrypt hash");
  });

  test("password_env: the hash is read from the environment", async () => {
    process.env.REGAUTH_TEST_HASH = `${HASH_TEST} `;
    try {
      const cfg = await parseConfig("auth.yml", edit({ 10: "    password_env: REGAUTH_TEST_HASH" }));
      assert.equal(cfg.users!.get("admin")!.passwordHash, HASH_TEST);
    } finally {
      delete process.env.REGAUTH_TEST_HASH;
    }
  });

  test("password_env not set", async () => {
    delete process.env.REGAUTH_TEST_UNSET;
    await oneIssue(edit({ 10: "    password_env: REGAUTH_TEST_UNSET" }), "users.admin.password_env", 10, "REGAUTH_TEST_UNSET is not set");
  });

  test("only one of password, password_file, password_env", async () => {
    const issues = await issuesOf(edit({ 10: `    password: "${HASH_ADMIN}"\n    password_env: HOME` }));
    assert.ok(issues.some((i) => i.key === "users.admin" && i.line === 9 && i.message.includes("set only one of password, password_file and password_env")), JSON.stringify(issues));
  });

  test("a user with a null value is skipped with a warning naming it and its line", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 8: "users:\n  ghost:" }));
    assert.deepEqual([...cfg.users!.keys()], ["admin"]);
    assert.equal(cfg.warnings.length, 1);
    assert.match(cfg.warnings[0]!, /^auth\.yml:9: user "ghost" has no settings and is ignored/);
  });

  test("a user with {} has no password (docker_auth: any password)", async () => {
    const cfg = await parseConfig("auth.yml", edit({ 8: 'users:\n  "": {}\n  guest: {}' }));
    assert.equal(cfg.users!.get("")!.passwordHash, undefined);
    assert.equal(cfg.users!.get("guest")!.passwordHash, undefined);
    assert.deepEqual(cfg.warnings, []);
  });

  const labels: [string, Record<string, string[]>][] = [
    ["{group: admins}", { group: ["admins"] }],
    ["{group: [admins, VIP]}", { group: ["admins", "VIP"] }],
    ["{group: []}", { group: [] }],
    ["{group: ~}", { group: [] }],
    ["{tier: 1, on: yes}", { tier: ["1"], on: ["yes"] }],
    ["~", {}],
  ];
  for (const [yaml, want] of labels) {
    test(`labels: ${yaml}`, async () => {
      const cfg = await parseConfig("auth.yml", edit({ 10: `    password: "${HASH_ADMIN}"\n    labels: ${yaml}` }));
      assert.deepEqual(cfg.users!.get("admin")!.labels, want);
    });
  }

  test("a label value that is a mapping is refused", async () => {
    await oneIssue(edit({ 10: `    password: "${HASH_ADMIN}"\n    labels: {group: {a: b}}` }), "users.admin.labels.group[0]", 11, "must be a string");
  });
});

describe("knownKeysAt and nearest", () => {
  test("knownKeysAt lists the keys of each section", () => {
    assert.ok(knownKeysAt([]).includes("server"));
    assert.ok(knownKeysAt([]).includes("ldap_auth"));
    assert.ok(knownKeysAt(["server"]).includes("real_ip_header"));
    assert.ok(knownKeysAt(["token"]).includes("disable_legacy_key_id"));
    assert.deepEqual([...knownKeysAt(["users", "anyone"])].sort(), ["labels", "password", "password_env", "password_file"]);
    assert.deepEqual([...knownKeysAt(["acl", 7])].sort(), ["actions", "comment", "match"]);
    assert.deepEqual([...knownKeysAt(["acl", 0, "match"])].sort(), ["account", "ip", "labels", "name", "service", "type"]);
    assert.deepEqual(knownKeysAt(["nowhere"]), []);
  });

  const cases: [string, string[], string | undefined][] = [
    ["adr", ["addr", "net", "key"], "addr"],
    ["isuer", ["issuer", "expiration"], "issuer"],
    ["ISSUER", ["issuer", "expiration"], "issuer"],
    ["expirations", ["issuer", "expiration"], "expiration"],
    ["acls", ["acl", "users"], "acl"],
    ["frobnicator", ["addr", "net", "key"], undefined],
    ["x", [], undefined],
  ];
  for (const [word, known, want] of cases) {
    test(`nearest(${JSON.stringify(word)}) = ${JSON.stringify(want)}`, () => assert.equal(nearest(word, known), want));
  }
});

describe("token_store and refresh_tokens (regauth additions)", () => {
  test("defaults: SQLite in the data directory, refresh tokens on for 90 days, 30 idle, docker and containers/image shared", async () => {
    const cfg = await parseConfig("auth.yml", edit({}), "/base");
    assert.equal(cfg.tokenStore.backend, "sqlite");
    assert.match((cfg.tokenStore.settings as { path: string }).path, /^\/base\/.*regauth\.db$|^\/.*regauth\.db$/);
    assert.equal(cfg.refreshTokens.enabled, true);
    assert.equal(cfg.refreshTokens.lifetimeMs, 90 * 86_400_000);
    assert.equal(cfg.refreshTokens.idleTimeoutMs, 30 * 86_400_000);
    assert.deepEqual([...cfg.refreshTokens.sharedClientIds], ["docker", "containers/image"]);
    assert.ok(!cfg.files.some((f) => f.endsWith("regauth.db")), "the database is not a reload trigger");
  });

  test("settings are read; idle 0 means none", async () => {
    const cfg = await parseConfig(
      "auth.yml",
      edit({ 14: "token_store: {sqlite: {path: db/t.db}}", 15: "refresh_tokens: {enabled: false, lifetime_seconds: 3600, idle_timeout_seconds: 0, rotate_client_ids: [ci], shared_client_ids: []}" }),
      "/base",
    );
    assert.deepEqual(cfg.tokenStore.settings, { path: "/base/db/t.db" });
    assert.equal(cfg.refreshTokens.enabled, false);
    assert.equal(cfg.refreshTokens.lifetimeMs, 3_600_000);
    assert.equal(cfg.refreshTokens.idleTimeoutMs, null);
    assert.deepEqual([...cfg.refreshTokens.rotateClientIds], ["ci"]);
    assert.equal(cfg.refreshTokens.sharedClientIds.size, 0);
  });

  test("bad values are refused with file, line and key", async () => {
    await oneIssue(edit({ 14: "refresh_tokens: {lifetime_seconds: 5}" }), "refresh_tokens.lifetime_seconds", 14, "between 60");
    await oneIssue(edit({ 14: "refresh_tokens:", 15: "  lifetime_seconds: 600", 16: "  idle_timeout_seconds: 601" }), "refresh_tokens.idle_timeout_seconds", 16, "lifetime_seconds");
    await oneIssue(edit({ 14: "token_store: {sqlite: {pth: x}}" }), "token_store.sqlite.pth", 14, 'did you mean "path"?');
    await oneIssue(edit({ 14: "token_store: {mysql: {}}" }), "token_store.mysql", 14, 'unknown key "mysql"');
  });
});
