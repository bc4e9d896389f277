// Scope parsing: the distribution spec's grammar (docs/spec/auth/scope.md),
// `type[(class)]:name:action[,action...]`, and the merging docker clients rely on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError } from "../../src/errors.js";
import { formatScope, MAX_SCOPES, parseScope, parseScopes, type Scope } from "../../src/request/scope.js";

/** Assert that `fn` throws a 400 BadRequestError whose message contains every fragment. */
function assertBadRequest(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BadRequestError, `expected BadRequestError, got ${String(e)}`);
    assert.equal(e.status, 400);
    for (const f of fragments) {
      if (typeof f === "string") assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(f)}`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

describe("parseScope: well-formed scopes", () => {
  const cases: { text: string; want: Scope }[] = [
    { text: "repository:samalba/my-app:pull,push", want: { type: "repository", class: undefined, name: "samalba/my-app", actions: ["pull", "push"] } },
    { text: "repository:foo:pull", want: { type: "repository", class: undefined, name: "foo", actions: ["pull"] } },
    { text: "repository:foo:push,pull", want: { type: "repository", class: undefined, name: "foo", actions: ["pull", "push"] } },
    { text: "repository:foo:push,delete,pull", want: { type: "repository", class: undefined, name: "foo", actions: ["delete", "pull", "push"] } },
    { text: "repository:foo:pull,pull", want: { type: "repository", class: undefined, name: "foo", actions: ["pull"] } },
    { text: "repository:foo:pull,,push", want: { type: "repository", class: undefined, name: "foo", actions: ["pull", "push"] } },
    { text: "repository:foo:*", want: { type: "repository", class: undefined, name: "foo", actions: ["*"] } },
    { text: "registry:catalog:*", want: { type: "registry", class: undefined, name: "catalog", actions: ["*"] } },
    { text: "repository(plugin):x:pull", want: { type: "repository", class: "plugin", name: "x", actions: ["pull"] } },
    { text: "repository(image):team/app:pull", want: { type: "repository", class: "image", name: "team/app", actions: ["pull"] } },
    // A registry host with a port puts a third colon in the scope; the name keeps it.
    { text: "repository:localhost:5000/foo:pull", want: { type: "repository", class: undefined, name: "localhost:5000/foo", actions: ["pull"] } },
    { text: "repository:registry.example.com:443/team/app:push", want: { type: "repository", class: undefined, name: "registry.example.com:443/team/app", actions: ["push"] } },
    { text: "repository:registry.example.com/team/app:pull", want: { type: "repository", class: undefined, name: "registry.example.com/team/app", actions: ["pull"] } },
    // The hostname grammar allows uppercase and inner dashes; path components do not allow uppercase.
    { text: "repository:My-Registry.Example.com/app:pull", want: { type: "repository", class: undefined, name: "My-Registry.Example.com/app", actions: ["pull"] } },
    // Separators: `.`, `_`, `__`, any run of `-`.
    { text: "repository:a.b_c__d-e---f/g:pull", want: { type: "repository", class: undefined, name: "a.b_c__d-e---f/g", actions: ["pull"] } },
    { text: "repository:0/1/2:pull", want: { type: "repository", class: undefined, name: "0/1/2", actions: ["pull"] } },
    { text: "type2:name:x", want: { type: "type2", class: undefined, name: "name", actions: ["x"] } },
  ];
  for (const { text, want } of cases) {
    test(text, () => {
      assert.deepEqual(parseScope(text), want);
    });
  }

  test("a name of exactly 255 characters is accepted", () => {
    const name = `team/${"a".repeat(250)}`;
    assert.equal(name.length, 255);
    assert.equal(parseScope(`repository:${name}:pull`).name, name);
  });
});

describe("parseScope: every malformed scope is a 400 that says what is wrong", () => {
  const cases: { text: string; why: (string | RegExp)[] }[] = [
    { text: "", why: ["expected type:name:actions"] },
    { text: "repository", why: ["expected type:name:actions"] },
    { text: "repository:foo", why: ['"repository:foo"', "expected type:name:actions"] },
    { text: "repository::pull", why: ["resource name is empty"] },
    { text: ":foo:pull", why: ["resource type", "lowercase"] },
    { text: "Repository:foo:pull", why: ['"Repository"', "lowercase"] },
    { text: "repo-sitory:foo:pull", why: ['"repo-sitory"'] },
    { text: "repository(Plugin):foo:pull", why: ['"repository(Plugin)"'] },
    { text: "repository():foo:pull", why: ['"repository()"'] },
    { text: "repository(plugin:foo:pull", why: ['"repository(plugin"'] },
    { text: "repository:Foo:pull", why: ['"Foo"', "not a valid repository name"] },
    { text: "repository:team/App:pull", why: ['"team/App"', "not a valid repository name"] },
    { text: "repository:team//app:pull", why: ["not a valid repository name"] },
    { text: "repository:/app:pull", why: ["not a valid repository name"] },
    { text: "repository:app/:pull", why: ["not a valid repository name"] },
    { text: "repository:-app:pull", why: ["not a valid repository name"] },
    { text: "repository:app-:pull", why: ["not a valid repository name"] },
    { text: "repository:a..b:pull", why: ["not a valid repository name"] },
    { text: "repository:a___b:pull", why: ["not a valid repository name"] },
    { text: "repository:a_-b:pull", why: ["not a valid repository name"] },
    { text: "repository:team app:pull", why: ["not a valid repository name"] },
    { text: "repository:foo:bar:pull", why: ['"foo:bar"', "not a valid repository name"] },
    { text: "repository:localhost:port/foo:pull", why: ["not a valid repository name"] },
    { text: "repository:a:b:c:pull", why: ["not a valid repository name"] },
    { text: "repository:foo:", why: ["no actions requested"] },
    { text: "repository:foo:,", why: ["no actions requested"] },
    { text: "repository:foo:PULL", why: ['"PULL"', "lowercase letters"] },
    { text: "repository:foo:pull,Push", why: ['"Push"'] },
    { text: "repository:foo:pu-ll", why: ['"pu-ll"'] },
    { text: "repository:foo:pull1", why: ['"pull1"'] },
    { text: "repository:foo:**", why: ['"**"'] },
    { text: `repository:${"a".repeat(256)}:pull`, why: ["longer than 255 characters"] },
  ];
  for (const { text, why } of cases) {
    test(JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text), () => {
      assertBadRequest(() => parseScope(text), "malformed scope", ...why);
    });
  }

  test("the error has the INVALID_SCOPE code", () => {
    assert.throws(() => parseScope("repository:Foo:pull"), (e: unknown) => e instanceof BadRequestError && e.code === "INVALID_SCOPE");
  });

  test("an overlong scope is cut in the message", () => {
    const long = `repository:${"x".repeat(500)}:pull`;
    assert.throws(() => parseScope(long), (e: unknown) => e instanceof BadRequestError && e.message.length < 400);
  });

  // The name grammar's `[-]*` separator is a nested quantifier: written naively as a JS
  // RegExp, a long name that fails at its last character takes exponential time.
  const slow = [`${"a".repeat(254)}A`, `${"a-".repeat(127)}A`, `team/${"ab".repeat(120)}_`, `${"a".repeat(200)}.${"b".repeat(53)}-`];
  for (const name of slow) {
    test(`a long invalid name is refused at once (${JSON.stringify(name.slice(0, 12))}..., ${name.length} chars)`, () => {
      const t0 = process.hrtime.bigint();
      assertBadRequest(() => parseScope(`repository:${name}:pull`), "not a valid repository name");
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.ok(ms < 250, `took ${ms} ms`);
    });
  }
});

describe("parseScopes: several scopes per request", () => {
  test("no scope parameter is no scopes", () => {
    assert.deepEqual(parseScopes([]), []);
    assert.deepEqual(parseScopes([""]), []);
    assert.deepEqual(parseScopes(["  "]), []);
  });

  test("space-separated scopes in one parameter are each parsed", () => {
    assert.deepEqual(parseScopes(["repository:a:pull registry:catalog:*"]), [
      { type: "repository", class: undefined, name: "a", actions: ["pull"] },
      { type: "registry", class: undefined, name: "catalog", actions: ["*"] },
    ]);
  });

  test("repeated scopes for one resource merge into the union of their actions, sorted", () => {
    // docker push asks for pull,push on the target and pull on the mount source, sometimes
    // repeating the target; the token must carry one entry per resource.
    assert.deepEqual(parseScopes(["repository:a:push", "repository:b:pull", "repository:a:pull"]), [
      { type: "repository", class: undefined, name: "a", actions: ["pull", "push"] },
      { type: "repository", class: undefined, name: "b", actions: ["pull"] },
    ]);
  });

  test("merging works across parameters and space-separated values alike", () => {
    assert.deepEqual(parseScopes(["repository:a:push repository:a:delete", "repository:a:pull,push"]), [
      { type: "repository", class: undefined, name: "a", actions: ["delete", "pull", "push"] },
    ]);
  });

  test("a different class or type is a different resource", () => {
    const got = parseScopes(["repository:a:pull repository(plugin):a:push", "registry:a:*"]);
    assert.equal(got.length, 3);
    assert.deepEqual(
      got.map((s) => formatScope(s, s.actions)),
      ["repository:a:pull", "repository(plugin):a:push", "registry:a:*"],
    );
  });

  test("the host:port name is one resource with the colon kept", () => {
    assert.deepEqual(parseScopes(["repository:localhost:5000/foo:pull", "repository:localhost:5000/foo:push"]), [
      { type: "repository", class: undefined, name: "localhost:5000/foo", actions: ["pull", "push"] },
    ]);
  });

  test("doubled spaces are tolerated", () => {
    assert.equal(parseScopes(["repository:a:pull  repository:b:pull "]).length, 2);
  });

  test(`at most ${MAX_SCOPES} scopes, counted before merging`, () => {
    const many = Array.from({ length: MAX_SCOPES }, (_, i) => `repository:r${i}:pull`);
    assert.equal(parseScopes(many).length, MAX_SCOPES);
    assertBadRequest(() => parseScopes([...many, "repository:one-more:pull"]), "too many scopes", String(MAX_SCOPES));
    // The same scope repeated also counts: the limit bounds the parsing work.
    assertBadRequest(() => parseScopes([Array(MAX_SCOPES + 1).fill("repository:a:pull").join(" ")]), "too many scopes");
  });

  test("one bad scope among good ones fails the whole request", () => {
    assertBadRequest(() => parseScopes(["repository:a:pull", "repository:B:pull"]), '"B"');
  });
});

describe("formatScope", () => {
  const cases: [Pick<Scope, "type" | "class" | "name">, string[], string][] = [
    [{ type: "repository", name: "team/app" }, ["pull", "push"], "repository:team/app:pull,push"],
    [{ type: "repository", class: "plugin", name: "x" }, ["pull"], "repository(plugin):x:pull"],
    [{ type: "registry", name: "catalog" }, ["*"], "registry:catalog:*"],
    [{ type: "repository", name: "localhost:5000/foo" }, [], "repository:localhost:5000/foo:"],
  ];
  for (const [scope, actions, want] of cases) {
    test(want, () => assert.equal(formatScope(scope, actions), want));
  }

  test("round-trips what parseScope reads", () => {
    for (const text of ["repository:a/b:pull,push", "repository(plugin):x:pull", "repository:localhost:5000/foo:delete", "registry:catalog:*"]) {
      const s = parseScope(text);
      assert.equal(formatScope(s, s.actions), text);
    }
  });
});
