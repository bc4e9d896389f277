// The static ACL decides exactly as docker_auth's auth_server/authz/acl.go: entries in
// order, first match wins, globs and RE2 regexes, ${...} substitution, labels, IPs.
// The "docker_auth TestMatching" cases are those of acl_test.go, with its expectations.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AclAuthorizer, type AclOptions } from "../../src/authz/acl.js";
import type { AuthzRequest, AuthzResult } from "../../src/authz/authorizer.js";
import { parseConfig } from "../../src/config/load.js";
import type { AclEntrySpec, Labels, MatchSpec } from "../../src/config/types.js";
import { usesLabelPlaceholders } from "../../src/authz/pattern-template.js";
import { ConfigError } from "../../src/errors.js";

interface Entry {
  match: MatchSpec;
  actions?: string[];
  comment?: string;
}

function authorizer(...entries: Entry[]): AclAuthorizer {
  return authorizerWith({}, ...entries);
}

function authorizerWith(options: AclOptions, ...entries: Entry[]): AclAuthorizer {
  const specs: AclEntrySpec[] = entries.map((e, index) => ({
    index,
    match: e.match,
    actions: e.actions ?? ["*"],
    comment: e.comment,
    where: { file: "acl.yml", line: 10 + index },
  }));
  return new AclAuthorizer(specs, undefined, options);
}

function request(r: Partial<AuthzRequest> = {}): AuthzRequest {
  return { account: "", type: "repository", name: "", service: "", actions: ["pull"], labels: {}, ...r };
}

/** Does a one-entry ACL with these conditions match the request? (docker_auth's MatchConditions.Matches) */
function matches(match: MatchSpec, r: Partial<AuthzRequest>): boolean {
  return authorizer({ match }).decide(request(r)).kind === "match";
}

function granted(result: AuthzResult): readonly string[] | "no-match" {
  return result.kind === "match" ? result.actions : "no-match";
}

// The requests of docker_auth's acl_test.go.
const ai1 = { account: "foo", type: "bar", name: "baz", service: "notary" };
const ai2 = { ...ai1, labels: { group: ["admins", "VIP"] } };
const ai3 = { ...ai1, name: "admins/foo", labels: { group: ["admins", "VIP"] } };
const ai4 = { ...ai1, name: "VIP/api", labels: { group: ["admins", "VIP"], project: ["api", "frontend"] } };
const ai5 = { ...ai1, name: "devs/api", labels: { group: ["admins", "VIP"], project: ["api", "frontend"] } };

describe("docker_auth TestMatching", () => {
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{}, ai1, true],
    [{ account: "foo" }, ai1, true],
    [{ account: "foo", type: "bar" }, ai1, true],
    [{ account: "foo", type: "baz" }, ai1, false],
    [{ account: "fo?", type: "b*", name: "/z$/" }, ai1, true],
    [{ account: "fo?", type: "b*", name: "/^z/" }, ai1, false],
    [{ name: "${account}" }, { account: "foo", name: "foo" }, true],
    [{ name: "/${account}_.*/" }, { account: "foo", name: "foo_x" }, true],
    [{ name: "/${account}_.*/" }, { account: ".*", name: "foo_x" }, false],
    [{ account: "/^(.+)@test\\.com$/", name: "${account:1}/*" }, { account: "john.smith@test.com", name: "john.smith/test" }, true],
    [{ account: "/^(.+)@test\\.com$/", name: "${account:3}/*" }, { account: "john.smith@test.com", name: "john.smith/test" }, false],
    [{ account: "/^(.+)@(.+?).test\\.com$/", name: "${account:1}-${account:2}/*" }, { account: "john.smith@it.test.com", name: "john.smith-it/test" }, true],
    [{ service: "notary", type: "bar" }, ai1, true],
    [{ service: "notary", type: "baz" }, ai1, false],
    [{ service: "notary1", type: "bar" }, ai1, false],
    // IP matching
    [{ ip: "127.0.0.1" }, { ip: undefined }, false],
    [{ ip: "127.0.0.1" }, { ip: "127.0.0.1" }, true],
    [{ ip: "127.0.0.1" }, { ip: "127.0.0.2" }, false],
    [{ ip: "127.0.0.2" }, { ip: "127.0.0.1" }, false],
    [{ ip: "127.0.0.0/8" }, { ip: "127.0.0.1" }, true],
    [{ ip: "127.0.0.0/8" }, { ip: "127.0.0.2" }, true],
    [{ ip: "2001:db8::1" }, { ip: undefined }, false],
    [{ ip: "2001:db8::1" }, { ip: "2001:db8::1" }, true],
    [{ ip: "2001:db8::1" }, { ip: "2001:db8::2" }, false],
    [{ ip: "2001:db8::2" }, { ip: "2001:db8::1" }, false],
    [{ ip: "2001:db8::/48" }, { ip: "2001:db8::1" }, true],
    [{ ip: "2001:db8::/48" }, { ip: "2001:db8::2" }, true],
    // Label matching
    [{ labels: { foo: "bar" } }, ai1, false],
    [{ labels: { foo: "bar" } }, ai2, false],
    [{ labels: { group: "admins" } }, ai2, true],
    [{ labels: { foo: "bar", group: "admins" } }, ai2, false],
    [{ labels: { group: "VIP" } }, ai2, true],
    [{ labels: { group: "a*" } }, ai2, true],
    [{ labels: { group: "/(admins|VIP)/" } }, ai2, true],
    // Label placeholder matching
    [{ name: "${labels:group}/*" }, ai1, false],
    [{ name: "${labels:noexist}/*" }, ai2, false],
    [{ name: "${labels:group}/*" }, ai3, true],
    [{ name: "${labels:noexist}/*" }, ai3, false],
    [{ name: "${labels:group}/${labels:project}" }, ai4, true],
    [{ name: "${labels:group}/${labels:noexist}" }, ai4, false],
    [{ name: "${labels:group}/${labels:project}" }, ai5, false],
  ];
  cases.forEach(([match, r, want], i) => {
    test(`${i}: ${JSON.stringify(match)} vs ${JSON.stringify(r)} -> ${want}`, () => {
      assert.equal(matches(match, r), want);
    });
  });
});

