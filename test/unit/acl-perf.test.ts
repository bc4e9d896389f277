// One ACL decision over a 10,000-entry ACL, the match at the end: it must stay well
// under 50 µs. The ACL mixes literal names, `team/*` globs, `^project-N/` regexes,
// `${account}/*` placeholders and label patterns, as long real ACLs do.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AclAuthorizer, type AclOptions } from "../../src/authz/acl.js";
import type { AuthzRequest } from "../../src/authz/authorizer.js";
import type { AclEntrySpec, MatchSpec } from "../../src/config/types.js";

const ENTRIES = 10_000;

function bigAcl(options: AclOptions): AclAuthorizer {
  const specs: AclEntrySpec[] = [];
  for (let k = 0; k < ENTRIES; k++) {
    const kinds: MatchSpec[] = [
      { account: `user-${k}`, name: `lib-${k}` },
      { name: `team-${k}/*` },
      { name: `/^project-${k}\\/.+$/` },
      { account: `svc-${k}`, name: "${account}/*" },
      { labels: { group: `group-${k}` }, name: "${labels:group}/*" },
    ];
    specs.push({ index: k, match: kinds[k % kinds.length]!, actions: ["pull"], comment: `entry ${k}`, where: { file: "big.yml", line: k + 1 } });
  }
  specs.push({ index: ENTRIES, match: { account: "alice", name: "final/*" }, actions: ["pull", "push"], comment: "final", where: { file: "big.yml", line: ENTRIES + 1 } });
  return new AclAuthorizer(specs, undefined, options);
}

const req: AuthzRequest = { account: "alice", type: "repository", name: "final/app", service: "registry.example.com", actions: ["pull", "push"], labels: { group: ["devs", "ops"] }, ip: "10.0.0.1" };

function microsPerDecision(acl: AclAuthorizer, rounds: number): number {
  for (let k = 0; k < Math.min(rounds, 2000); k++) acl.decide(req); // warm up
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < rounds; k++) acl.decide(req);
  return Number(process.hrtime.bigint() - t0) / 1000 / rounds;
}

describe("a decision over a 10,000-entry ACL", () => {
  test("indexed (the default for long ACLs): the same answers as the scan, with its speed reported", (t) => {
    const indexed = bigAcl({});
    const linear = bigAcl({ index: false });
    const d = indexed.decide(req);
    assert.equal(d.kind === "match" && d.rule?.comment, "final");
    assert.deepEqual(d, linear.decide(req));
    // A match early on, a label-pattern entry, and no match at all agree too.
    for (const r of [
      { ...req, account: "user-0", name: "lib-0" },
      { ...req, account: "x", name: "group-4/app", labels: { group: ["group-4"] } },
      { ...req, account: "svc-3", name: "svc-3/app" },
      { ...req, account: "nobody", name: "project-2/x" },
      { ...req, account: "nobody", name: "nothing" },
    ]) assert.deepEqual(indexed.decide(r), linear.decide(r), JSON.stringify(r));
    const us = microsPerDecision(indexed, 50_000);
    const scan = microsPerDecision(linear, 400);
    // Reported, not asserted: tests never depend on timing (bench/ has the figures).
    t.diagnostic(`indexed: ${us.toFixed(2)} µs per decision; linear scan: ${scan.toFixed(0)} µs`);
  });
});
