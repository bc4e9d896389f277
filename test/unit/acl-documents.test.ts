// ACL entries as databases hold them (acl_xorm rows, acl_mongo documents) → the static
// ACL's entries: seq order, Go's field spelling, and the problems that refuse a whole read.
import assert from "node:assert/strict";
import { test } from "node:test";
import { aclFromDocuments, type AclDocument } from "../../src/authz/acl-documents.js";
import { AclAuthorizer } from "../../src/authz/acl.js";

const where = (seq: number) => ({ file: "db", key: `seq ${seq}` });
const read = (docs: AclDocument[]) => aclFromDocuments(docs, where);

test("entries come out in seq order, whatever order the rows have, seq given as number, bigint or string", () => {
  const { entries, problems } = read([
    { seq: "30", entry: { match: { account: "c" }, actions: ["pull"] } },
    { seq: 10n, entry: { match: { account: "a" }, actions: ["*"] } },
    { seq: 20, entry: { match: { account: "b" }, actions: [] } },
  ]);
  assert.deepEqual(problems, { errors: [], skipped: [] });
  assert.deepEqual(
    entries.map((e) => [e.match.account, e.actions, e.where?.key]),
    [
      ["a", ["*"], "seq 10"],
      ["b", [], "seq 20"],
      ["c", ["pull"], "seq 30"],
    ],
  );
});

test("Go's spelling (Match, Actions, Comment, Account) reads like the lower-case one", () => {
  const { entries } = read([{ seq: 1, entry: { Match: { Account: "/.+/", Name: "${account}/*", Labels: { group: "dev" } }, Actions: ["push"], Comment: "go" } }]);
  assert.deepEqual(entries[0]!.match, { account: "/.+/", name: "${account}/*", labels: { group: "dev" } });
  assert.equal(entries[0]!.comment, "go");
});

test("an entry without seq is skipped and said so; the rest stands", () => {
  const { entries, problems } = read([
    { seq: null, entry: { match: {}, actions: ["*"] } },
    { seq: 1, entry: { match: { account: "a" }, actions: ["pull"] } },
  ]);
  assert.equal(entries.length, 1);
  assert.equal(problems.skipped.length, 1);
  assert.match(problems.skipped[0]!, /without seq/);
});

test("broken entries are each named by seq: duplicates, bad fields, unknown keys, bad IPs", () => {
  const { problems } = read([
    { seq: 1, entry: { match: { account: "a" }, actions: ["pull"] } },
    { seq: 1, entry: { match: { account: "b" }, actions: ["pull"] } },
    { seq: 2, entry: "text" },
    { seq: 3, entry: { match: { account: 5 }, actions: ["pull"] } },
    { seq: 4, entry: { match: { acount: "typo" }, actions: ["pull"] } },
    { seq: 5, entry: { match: { ip: "10.0.0.0/33" }, actions: ["pull"] } },
    { seq: 6, entry: { match: {}, actions: "pull" } },
    { seq: 7, entry: { match: { labels: ["dev"] }, actions: ["pull"] } },
    { seq: 1.5, entry: { match: {}, actions: ["pull"] } },
  ]);
  const text = problems.errors.join("\n");
  for (const m of [
    /seq 1: seq is not unique/,
    /seq 2: the entry must be a mapping/,
    /seq 3: match.account must be a string/,
    /seq 4: match.acount is not a match field/,
    /seq 5: invalid IP pattern "10.0.0.0\/33"/,
    /seq 6: actions must be a list of strings/,
    /seq 7: match.labels must map label names to string patterns/,
    /seq 1.5: seq must be an integer/,
  ])
    assert.match(text, m);
});

test("the entries compile into the same matcher as the static ACL: first match wins", async () => {
  const { entries } = read([
    { seq: 2, entry: { match: { account: "/.+/", name: "${account}/*" }, actions: ["*"] } },
    { seq: 1, entry: { match: { account: "alice", name: "alice/frozen" }, actions: ["pull"] } },
  ]);
  const acl = new AclAuthorizer(entries, () => ({ file: "db" }), { literalLabelValues: false });
  try {
    const decide = (name: string) => acl.decide({ account: "alice", type: "repository", name, service: "registry", ip: "127.0.0.1", labels: {}, actions: ["pull", "push"] });
    const frozen = decide("alice/frozen");
    assert.equal(frozen.kind, "match");
    assert.deepEqual(frozen.kind === "match" && frozen.actions, ["pull"]);
    const own = decide("alice/app");
    assert.deepEqual(own.kind === "match" && own.actions, ["pull", "push"]);
    // Nothing matches another user's repository: the next authorizer (or the default deny) decides.
    assert.equal(acl.decide({ account: "bob", type: "repository", name: "alice/app", service: "registry", ip: "127.0.0.1", labels: {}, actions: ["pull"] }).kind, "no-match");
  } finally {
    await acl.stop();
  }
});