describe("decide: first match wins, and what it grants", () => {
  const acl = authorizer(
    { match: { account: "admin" }, actions: ["*"], comment: "admin can do anything" },
    { match: { account: "ci", name: "builds/*" }, actions: ["pull", "push"] },
    { match: { account: "ci" }, actions: ["pull"] },
    { match: { account: "intruder" }, actions: [], comment: "deny" },
    { match: { account: "odd" }, actions: ["pull", "*"] },
    { match: { account: "/.+/" }, actions: ["pull"] },
  );
  const cases: [Partial<AuthzRequest>, readonly string[] | "no-match", number | undefined][] = [
    // ["*"] grants exactly what was asked, whatever it is.
    [{ account: "admin", name: "x", actions: ["delete", "pull", "push"] }, ["delete", "pull", "push"], 0],
    [{ account: "admin", type: "registry", name: "catalog", actions: ["*"] }, ["*"], 0],
    // The first matching entry decides even if a later one would grant more.
    [{ account: "ci", name: "builds/app", actions: ["pull", "push"] }, ["pull", "push"], 1],
    [{ account: "ci", name: "other/app", actions: ["pull", "push"] }, ["pull"], 2],
    // The grant is the intersection of requested and allowed.
    [{ account: "ci", name: "builds/app", actions: ["delete", "push"] }, ["push"], 1],
    [{ account: "ci", name: "other", actions: ["delete"] }, [], 2],
    // [] denies, and stops the search: the later /.+/ entry is not reached.
    [{ account: "intruder", name: "x", actions: ["pull"] }, [], 3],
    // "*" among other actions is just an action name.
    [{ account: "odd", name: "x", actions: ["push"] }, [], 4],
    [{ account: "odd", name: "x", actions: ["*", "pull"] }, ["*", "pull"], 4],
    [{ account: "someone", name: "x", actions: ["pull", "push"] }, ["pull"], 5],
    // Nothing matches the anonymous account: no-match, which the chain turns into a denial.
    [{ account: "", name: "x", actions: ["pull"] }, "no-match", undefined],
  ];
  for (const [r, want, index] of cases) {
    test(`${JSON.stringify(r)} -> ${JSON.stringify(want)}`, () => {
      const result = acl.decide(request(r));
      assert.deepEqual(granted(result), want);
      if (result.kind === "match") assert.equal(result.rule?.index, index);
    });
  }

  test("the deciding entry's index, comment and location are returned", () => {
    const result = acl.decide(request({ account: "admin", name: "x" }));
    assert.equal(result.kind, "match");
    assert.deepEqual(result.rule, { source: "static ACL", index: 0, comment: "admin can do anything", where: { file: "acl.yml", line: 10 } });
    const deny = acl.decide(request({ account: "intruder", name: "x" }));
    assert.equal(deny.kind === "match" && deny.rule?.comment, "deny");
    const noComment = acl.decide(request({ account: "ci", name: "x" }));
    assert.equal(noComment.kind === "match" && noComment.rule?.index, 2);
    assert.equal(noComment.kind === "match" && noComment.rule?.comment, undefined);
  });

  test("an empty ACL matches nothing", () => {
    assert.equal(authorizer().decide(request({ account: "admin", name: "x" })).kind, "no-match");
  });

  test("authorize() answers as decide()", async () => {
    assert.deepEqual(await acl.authorize(request({ account: "ci", name: "builds/x", actions: ["push"] })), acl.decide(request({ account: "ci", name: "builds/x", actions: ["push"] })));
  });
});

