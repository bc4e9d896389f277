// RE2 (re2-wasm) has a fixed 16 MiB WebAssembly heap. These tests hold regauth to
// bounded use of it: dynamic patterns through an LRU that deletes evicted RE2 objects,
// static ones interned and freed when their ACL stops, engine failures raised as
// errors (a 5xx), never cached as "matches nothing", and nothing printed to stderr.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { AclAuthorizer } from "../../src/authz/acl.js";
import type { AuthzRequest } from "../../src/authz/authorizer.js";
import { PatternEngineError } from "../../src/authz/go-pattern.js";
import { dynamicCacheStats, RE2_COMPILED_MAX } from "../../src/authz/pattern-template.js";
import { re2EngineStats } from "../../src/authz/re2-engine.js";
import type { AclEntrySpec, MatchSpec } from "../../src/config/types.js";

function acl(...matches: MatchSpec[]): AclAuthorizer {
  const specs: AclEntrySpec[] = matches.map((match, index) => ({ index, match, actions: ["pull"], where: { file: "acl.yml", line: index + 1 } }));
  return new AclAuthorizer(specs);
}

function request(r: Partial<AuthzRequest>): AuthzRequest {
  return { account: "", type: "repository", name: "", service: "", actions: ["pull"], labels: {}, ...r };
}

const MiB = 1 << 20;

describe("RE2 heap: bounded, whatever the traffic", () => {
  test("100,000 distinct service values through a placeholder regex that runs on RE2 all answer right; the heap stays bounded", { timeout: 600_000 }, () => {
    const a = acl({ name: "/^${service}(/[a-z0-9._-]+)+$/" }, { name: "/^static(/[a-z]+)+$/" });
    const before = re2EngineStats();
    for (let k = 0; k < 100_000; k++) {
      const service = `svc${k}.example.com`;
      const yes = a.decide(request({ service, name: `${service}/team/app` }));
      assert.equal(yes.kind === "match" && yes.rule?.index, 0, `match for ${service}`);
      const no = a.decide(request({ service, name: `${service}x/team/app` }));
      assert.equal(no.kind, "no-match", `no match for ${service}x`);
      if (k % 10_000 === 0) assert.ok(re2EngineStats().programs <= RE2_COMPILED_MAX + before.programs + 2);
    }
    const after = re2EngineStats();
    assert.equal(after.recycles, before.recycles, "the engine never ran out of memory");
    assert.ok(dynamicCacheStats().re2 <= RE2_COMPILED_MAX);
    assert.ok(after.programs <= RE2_COMPILED_MAX + before.programs + 2, `programs alive: ${after.programs}`);
    assert.ok(after.largestFreeBlock >= 3 * MiB, `largest free block ${after.largestFreeBlock}`);
    // A static RE2 pattern still works afterwards, and so does a value seen long ago.
    const s = a.decide(request({ service: "other", name: "static/x/y" }));
    assert.equal(s.kind === "match" && s.rule?.index, 1);
    assert.equal(a.decide(request({ service: "svc0.example.com", name: "svc0.example.com/a" })).kind, "match");
    void a.stop();
  });

  test("50 ACL rebuild+stop cycles, each with 120 RE2 patterns of its own, leave the heap as they found it", () => {
    const before = re2EngineStats();
    const shared = "/^shared(/[a-z]+)+$/";
    for (let cycle = 0; cycle < 50; cycle++) {
      const matches: MatchSpec[] = [{ name: shared }];
      for (let k = 0; k < 120; k++) matches.push({ name: `/^c${cycle}-p${k}(/[a-z]+)+$/` });
      const a = acl(...matches);
      assert.equal(a.decide(request({ name: `c${cycle}-p7/x/y` })).kind === "match", true);
      assert.equal(a.decide(request({ name: "shared/x" })).kind === "match", true);
      void a.stop();
    }
    const after = re2EngineStats();
    assert.equal(after.recycles, before.recycles, "the engine never ran out of memory");
    assert.equal(after.programs, before.programs, "every program of a stopped ACL was deleted");
    assert.ok(after.largestFreeBlock >= before.largestFreeBlock - MiB, `largest free block ${after.largestFreeBlock} (was ${before.largestFreeBlock})`);
  });

  test("static patterns compiled the same way are shared across reloads, not recreated", () => {
    const matches: MatchSpec[] = [];
    for (let k = 0; k < 100; k++) matches.push({ name: `/^reload-${k}(/[a-z]+)+$/` });
    const first = acl(...matches);
    const once = re2EngineStats().programs;
    const later: AclAuthorizer[] = [];
    for (let n = 0; n < 20; n++) later.push(acl(...matches));
    assert.equal(re2EngineStats().programs, once, "twenty reloads of the same ACL add no program");
    void first.stop();
    for (const a of later.slice(0, -1)) void a.stop();
    // Still held by the last ACL, which still answers.
    assert.equal(re2EngineStats().programs, once);
    assert.equal(later.at(-1)!.decide(request({ name: "reload-5/x" })).kind, "match");
    void later.at(-1)!.stop();
    assert.equal(re2EngineStats().programs, once - 100);
  });

  test("an ACL used after stop() still answers right (a late request), taking its programs back", () => {
    const a = acl({ name: "/^late(/[a-z]+)+$/" });
    void a.stop();
    assert.equal(a.decide(request({ name: "late/x" })).kind, "match");
    assert.equal(a.decide(request({ name: "late" })).kind, "no-match");
  });
});