describe("${account}, ${name}, ${type}, ${service}: substituted regex-quoted (Go's regexp.QuoteMeta)", () => {
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{ name: "${account}/*" }, { account: "alice", name: "alice/app" }, true],
    [{ name: "${account}/*" }, { account: "alice", name: "bob/app" }, false],
    // The account "a.b" is the text a.b, not "any character": it must not match axb.
    [{ name: "${account}/*" }, { account: "a.b", name: "a.b/app" }, true],
    [{ name: "${account}/*" }, { account: "a.b", name: "axb/app" }, false],
    [{ name: "/^${account}\\/.+$/" }, { account: "a.b", name: "a.b/app" }, true],
    [{ name: "/^${account}\\/.+$/" }, { account: "a.b", name: "axb/app" }, false],
    // Glob metacharacters in the account are quoted too.
    [{ name: "${account}" }, { account: "*", name: "anything" }, false],
    [{ name: "${account}" }, { account: "a?", name: "ab" }, false],
    [{ name: "/^${account}$/" }, { account: "a|b", name: "b" }, false],
    [{ name: "/^${account}$/" }, { account: "(a|b)", name: "b" }, false],
    [{ account: "${name}" }, { account: "team", name: "team" }, true],
    [{ account: "${name}" }, { account: "team", name: "other" }, false],
    [{ name: "${type}-*" }, { type: "repository", name: "repository-mirror" }, true],
    [{ name: "${type}-*" }, { type: "repository", name: "registry-mirror" }, false],
    [{ name: "${service}/*" }, { service: "reg.example.com", name: "reg.example.com/app" }, true],
    [{ name: "${service}/*" }, { service: "reg.example.com", name: "regxexample.com/app" }, false],
    [{ account: "/^${service}-bot$/" }, { service: "ci", account: "ci-bot" }, true],
    [{ account: "/^${service}-bot$/" }, { service: "ci", account: "cd-bot" }, false],
  ];
  for (const [match, r, want] of cases) {
    test(`${JSON.stringify(match)} vs ${JSON.stringify(r)} -> ${want}`, () => assert.equal(matches(match, r), want));
  }
});

describe("${labels:NAME}: each value of the user's label is tried", () => {
  const labels: Labels = { group: ["admins", "VIP"], project: ["api", "web"], alias: ["bob", "robert"], dotted: ["a.b"] };
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{ name: "${labels:group}/*" }, { labels, name: "VIP/app" }, true],
    [{ name: "${labels:group}/*" }, { labels, name: "admins/app" }, true],
    [{ name: "${labels:group}/*" }, { labels, name: "devs/app" }, false],
    [{ name: "${labels:group}-shared/*" }, { labels, name: "admins-shared/x" }, true],
    // Two placeholders: every combination.
    [{ name: "${labels:group}/${labels:project}" }, { labels, name: "VIP/web" }, true],
    [{ name: "${labels:group}/${labels:project}" }, { labels, name: "admins/api" }, true],
    [{ name: "${labels:group}/${labels:project}" }, { labels, name: "admins/db" }, false],
    // In a regex pattern.
    [{ name: "/^${labels:project}(-[a-z]+)?$/" }, { labels, name: "api-beta" }, true],
    [{ name: "/^${labels:project}(-[a-z]+)?$/" }, { labels, name: "db-beta" }, false],
    // In the account pattern.
    [{ account: "${labels:alias}" }, { labels, account: "robert" }, true],
    [{ account: "${labels:alias}" }, { labels, account: "rob" }, false],
    // Mixed with a request field.
    [{ name: "${labels:group}/${account}" }, { labels, account: "alice", name: "VIP/alice" }, true],
    [{ name: "${labels:group}/${account}" }, { labels, account: "alice", name: "VIP/bob" }, false],
    // No such label: nothing to try.
    [{ name: "${labels:nope}/*" }, { labels, name: "VIP/app" }, false],
    [{ name: "${labels:group}/*" }, { labels: {}, name: "VIP/app" }, false],
    // docker_auth substitutes label values as they are (unquoted): in a regex, "a.b" is a pattern.
    [{ name: "/^${labels:dotted}\\/app$/" }, { labels, name: "a.b/app" }, true],
    [{ name: "/^${labels:dotted}\\/app$/" }, { labels, name: "axb/app" }, true],
  ];
  for (const [match, r, want] of cases) {
    test(`${JSON.stringify(match)} vs ${JSON.stringify({ ...r, labels: undefined })} -> ${want}`, () => assert.equal(matches(match, r), want));
  }
});

describe("match.labels: each listed label must have a value that matches", () => {
  const labels: Labels = { group: ["admins", "VIP"], title: ["Developer"], team: ["alice-team"] };
  const cases: [MatchSpec["labels"], Partial<AuthzRequest>, boolean][] = [
    [{ group: "VIP" }, { labels }, true],
    [{ group: "vip" }, { labels }, false],
    [{ group: "adm*" }, { labels }, true],
    [{ group: "adm?" }, { labels }, false],
    [{ group: "/^(trainee|dev)$/" }, { labels }, false],
    [{ group: "/^(admins|dev)$/" }, { labels }, true],
    [{ group: "/(?i)^vip$/" }, { labels }, true],
    [{ group: "VIP", title: "Developer" }, { labels }, true],
    [{ group: "VIP", title: "Manager" }, { labels }, false],
    [{ group: "VIP", missing: "*" }, { labels }, false],
    [{ group: "*" }, { labels: {} }, false],
    [{ group: "*" }, { labels: { group: [] } }, false],
    // Label patterns see ${account} and friends.
    [{ team: "${account}-team" }, { labels, account: "alice" }, true],
    [{ team: "${account}-team" }, { labels, account: "bob" }, false],
  ];
  for (const [ml, r, want] of cases) {
    test(`${JSON.stringify(ml)} vs ${JSON.stringify(r.labels)}${r.account ? ` (${r.account})` : ""} -> ${want}`, () => assert.equal(matches({ labels: ml }, r), want));
  }

  test("labels are ANDed with the other conditions", () => {
    assert.equal(matches({ account: "alice", labels: { group: "VIP" } }, { account: "alice", labels }), true);
    assert.equal(matches({ account: "bob", labels: { group: "VIP" } }, { account: "alice", labels }), false);
  });
});

describe("${account:N} / ${name:N}: capture groups of the field's own regex", () => {
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{ account: "/^(.+)@corp\\.com$/", name: "${account:1}/*" }, { account: "jo@corp.com", name: "jo/app" }, true],
    [{ account: "/^(.+)@corp\\.com$/", name: "${account:1}/*" }, { account: "jo@corp.com", name: "al/app" }, false],
    // Named groups count like any group.
    [{ account: "/^(?P<user>[a-z]+)\\.(?P<org>[a-z]+)$/", name: "${account:2}/${account:1}" }, { account: "jo.acme", name: "acme/jo" }, true],
    [{ name: "/^([a-z]+)\\/.+$/", account: "${name:1}" }, { account: "team", name: "team/app" }, true],
    [{ name: "/^([a-z]+)\\/.+$/", account: "${name:1}" }, { account: "other", name: "team/app" }, false],
    // The captured text is substituted as it is (not quoted), as in docker_auth.
    [{ account: "/^(.+)@corp$/", name: "/^${account:1}$/" }, { account: "a.b@corp", name: "axb" }, true],
    // A group that did not take part is "" in Go: the placeholder becomes empty.
    [{ account: "/^(?:(.+)@corp|guest)$/", name: "${account:1}*" }, { account: "guest", name: "library" }, true],
    [{ account: "/^(?:(.+)@corp|guest)$/", name: "${account:1}*" }, { account: "bob@corp", name: "bob-tools" }, true],
    [{ account: "/^(?:(.+)@corp|guest)$/", name: "${account:1}*" }, { account: "bob@corp", name: "alice" }, false],
    // Group 0 and missing groups are ignored: the placeholder stays as written.
    [{ account: "/^(.+)$/", name: "${account:0}" }, { account: "x", name: "x" }, false],
    [{ account: "/^(.+)$/", name: "${account:2}" }, { account: "x", name: "x" }, false],
    // The field is found as Go's strings.Title finds it: only the first letter's case is free.
    [{ account: "/^(.+)@corp$/", name: "${Account:1}" }, { account: "jo@corp", name: "jo" }, true],
    [{ account: "/^(.+)@corp$/", name: "${ACCOUNT:1}" }, { account: "jo@corp", name: "jo" }, false],
    // A reference to a field that is a glob is ignored too.
    [{ account: "jo*", name: "${account:1}" }, { account: "joe", name: "joe" }, false],
  ];
  for (const [match, r, want] of cases) {
    test(`${JSON.stringify(match)} vs ${JSON.stringify(r)} -> ${want}`, () => assert.equal(matches(match, r), want));
  }
});