describe("a filled pattern Go refuses matches nothing; an engine failure is an error", () => {
  test("label values that make the regex invalid in Go: no match, then the next value is tried", () => {
    const a = acl({ name: "/^${labels:team}(/[a-z]+)+$/" });
    const labels = { team: ["(", "a[", "ok"] };
    assert.equal(a.decide(request({ labels, name: "(/x" })).kind, "no-match");
    assert.equal(a.decide(request({ labels, name: "ok/x" })).kind, "match");
  });

  test("RE2 refusing what Go compiles is an engine error (PatternEngineError, a 500), not a no-match", () => {
    // Go accepts {0} ending a nested count; this RE2 build does not. The (x+)+ sends the pattern to RE2.
    const a = acl({ name: "/^${service}((a{2}){0}){600}(x+)+$/" });
    for (let k = 0; k < 2; k++) {
      assert.throws(
        () => a.decide(request({ service: "svc", name: "svcxx" })),
        (e: unknown) => e instanceof PatternEngineError && e.status === 500,
      );
    }
  });

  test("RE2 out of memory: a PatternEngineError every time (never cached as a no-match); the engine then recovers", () => {
    const a = acl({ account: "big", name: "/^${service}(\\pL{200}|x)+$/" }, { name: "/^after(/[a-z]+)+$/" });
    const before = re2EngineStats();
    for (let k = 0; k < 2; k++) {
      assert.throws(
        () => a.decide(request({ account: "big", service: "big", name: "bigx" })),
        (e: unknown) => e instanceof PatternEngineError && /RE2/.test(e.message),
      );
    }
    // The failed instance was replaced (once for the attempt, once for its retry); the second request
    // got the remembered error without trying again.
    assert.equal(re2EngineStats().recycles, before.recycles + 2);
    assert.equal(a.decide(request({ service: "big", name: "after/ok" })).kind, "match");
    assert.equal(a.decide(request({ service: "big", name: "after" })).kind, "no-match");
  });
});

describe("RE2 writes nothing to stderr", () => {
  test("invalid filled patterns and an engine failure, in a child process: stderr stays empty", () => {
    const aclUrl = new URL("../../src/authz/acl.js", import.meta.url).href;
    const script = `
      import { AclAuthorizer } from ${JSON.stringify(aclUrl)};
      const spec = (index, match) => ({ index, match, actions: ["pull"], where: { file: "x.yml", line: index + 1 } });
      const acl = new AclAuthorizer([
        spec(0, { name: "/^\${labels:team}(/[a-z]+)+$/" }),
        spec(1, { account: "big", name: "/^\${service}(\\\\pL{200}|x)+$/" }),
        spec(2, { name: "/^static(/[a-z]+)+$/" }),
      ]);
      const req = (r) => ({ account: "", type: "repository", name: "", service: "", actions: ["pull"], labels: {}, ...r });
      const out = [];
      out.push(acl.decide(req({ labels: { team: ["(", "[", "a)", "\\\\"] }, name: "(/x" })).kind);
      try { acl.decide(req({ account: "big", service: "big", name: "bigx" })); out.push("no error"); } catch (e) { out.push(e.constructor.name); }
      out.push(acl.decide(req({ service: "s", name: "static/ok" })).kind);
      process.stdout.write(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ["no-match", "PatternEngineError", "match"]);
    assert.equal(r.stderr, "");
  });
});