describe("ip: addresses and CIDRs, IPv4 and IPv6, as Go's net.IPNet.Contains", () => {
  const cases: [string, string | undefined, boolean][] = [
    ["10.0.0.1", "10.0.0.1", true],
    ["10.0.0.1", "10.0.0.2", false],
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["10.1.2.3/8", "10.9.9.9", true],
    ["0.0.0.0/0", "203.0.113.7", true],
    ["192.168.1.128/25", "192.168.1.200", true],
    ["192.168.1.128/25", "192.168.1.100", false],
    ["::1", "::1", true],
    ["::1", "127.0.0.1", false],
    ["2001:db8::/32", "2001:db8:1::5", true],
    ["2001:db8::/32", "2001:db9::5", false],
    ["::/0", "2001:db8::1", true],
    ["fe80::/10", "fe80::1", true],
    // An IPv4 client against IPv4 patterns only, except IPv4-mapped IPv6 networks.
    ["0.0.0.0/0", "2001:db8::1", false],
    ["::/0", "203.0.113.7", false],
    ["::ffff:0:0/80", "203.0.113.7", false],
    ["::ffff:0:0/96", "203.0.113.7", true],
    ["::ffff:10.0.0.0/104", "10.1.2.3", true],
    ["::ffff:10.0.0.0/104", "11.1.2.3", false],
    ["::ffff:192.0.2.1", "192.0.2.1", true],
    ["::ffff:192.0.2.1", "192.0.2.2", false],
    ["::ffff:0:0/96", "2001:db8::1", false],
    ["2001:db8::/96", "10.0.0.1", false],
    // IPv4-mapped clients in any spelling are IPv4 clients, as Go's net.ParseIP + To4 reads them.
    ["10.0.0.0/8", "::ffff:a01:203", true],
    ["10.0.0.0/8", "0::ffff:10.1.2.3", true],
    ["10.0.0.0/8", "0:0:0:0:0:ffff:10.1.2.3", true],
    ["10.0.0.0/8", "::FFFF:10.1.2.3", true],
    ["10.1.2.3", "::ffff:0a01:0203", true],
    ["11.0.0.0/8", "::ffff:a01:203", false],
    ["::/0", "::ffff:a01:203", false],
    ["2001:db8::/32", "::ffff:a01:203", false],
    ["::ffff:0:0/96", "0:0:0:0:0:ffff:1.2.3.4", true],
    ["::ffff:a00:0/104", "::ffff:a01:203", true],
    ["::ffff:a00:0/104", "10.1.2.3", true],
    ["::ffff:10.1.2.3", "::FFFF:a01:203", true],
    // Not mapped (IPv4-compatible ::a01:203, or another prefix): IPv6 for Go too.
    ["10.0.0.0/8", "::a01:203", false],
    ["10.0.0.0/8", "::1:ffff:a01:203", false],
    ["::/96", "::a01:203", true],
    // No client address (a unix socket): an ip condition never matches.
    ["10.0.0.0/8", undefined, false],
    ["::/0", undefined, false],
  ];
  for (const [pattern, ip, want] of cases) {
    test(`${pattern} vs ${ip ?? "(none)"} -> ${want}`, () => assert.equal(matches({ ip: pattern }, { ip }), want));
  }

  test("the reference config's localhost entries", () => {
    const acl = authorizer({ match: { ip: "127.0.0.0/8" }, comment: "IPv4 localhost" }, { match: { ip: "::1" }, comment: "IPv6 localhost" });
    const who = (ip: string) => {
      const r = acl.decide(request({ ip, name: "x" }));
      return r.kind === "match" ? r.rule?.comment : "no-match";
    };
    assert.equal(who("127.0.0.1"), "IPv4 localhost");
    assert.equal(who("127.1.2.3"), "IPv4 localhost");
    assert.equal(who("::1"), "IPv6 localhost");
    assert.equal(who("10.0.0.1"), "no-match");
  });
});

describe("service and type", () => {
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{ service: "registry.example.com" }, { service: "registry.example.com" }, true],
    [{ service: "registry.example.com" }, { service: "other" }, false],
    [{ service: "*.example.com" }, { service: "registry.example.com" }, true],
    [{ service: "" }, { service: "" }, true],
    [{ service: "" }, { service: "x" }, false],
    [{ type: "registry", name: "catalog" }, { type: "registry", name: "catalog" }, true],
    [{ type: "registry", name: "catalog" }, { type: "repository", name: "catalog" }, false],
    [{ type: "/^repo/" }, { type: "repository" }, true],
    // The anonymous account is "", matched by the empty pattern.
    [{ account: "", name: "hello-world" }, { account: "", name: "hello-world" }, true],
    [{ account: "", name: "hello-world" }, { account: "bob", name: "hello-world" }, false],
    [{ account: "/.+/" }, { account: "" }, false],
  ];
  for (const [match, r, want] of cases) {
    test(`${JSON.stringify(match)} vs ${JSON.stringify(r)} -> ${want}`, () => assert.equal(matches(match, r), want));
  }
});

describe("the reference config's ACL, read from YAML", async () => {
  const yaml = `
server: {addr: ":5001", certificate: "/x/server.pem", key: "/x/server.key"}
token: {issuer: "Acme auth server", expiration: 900}
users: {}
acl:
  - match: {ip: "127.0.0.0/8"}
    actions: ["*"]
    comment: "Allow everything from localhost (IPv4)"
  - match: {account: "admin"}
    actions: ["*"]
    comment: "Admin has full access to everything."
  - match: {account: "test", name: "test-*"}
    actions: ["*"]
    comment: "test (1)"
  - match: {account: "test"}
    actions: []
    comment: "test (2)"
  - match: {account: "/.+/", name: "\${account}/*"}
    actions: ["*"]
    comment: "namespace"
  - match: {account: "/.+/", type: "registry", name: "catalog"}
    actions: ["*"]
    comment: "catalog"
  - match: {account: "/.+/"}
    actions: ["pull"]
    comment: "pull all"
  - match: {account: "", name: "hello-world"}
    actions: ["pull"]
    comment: "anonymous hello-world"
`;
  const cfg = await parseConfig("reference.yml", yaml);
  const acl = new AclAuthorizer(cfg.acl!, cfg.where);
  const cases: [Partial<AuthzRequest>, readonly string[] | "no-match", string | undefined][] = [
    [{ ip: "127.0.0.1", account: "", name: "anything", actions: ["pull", "push"] }, ["pull", "push"], "Allow everything from localhost (IPv4)"],
    [{ ip: "10.0.0.1", account: "admin", name: "x/y", actions: ["delete", "push"] }, ["delete", "push"], "Admin has full access to everything."],
    [{ ip: "10.0.0.1", account: "test", name: "test-app", actions: ["push"] }, ["push"], "test (1)"],
    [{ ip: "10.0.0.1", account: "test", name: "test/app", actions: ["pull"] }, [], "test (2)"],
    [{ ip: "10.0.0.1", account: "alice", name: "alice/app", actions: ["pull", "push"] }, ["pull", "push"], "namespace"],
    [{ ip: "10.0.0.1", account: "alice", name: "bob/app", actions: ["pull", "push"] }, ["pull"], "pull all"],
    [{ ip: "10.0.0.1", account: "alice", type: "registry", name: "catalog", actions: ["*"] }, ["*"], "catalog"],
    [{ ip: "10.0.0.1", account: "", name: "hello-world", actions: ["pull", "push"] }, ["pull"], "anonymous hello-world"],
    [{ ip: "10.0.0.1", account: "", name: "other", actions: ["pull"] }, "no-match", undefined],
  ];
  for (const [r, want, comment] of cases) {
    test(`${r.account || "(anonymous)"} ${r.type ?? "repository"}:${r.name}:${r.actions} from ${r.ip}`, () => {
      const result = acl.decide(request(r));
      assert.deepEqual(granted(result), want);
      if (result.kind === "match") {
        assert.equal(result.rule?.comment, comment);
        assert.equal(result.rule?.where?.file, "reference.yml");
        // Each entry is located at its "- match:" line.
        assert.equal(yaml.split("\n")[result.rule!.where!.line! - 1]!.trim().startsWith("- match:"), true);
      }
    });
  }
});

describe("a bad pattern in the config is a ConfigError naming the entry", () => {
  function configError(fn: () => unknown): ConfigError {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }

  test("a bad regex in entry 1's name", () => {
    const e = configError(() => authorizer({ match: { account: "admin" } }, { match: { name: "/(?=x)/" } }));
    assert.equal(e.issues.length, 1);
    assert.equal(e.issues[0]!.key, "acl[1].match.name");
    assert.equal(e.issues[0]!.file, "acl.yml");
    assert.match(e.issues[0]!.message, /invalid pattern "\/\(\?=x\)\/"/);
    assert.match(e.issues[0]!.message, /lookaround/);
    assert.match(e.message, /acl\[1\]\.match\.name/);
  });

  test("a bad glob, a bad label pattern and a bad pattern with a placeholder are all reported", () => {
    const e = configError(() =>
      authorizer({ match: { account: "[" } }, { match: { labels: { group: "/(/" } } }, { match: { name: "/${account}(/" } }, { match: { service: "ok" } }),
    );
    assert.deepEqual(
      e.issues.map((i) => i.key),
      ["acl[0].match.account", "acl[1].match.labels.group", "acl[2].match.name"],
    );
  });

  test("with the config's locator, each issue has the line of the bad key", async () => {
    const yaml = [
      "server: {addr: ':5001', certificate: /x/c.pem, key: /x/k.pem}",
      "token: {issuer: x, expiration: 900}",
      "users: {}",
      "acl:",
      "  - match: {account: admin}",
      "    actions: ['*']",
      "  - match:",
      "      account: /.+/",
      "      name: '/a{2,1}/'",
      "    actions: [pull]",
      "  - match:",
      "      labels:",
      "        group: 'a\\'",
      "    actions: [pull]",
    ].join("\n");
    const cfg = await parseConfig("bad.yml", yaml);
    const e = configError(() => new AclAuthorizer(cfg.acl!, cfg.where));
    assert.deepEqual(
      e.issues.map((i) => [i.key, i.line]),
      [
        ["acl[1].match.name", 9],
        ["acl[2].match.labels.group", 13],
      ],
    );
    assert.ok(e.issues.every((i) => i.file === "bad.yml"));
  });
});

describe("RE2 syntax Go compiles loads from a docker_auth config and means the same", async () => {
  const yaml = `
server: {addr: ":5001", certificate: "/x/server.pem", key: "/x/server.key"}
token: {issuer: "Acme auth server", expiration: 900}
users: {}
acl:
  - match: {account: "/^(?i:admin)-[a-z]+$/"}
    actions: ["*"]
    comment: "scoped flag"
  - match: {account: "/^ci(?i)-BOT$/"}
    actions: ["push"]
    comment: "flag mid-pattern"
  - match: {account: "/^(?P<team>[a-z]+)\\\\.(?P<team>[a-z]+)$/", name: "\${account:2}/*"}
    actions: ["pull"]
    comment: "repeated group name"
  - match: {name: "/(?U)^lib(.+)x$/"}
    actions: ["pull"]
    comment: "ungreedy"
`;
  const cfg = await parseConfig("go-syntax.yml", yaml);
  const acl = new AclAuthorizer(cfg.acl!, cfg.where);
  const who = (r: Partial<AuthzRequest>) => {
    const d = acl.decide(request(r));
    return d.kind === "match" ? d.rule?.comment : "no-match";
  };
  test("(?i:...)", () => {
    assert.equal(who({ account: "ADMIN-x" }), "scoped flag");
    assert.equal(who({ account: "admin-X" }), "no-match");
  });
  test("a(?i)b", () => {
    assert.equal(who({ account: "ci-bot" }), "flag mid-pattern");
    assert.equal(who({ account: "CI-bot" }), "no-match");
  });
  test("(?P<x>...) twice, captures by number", () => {
    assert.equal(who({ account: "jo.acme", name: "acme/app" }), "repeated group name");
    assert.equal(who({ account: "jo.acme", name: "jo/app" }), "no-match");
  });
  test("(?U)", () => assert.equal(who({ name: "libfoox" }), "ungreedy"));
});

describe("${labels:NAME} values: spliced as pattern text (docker_auth), or literally with literalLabelValues", () => {
  const star: Labels = { groups: ["*"], dotted: ["a.b"], odd: ["x[y", "q?", "c\\d"] };
  test("default: a label value `*` is a wildcard, `a.b` a regex", () => {
    assert.equal(matches({ name: "${labels:groups}/*" }, { labels: star, name: "anything/x" }), true);
    assert.equal(matches({ name: "/^${labels:dotted}\\/app$/" }, { labels: star, name: "axb/app" }), true);
  });
  const literal = (match: MatchSpec, r: Partial<AuthzRequest>) => authorizerWith({ literalLabelValues: true }, { match }).decide(request(r)).kind === "match";
  const cases: [MatchSpec, Partial<AuthzRequest>, boolean][] = [
    [{ name: "${labels:groups}/*" }, { labels: star, name: "anything/x" }, false],
    [{ name: "${labels:groups}/*" }, { labels: star, name: "*/x" }, true],
    [{ name: "/^${labels:dotted}\\/app$/" }, { labels: star, name: "axb/app" }, false],
    [{ name: "/^${labels:dotted}\\/app$/" }, { labels: star, name: "a.b/app" }, true],
    [{ name: "${labels:odd}/*" }, { labels: star, name: "x[y/app" }, true],
    [{ name: "${labels:odd}/*" }, { labels: star, name: "qq/app" }, false],
    [{ name: "${labels:odd}/*" }, { labels: star, name: "q?/app" }, true],
    [{ name: "${labels:odd}/*" }, { labels: star, name: "c\\d/app" }, true],
    [{ name: "/^${labels:odd}$/" }, { labels: star, name: "x[y" }, true],
    [{ name: "/^${labels:odd}$/" }, { labels: star, name: "c\\d" }, true],
    [{ name: "/^${labels:odd}$/" }, { labels: star, name: "c5" }, false],
    // Other placeholders are unchanged: ${account} is always quoted.
    [{ name: "${labels:dotted}-${account}" }, { labels: star, account: "j.o", name: "a.b-j.o" }, true],
  ];
  for (const [match, r, want] of cases) {
    test(`literal: ${JSON.stringify(match)} vs ${JSON.stringify(r.name)} -> ${want}`, () => assert.equal(literal(match, r), want));
  }
  test("usesLabelPlaceholders tells which patterns splice label values", () => {
    assert.equal(usesLabelPlaceholders("${labels:groups}/*"), true);
    assert.equal(usesLabelPlaceholders("/^${labels:project}-.+$/"), true);
    assert.equal(usesLabelPlaceholders("${account}/*"), false);
    assert.equal(usesLabelPlaceholders("labels:x"), false);
  });
});

describe("the index gives the linear scan's answers (randomized ACLs)", () => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(a: readonly T[]): T => a[rnd(a.length)]!;
  const accounts = ["alice", "bob", "carol", "", "ci-bot", "a.b", "team-1"];
  const names = ["team-1/app", "team-2/app", "team-1/sub/x", "alice/app", "bob/tools", "library/x", "project-3/y", "app", "", "a.b/x", "dev/x"];
  const groups = ["admins", "dev", "ops", "team-1", "*"];
  const namePatterns = [
    "team-1/app", "team-2/*", "team-?/app", "*", "*/app", "alice/*", "library/x", "app", "",
    "/^team-1\\/.+$/", "/^project-\\d\\/.+$/", "/app$/", "/(?i)^TEAM/", "/^(alice|bob)\\//", "/^a|b/",
    "${account}/*", "team-${account}", "${account}", "${labels:group}/*", "/^${account}\\/.+$/", "/^${labels:group}\\//",
  ];
  const accountPatterns = ["alice", "bob", "", "/.+/", "ci-*", "/^a/", "${name}", "team-*"];
  const labelPatterns = ["admins", "dev*", "/^o/", "*", "${account}"];
  const ips = ["10.0.0.0/8", "::1", "192.168.0.0/16"];
  const entry = (): Entry => {
    const match: MatchSpec = {};
    if (rnd(2)) match.account = pick(accountPatterns);
    if (rnd(4)) match.name = pick(namePatterns);
    if (rnd(6) === 0) match.type = pick(["repository", "registry"]);
    if (rnd(6) === 0) match.service = pick(["reg", "*.example"]);
    if (rnd(5) === 0) match.labels = { group: pick(labelPatterns) };
    if (rnd(8) === 0) match.ip = pick(ips);
    return { match, actions: [pick(["pull", "push", "*"])] };
  };
  test("200 ACLs of 40-100 entries × 150 requests", () => {
    for (let n = 0; n < 200; n++) {
      const entries = Array.from({ length: 40 + rnd(60) }, entry);
      const indexed = authorizerWith({ index: true }, ...entries);
      const linear = authorizerWith({ index: false }, ...entries);
      for (let k = 0; k < 150; k++) {
        const r = request({
          account: pick(accounts),
          name: pick(names),
          type: pick(["repository", "registry"]),
          service: pick(["reg", "a.example", ""]),
          labels: rnd(3) ? { group: Array.from({ length: rnd(3) }, () => pick(groups)) } : {},
          ip: pick([undefined, "10.1.2.3", "::1", "192.168.1.1", "::ffff:a01:203"]),
          actions: ["pull", "push"],
        });
        const a = indexed.decide(r);
        const b = linear.decide(r);
        assert.deepEqual(
          a.kind === "match" ? [a.rule?.index, a.actions] : "no-match",
          b.kind === "match" ? [b.rule?.index, b.actions] : "no-match",
          `ACL ${n}, request ${JSON.stringify(r)}`,
        );
      }
    }
  });
});
