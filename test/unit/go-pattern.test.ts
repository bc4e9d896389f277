// ACL patterns must match exactly what docker_auth's Go code matches: globs as
// Go's path.Match reads them, `/.../` as RE2 regexes matched unanchored (regexp.Match).
// Expectations come from Go's documented behaviour (path.Match, regexp/syntax).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  compileGoPattern,
  disposeMatcher,
  globQuote,
  globToRegExp,
  isRe2Matcher,
  isRegexPattern,
  literalPrefix,
  mayBacktrack,
  PatternError,
  quoteMeta,
  re2ToRegExp,
  translateRe2,
  type Matcher,
} from "../../src/authz/go-pattern.js";

type Row = [pattern: string, name: string, matches: boolean];

function table(rows: readonly Row[], compile: (p: string) => Matcher): void {
  for (const [pattern, name, want] of rows) {
    test(`${JSON.stringify(pattern)} ${want ? "matches" : "does not match"} ${JSON.stringify(name)}`, () => {
      assert.equal(compile(pattern).test(name), want);
    });
  }
}

function refused(patterns: readonly (string | [string, string | RegExp])[], compile: (p: string) => Matcher): void {
  for (const row of patterns) {
    const [pattern, why] = typeof row === "string" ? [row, undefined] : row;
    test(`${JSON.stringify(pattern)} is refused${why ? ` (${String(why)})` : ""}`, () => {
      assert.throws(() => compile(pattern), (e: unknown) => {
        assert.ok(e instanceof PatternError, `expected PatternError, got ${String(e)}`);
        if (typeof why === "string") assert.ok(e.message.includes(why), `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(why)}`);
        else if (why) assert.match(e.message, why);
        return true;
      });
    });
  }
}

describe("isRegexPattern: /.../ with something inside is a regex, anything else a glob", () => {
  const rows: [string, boolean][] = [
    ["/a/", true],
    ["/.+/", true],
    ["//", false],
    ["/", false],
    ["/a", false],
    ["a/", false],
    ["a/b", false],
    ["", false],
  ];
  for (const [p, want] of rows) test(JSON.stringify(p), () => assert.equal(isRegexPattern(p), want));

  test("compileGoPattern reads // and /a as globs (literal slashes)", () => {
    assert.equal(compileGoPattern("//").test("//"), true);
    assert.equal(compileGoPattern("//").test("x"), false);
    assert.equal(compileGoPattern("/a").test("/a"), true);
    assert.equal(compileGoPattern("/a/").test("xay"), true);
  });
});

describe("globs: exactly Go's path.Match", () => {
  describe("literals, * and ?", () => {
    table(
      [
        ["abc", "abc", true],
        ["abc", "abd", false],
        ["abc", "ab", false],
        ["abc", "abcd", false],
        ["", "", true],
        ["", "a", false],
        ["*", "abc", true],
        ["*", "", true],
        ["*", "a/b", false],
        ["**", "abc", true],
        ["**", "a/b", false],
        ["*c", "abc", true],
        ["*x", "xxx", true],
        ["a*", "a", true],
        ["a*", "abc", true],
        ["a*", "", false],
        ["a*", "ab/c", false],
        ["a*/b", "abc/b", true],
        ["a*/b", "a/c/b", false],
        ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
        ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
        ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
        ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
        ["a*b?c*x", "abxbbxdbxebxczzx", true],
        ["a*b?c*x", "abxbbxdbxebxczzy", false],
        ["team/*", "team/app", true],
        ["team/*", "team/", true],
        ["team/*", "team/app/sub", false],
        ["team/*", "other/app", false],
        ["*/*", "a/b", true],
        ["*/*", "a/b/c", false],
        ["*/app", "team/app", true],
        ["*/app", "org/team/app", false],
        ["?", "a", true],
        ["?", "", false],
        ["?", "ab", false],
        ["?", "/", false],
        ["a?b", "a/b", false],
        ["a*b", "a/b", false],
        // ? is one character, not one UTF-16 unit or one byte.
        ["a?b", "a☺b", true],
        ["a???b", "a☺b", false],
        ["a?b", "a😀b", true],
        ["a??b", "a😀b", false],
      ],
      globToRegExp,
    );
  });

  describe("character classes", () => {
    table(
      [
        ["ab[c]", "abc", true],
        ["ab[b-d]", "abc", true],
        ["ab[e-g]", "abc", false],
        ["ab[^c]", "abc", false],
        ["ab[^b-d]", "abc", false],
        ["ab[^e-g]", "abc", true],
        ["a[^a]b", "a☺b", true],
        ["a[^a][^a][^a]b", "a☺b", false],
        ["[a-ζ]*", "α", true],
        ["*[a-ζ]", "A", false],
        ["[0-9][0-9]", "42", true],
        ["[0-9][0-9]", "4x", false],
        ["v[0-9].*", "v1.2", true],
        // A class is one character of any kind: unlike * and ?, it can match /.
        ["a[^x]b", "a/b", true],
        ["a[/]b", "a/b", true],
        // Inside a class * and ? are plain characters.
        ["[*]", "*", true],
        ["[*]", "a", false],
        ["[?]", "?", true],
        ["[?]", "a", false],
        ["[*?]x", "?x", true],
        // Escapes inside a class.
        ["[\\]a]", "]", true],
        ["[\\]a]", "a", true],
        ["[\\-]", "-", true],
        ["[x\\-]", "x", true],
        ["[x\\-]", "-", true],
        ["[x\\-]", "z", false],
        ["[\\-x]", "-", true],
        ["[\\-x]", "a", false],
        ["[\\^]", "^", true],
        ["[^\\^]", "^", false],
        ["[a\\b]", "b", true],
      ],
      globToRegExp,
    );
  });

  describe("escapes and characters that are special to regexes but not to globs", () => {
    table(
      [
        ["a\\*b", "a*b", true],
        ["a\\*b", "ab", false],
        ["a\\*b", "axb", false],
        ["a\\?b", "a?b", true],
        ["a\\?b", "axb", false],
        ["a\\[b", "a[b", true],
        ["\\a\\b", "ab", true],
        ["a\\\\b", "a\\b", true],
        ["test-*", "test-app", true],
        ["test-*", "test/app", false],
        ["my-team/my-app", "my-team/my-app", true],
        ["a-b", "a-b", true],
        ["a-b", "ab", false],
        ["a.b", "a.b", true],
        ["a.b", "axb", false],
        ["a+b", "a+b", true],
        ["a+", "aa", false],
        ["(a|b)", "(a|b)", true],
        ["(a|b)", "a", false],
        ["{a,b}", "{a,b}", true],
        ["{a,b}", "a", false],
        ["^a$", "^a$", true],
        ["^a$", "a", false],
        ["a]", "a]", true],
        ["a}", "a}", true],
        ["${x}", "${x}", true],
        ["a#b@c", "a#b@c", true],
        ["localhost:5000/*", "localhost:5000/app", true],
      ],
      globToRegExp,
    );
  });

  describe("a star places the next chunk at its leftmost fit and never moves it back (Go's algorithm, not a backtracking regex)", () => {
    table(
      [
        // [^x] may match "/", but Go puts it on "a" (leftmost) and then the last * cannot cross "/".
        ["*[^x]*", "a/b", false],
        ["*[^x]*", "a/", false],
        ["*[^x]*", "ab", true],
        ["*[^x]*", "a", true],
        // Here [^a] does not fit on "a", so its leftmost fit is the "/" and the last * takes "b".
        ["*[^a]*", "a/b", true],
        ["x*[^x]*", "xa/b", false],
        // The last chunk is placed wherever it ends the name, so these still match.
        ["*[^a]b", "x/b", true],
        ["*[^x]", "a/", true],
        ["*[^x]b", "a/b", true],
      ],
      globToRegExp,
    );
  });

  describe("bad patterns are refused (Go returns ErrBadPattern for them, so they could never match)", () => {
    refused(
      [
        ["[", "missing closing ]"],
        ["[^", "missing closing ]"],
        ["[^bc", "missing closing ]"],
        ["a[", "missing closing ]"],
        ["a/b[", "missing closing ]"],
        "[a",
        "[a-",
        "[]",
        "[]a]",
        "[^]",
        "[-]",
        "[-a]",
        "[x-]",
        "[a-b-c]",
        ["\\", "trailing backslash"],
        ["a\\", "trailing backslash"],
        ["[\\", "trailing backslash"],
        "[a\\",
      ],
      globToRegExp,
    );
  });
});

describe("regexes: RE2 as Go's regexp reads it, matched unanchored", () => {
  describe("the syntax docker_auth users write", () => {
    table(
      [
        // Unanchored, as regexp.Match.
        ["admin", "superadmin", true],
        ["^admin$", "superadmin", false],
        [".+", "x", true],
        [".+", "", false],
        ["^(alice|bob)$", "bob", true],
        ["^(alice|bob)$", "carol", false],
        // Named groups, Python style (what Go documents) and the newer bare style.
        ["^(?P<team>[a-z]+)/app$", "dev/app", true],
        ["^(?P<team>[a-z]+)/app$", "Dev/app", false],
        ["^(?<team>[a-z]+)/app$", "dev/app", true],
        ["^(?:dev|ops)/", "ops/x", true],
        // A leading flag group.
        ["(?i)^TEAM/", "team/app", true],
        ["(?i)^TEAM/", "Team/app", true],
        ["(?i)^TEAM/", "xteam/app", false],
        ["(?i)^[a-c]+$", "ABC", true],
        ["(?s)^a.b$", "a\nb", true],
        ["(?is)^A.B$", "a\nb", true],
        // \A and \z: beginning and end of text.
        ["\\Ateam\\z", "team", true],
        ["\\Ateam\\z", "myteam", false],
        ["\\Ateam\\z", "team\n", false],
        ["^team$", "team\n", false],
        // \Q...\E quotes everything, with or without the \E.
        ["^\\Qa.b*c\\E$", "a.b*c", true],
        ["^\\Qa.b*c\\E$", "axbbc", false],
        ["^\\Qa-b[c]\\E$", "a-b[c]", true],
        ["^x\\Q.+", "x.+", true],
        ["^x\\Q.+", "xab", false],
        // POSIX classes, plain and negated.
        ["^[[:alpha:]]+$", "abcXYZ", true],
        ["^[[:alpha:]]+$", "ab1", false],
        ["^[[:alnum:]_-]+$", "a_b-1", true],
        ["^[[:digit:]]{3}$", "123", true],
        ["^[[:lower:]]+$", "abc", true],
        ["^[[:lower:]]+$", "aBc", false],
        ["^[[:upper:]]+$", "ABC", true],
        ["^[[:xdigit:]]+$", "c0ffee", true],
        ["^[[:xdigit:]]+$", "coffee", false],
        ["^[[:punct:]]+$", "!-/@[`{~", true],
        ["^[[:space:]]+$", " \t\v\f\r\n", true],
        ["^[[:^digit:]]+$", "abc", true],
        ["^[[:^digit:]]+$", "a1", false],
        ["^[^[:alpha:]]+$", "123", true],
        ["^[[:blank:]-z]+$", "\t -z", true],
        ["^[[:blank:]-z]+$", "a", false],
        // Unicode classes.
        ["^\\pL+$", "héllo", true],
        ["^\\pL+$", "h3llo", false],
        ["^\\p{L}+$", "ÅÄÖ", true],
        ["^\\PL+$", "123", true],
        ["^\\PL+$", "1a", false],
        ["^\\pN+$", "42", true],
        ["^\\p{Greek}+$", "αβγ", true],
        ["^\\p{Greek}+$", "abc", false],
        ["^\\P{Greek}+$", "abc", true],
        ["^\\p{^Greek}+$", "abc", true],
        ["^[\\p{Lu}\\d]+$", "AB12", true],
        ["^[\\p{Lu}\\d]+$", "Ab", false],
        // Perl classes: ASCII, and \s is only [\t\n\f\r ].
        ["^\\d+$", "0123456789", true],
        ["^\\d+$", "٣", false],
        ["^\\w+$", "a_Z9", true],
        ["^\\w+$", "é", false],
        ["^\\s$", " ", true],
        ["^\\s$", "\t", true],
        ["^\\s$", "\v", false],
        ["^\\s$", "\u00a0", false],
        ["^\\S$", "\u00a0", true],
        ["^[\\s]$", "\v", false],
        ["^[^\\S]$", " ", true],
        ["^[\\d-z]+$", "1-z", true],
        ["^[\\d-z]+$", "a", false],
        ["\\bteam\\b", "my team", true],
        ["\\bteam\\b", "myteam", false],
        // `.` excludes only \n (not \r, unlike JS).
        ["^a.b$", "a\rb", true],
        ["^a.b$", "a\u2028b", true],
        ["^a.b$", "a\nb", false],
        // (?m): lines end at \n only.
        ["(?m)^b$", "a\nb\nc", true],
        ["(?m)^b", "a\rb", false],
        ["(?m)a$", "a\rb", false],
        ["^b", "a\nb", false],
      ],
      re2ToRegExp,
    );
  });

  describe("literal {, }, ] and escaped punctuation, as Go accepts them", () => {
    table(
      [
        ["^a{$", "a{", true],
        ["^a{,2}$", "a{,2}", true],
        ["^a{x}$", "a{x}", true],
        ["^{}$", "{}", true],
        ["^a{ 2}$", "a{ 2}", true],
        // Go reads no repetition with a leading zero: `{01}` is literal text.
        ["^a{01}$", "a{01}", true],
        ["^a{01}$", "a", false],
        ["^x}$", "x}", true],
        ["^]$", "]", true],
        ["^a]b$", "a]b", true],
        ["^[]a]+$", "]a]", true],
        ["^[^]a]$", "b", true],
        ["^[^]a]$", "]", false],
        ["^a{2}$", "aa", true],
        ["^a{2}$", "a", false],
        ["^a{2,}$", "aaaa", true],
        ["^a{2,3}$", "aaaa", false],
        ["^a{1000}$", "a".repeat(1000), true],
        ["^\\#\\-\\@\\~\\%\\&\\=\\!\\,\\;\\:\\'\\\"\\<\\>\\`$", "#-@~%&=!,;:'\"<>`", true],
        ["^[\\#\\-\\@]+$", "#-@", true],
        ["^[\\#\\-\\@]+$", "a", false],
        ["^a\\-b$", "a-b", true],
        ["^\\_$", "_", true],
        ["^\\ $", " ", true],
        ["^\\/$", "/", true],
        ["^a\\.b$", "a.b", true],
        ["^a\\.b$", "axb", false],
        ["^\\[\\]\\{\\}\\(\\)\\|\\^\\$\\*\\+\\?\\\\$", "[]{}()|^$*+?\\", true],
        // C, hex and octal escapes.
        ["^\\x41\\x{42}\\x{1F600}$", "AB😀", true],
        ["^\\101$", "A", true],
        ["^\\0$", "\0", true],
        ["^\\012$", "\n", true],
        ["^\\a\\f\\t\\n\\r\\v$", "\x07\f\t\n\r\v", true],
      ],
      re2ToRegExp,
    );
  });

  describe("what Go refuses is refused with a reason", () => {
    refused(
      [
        ["(?=a)", "lookaround"],
        ["(?!a)b", "lookaround"],
        ["(?<=a)b", "lookaround"],
        ["(?<!a)b", "lookaround"],
        ["(a)\\1", "backreference"],
        ["(a)(b)\\2", "backreference"],
        // Flag groups as Go's parsePerlFlags reads them: [imsU]*, then at most one - with at least one flag after it.
        ["(?i-)a", "invalid or unsupported Perl syntax"],
        ["(?-)a", "invalid or unsupported Perl syntax"],
        ["(?i-s-m)a", "invalid or unsupported Perl syntax"],
        ["(?x)a", "invalid or unsupported Perl syntax"],
        ["(?P=n)", "invalid or unsupported Perl syntax"],
        ["(?#comment)a", "invalid or unsupported Perl syntax"],
        ["(?P<a-b>x)", "invalid named capture"],
        ["(?P<>x)", "invalid named capture"],
        ["(?P<a", "invalid named capture"],
        // Under (?U) `*?` is greedy, but it is still a repetition: another one is nested.
        ["(?U)a*??", "invalid nested repetition operator"],
        ["a{1001}", "invalid repeat count"],
        ["a{2,1001}", "invalid repeat count"],
        "{2}",
        "*a",
        "a**",
        "a++",
        "(a",
        "a)",
        ["[a", "missing closing ]"],
        ["[[:alpha:]", "missing closing ]"],
        ["[[:foo:]]", "[:foo:]"],
        "[z-a]",
        ["a\\", "trailing backslash"],
        ["\\C", "\\C"],
        ["\\cA", "invalid escape"],
        ["\\u0041", "invalid escape"],
        ["\\e", "invalid escape"],
        ["\\Z", "invalid escape"],
        ["\\8", "invalid escape"],
        ["\\é", "invalid escape"],
        ["[\\Q]\\E]", "invalid escape"],
        ["[\\b]", "invalid escape"],
        ["\\x{110000}", "invalid escape"],
        ["\\xZZ", "invalid escape"],
        "\\p{NoSuchScript}",
        // Go's repeatIsValid: nested counted repetitions may make at most 1000 copies.
        ["(a{100}){100}", "invalid repeat count"],
        ["(?:(?:a{10}){10}){11}", "invalid repeat count"],
        ["(a{2,}){501}", "invalid repeat count"],
        ["((?:a{2})*){501}", "invalid repeat count"],
        ["a{2}*", "invalid nested repetition operator"],
      ],
      (p) => compileGoPattern(`/${p}/`),
    );
  });

  describe("compileGoPattern strips the slashes and refuses a bad regex", () => {
    table(
      [
        ["/^team\\/.+$/", "team/app", true],
        ["/(?i)^ADMIN$/", "admin", true],
        ["/a{/", "xa{y", true],
      ],
      compileGoPattern,
    );
    refused(["/(?=x)/", "/[/", "/a\\/", "["], compileGoPattern);
  });
});

describe("quoteMeta: Go's regexp.QuoteMeta, as docker_auth quotes ${account} and friends", () => {
  const rows: [string, string][] = [
    ["alice", "alice"],
    ["a.b", "a\\.b"],
    ["\\.+*?()|[]{}^$", "\\\\\\.\\+\\*\\?\\(\\)\\|\\[\\]\\{\\}\\^\\$"],
    ["a-b/c@d#e", "a-b/c@d#e"],
  ];
  for (const [input, want] of rows) test(JSON.stringify(input), () => assert.equal(quoteMeta(input), want));

  test("a quoted value matches only itself, as a regex and as a glob", () => {
    for (const value of ["a.b", "x*y", "q?", "[ab]", "a{2}", "(a|b)", "^$", "c\\d", "a+b"]) {
      const asRegex = re2ToRegExp(`^${quoteMeta(value)}$`);
      const asGlob = globToRegExp(quoteMeta(value));
      assert.ok(asRegex.test(value), `regex for ${value}`);
      assert.ok(asGlob.test(value), `glob for ${value}`);
      const other = value.replace(/[^a-z]/, "z");
      if (other !== value) {
        assert.ok(!asRegex.test(other), `regex for ${value} vs ${other}`);
        assert.ok(!asGlob.test(other), `glob for ${value} vs ${other}`);
      }
    }
  });
});

describe("regexes that could backtrack exponentially run on RE2 (linear time), others on V8", () => {
  const risky = ["^([a-z]+/?)+$", "(a|ab)*c", "^(\\w+\\s?)*$", ".*a.*b.*c", "((ab)*)+", "(x+x+)+y", "(a{1,})+"];
  const safe = ["^team/.+$", "^(dev|ops)/[a-z0-9-]+$", "^[a-z]+/.*$", "(?i)^admin$", "^ci-[0-9]{1,5}$", "^(\\w+)/(\\w+)$"];
  for (const p of risky) {
    test(`risky: /${p}/ → RE2`, () => {
      assert.equal(mayBacktrack(re2ToRegExp(p).source), true);
      assert.ok(!(compileGoPattern(`/${p}/`) instanceof RegExp), "compiled by RE2, not V8");
    });
  }
  for (const p of safe) {
    test(`safe: /${p}/ → V8`, () => {
      assert.equal(mayBacktrack(re2ToRegExp(p).source), false);
      assert.ok(compileGoPattern(`/${p}/`) instanceof RegExp);
    });
  }
  test("RE2-backed matchers give the same answers and captures as Go would", () => {
    const m = compileGoPattern("/^([a-z]+/?)+$/");
    assert.equal(m.test("team/app/sub"), true);
    assert.equal(m.test("team//app"), false);
    // The classic exponential input: a long run then a mismatch. RE2 answers (false) without backtracking.
    assert.equal(m.test(`${"a".repeat(200)}!`), false);
    const c = compileGoPattern("/^(\\w+)-(\\w+)+$/");
    assert.equal(c.exec("team-app")?.[1], "team");
  });
});

/** Rows checked on both engines: as compiled (V8 or RE2, whichever regauth picks) and forced onto RE2. */
function bothEngines(rows: readonly Row[]): void {
  for (const [pattern, name, want] of rows) {
    test(`/${pattern}/ ${want ? "matches" : "does not match"} ${JSON.stringify(name)} (as compiled, and on RE2)`, () => {
      const auto = compileGoPattern(`/${pattern}/`);
      const re2 = compileGoPattern(`/${pattern}/`, { engine: "re2" });
      assert.equal(auto.test(name), want, "as compiled");
      assert.equal(re2.test(name), want, "on RE2");
      disposeMatcher(auto);
      disposeMatcher(re2);
    });
  }
}

describe("Go syntax that regauth once refused: flags anywhere, (?U), repeated group names", () => {
  bothEngines([
    // A flag group in the middle applies to the rest of its group.
    ["a(?i)b", "aB", true],
    ["a(?i)b", "AB", false],
    ["^a(?i)b$", "ab", true],
    ["(?i)a(?-i)b", "Ab", true],
    ["(?i)a(?-i)b", "AB", false],
    // (?flags:...) scopes them.
    ["(?i:a)b", "Ab", true],
    ["(?i:a)b", "AB", false],
    // [@-[] holds A-Z: still case-sensitive after (?-i).
    ["^(?i:x)[@-[]$", "Xq", false],
    ["^(?i:x)[@-[]$", "xQ", true],
    ["^(?i:a|b)c$", "Bc", true],
    ["(?i-s:a.)", "A\n", false],
    ["(?s:a.)b", "a\nb", true],
    ["^(?s)a.b$", "a\nb", true],
    ["^a(?s).b$", "a\nb", true],
    ["^a.(?s)b$", "a\nb", false],
    ["(?m:^b$)", "a\nb\nc", true],
    ["^a(?m)$", "a\nb", true],
    ["^a$", "a\nb", false],
    // (?U) swaps greedy and lazy; matching is the same, captures differ (below).
    ["(?U)^a+$", "aaa", true],
    ["(?U)^a+?b$", "aab", true],
    // (?) sets nothing, as in Go.
    ["(?)a", "a", true],
    // Go allows a group name twice (names do not change what matches) and names starting with a digit.
    ["^(?P<x>a)|(?P<x>b)$", "b", true],
    ["^(?P<x>a)|(?P<x>b)$", "c", false],
    ["^(?P<x>a)(?P<x>b)$", "ab", true],
    ["^(?P<1st>a)$", "a", true],
    ["^(?<x>a)(?<x>b)$", "ab", true],
    // An assertion may be repeated in Go (not in V8).
    ["^*a", "a", true],
    ["^*a", "ba", true],
    ["\\b+a", "a", true],
    ["a$?b", "ab", true],
    // Nested counted repetitions within Go's limit of 1000 copies.
    ["^(?:a{2}){3}$", "aaaaaa", true],
    ["^(?:a{2}){3}$", "aaaaa", false],
    ["^(a{0,}){1000}$", "aaa", true],
  ]);

  test("{0} ends Go's count of nested repetitions (RE2 C++ counts on and refuses; V8 runs it)", () => {
    const m = compileGoPattern("/^((a{2}){0}){600}b$/");
    assert.ok(m instanceof RegExp);
    assert.equal(m.test("b"), true);
    assert.equal(m.test("aab"), false);
  });

  test("(?U) captures as Go does: lazy by default, `?` makes greedy", () => {
    for (const engine of ["auto", "re2"] as const) {
      assert.deepEqual([...compileGoPattern("/^(?U)(a+)(a*)/", { engine }).exec("aaa")!].slice(0, 3), ["a", "a", ""], engine);
      assert.deepEqual([...compileGoPattern("/^(?U)(a+?)(a*)/", { engine }).exec("aaa")!].slice(0, 3), ["aaa", "aaa", ""], engine);
      assert.deepEqual([...compileGoPattern("/^(?U:(a+))(a*)/", { engine }).exec("aaa")!].slice(0, 3), ["aaa", "a", "aa"], engine);
    }
  });

  test("captures of repeated groups are Go's: compiled for captures, such a regex runs on RE2", () => {
    // V8 clears a group's captures at each iteration and refuses an empty iteration; Go keeps the last capture.
    const rows: [string, string, (string | undefined)[]][] = [
      ["(?:(a)|b)+", "ab", ["ab", "a"]],
      ["((x?){1,2})", "x", ["x", "x", ""]],
      ["((a)|b)+", "ab", ["ab", "b", "a"]],
      ["(a)+", "aa", ["aa", "a"]],
    ];
    for (const [p, s, want] of rows) {
      const m = compileGoPattern(`/${p}/`, { captures: true });
      assert.ok(isRe2Matcher(m), p);
      assert.deepEqual([...m.exec(s)!], want, p);
    }
    assert.ok(compileGoPattern("/^(a+)@(b)$/", { captures: true }) instanceof RegExp);
  });

  test("repeated names keep group numbers, as ${account:N} needs", () => {
    for (const engine of ["auto", "re2"] as const) {
      assert.deepEqual([...compileGoPattern("/^(?P<x>[a-z]+)\\.(?P<x>[a-z]+)$/", { engine }).exec("jo.acme")!], ["jo.acme", "jo", "acme"], engine);
    }
  });

  test("a mid-pattern case-insensitive flag runs on RE2; (?s), (?m), (?U) anywhere stay on V8", () => {
    assert.ok(isRe2Matcher(compileGoPattern("/a(?i)b/")));
    assert.ok(isRe2Matcher(compileGoPattern("/(?i:a)b/")));
    assert.ok(compileGoPattern("/(?i)ab/") instanceof RegExp);
    assert.ok(compileGoPattern("/a(?i)1/") instanceof RegExp, "digits have no case");
    assert.ok(compileGoPattern("/^a(?s).b$/") instanceof RegExp);
    assert.ok(compileGoPattern("/(?m:^b$)/") instanceof RegExp);
    assert.ok(compileGoPattern("/(?U)a+/") instanceof RegExp);
    assert.ok(compileGoPattern("/(?P<x>a)(?P<x>b)/") instanceof RegExp);
  });

  test("RE2 gets canonical syntax: literals as \\x{...}, plain groups for named ones", () => {
    assert.equal(translateRe2("^(?P<team>[a-z]+)\\.(?<x>\\d)$").re2, "^([\\x{61}-\\x{7a}]+)\\x{2e}(\\d)$");
    assert.equal(translateRe2("a(?i)b(?-i:c)").re2, "a(?i)b(?-i:c)");
    assert.equal(translateRe2("\\Qa.b\\E{2}").re2, "a\\x{2e}b{2}");
  });
});

describe("\\b and \\B are ASCII-only in Go, also under (?i); V8's /iu would count ſ (U+017F) and K (U+212A) as word characters", () => {
  const K = "\u212a";
  bothEngines([
    // The only boundary in "ſk" is between ſ (not a word character for Go) and k.
    ["(?i)\\bk", "ſk", true],
    ["(?i)\\bs", "ſ", false],
    ["(?i)\\bs\\b", "ſ", false],
    ["(?i)\\bs\\b", "S", true],
    ["(?i)x\\b", `x${K}`, true],
    ["(?i)\\bk", K, false],
    ["(?i)a\\Bſ", "aſ", false],
    ["(?i)a\\Bſ", "as", true],
    ["(?i)a\\B", `a${K}`, false],
    // \w does fold under (?i) in Go: ſ and K join s and k.
    ["(?i)^\\w$", "ſ", true],
    ["(?i)^\\w$", K, true],
    ["^\\w$", "ſ", false],
    ["(?i)^[[:word:]]$", "ſ", true],
    // A negated class is the complement of the folded class: (?i)[\W] has neither s nor ſ.
    ["(?i)^[\\W]$", "s", false],
    ["(?i)^[\\W]$", "ſ", false],
    ["(?i)^[\\W]$", "!", true],
    ["^[\\W]$", "ſ", true],
    ["(?i)^\\W$", "ſ", false],
    ["(?i)^\\P{Lu}$", "a", false],
    ["(?i)^\\P{Lu}$", "1", true],
    ["^\\P{Lu}$", "a", true],
    ["(?i)^[[:^ascii:]]$", "ſ", false],
    ["(?i)^[[:^ascii:]]$", "é", true],
    ["(?i)^[^a-z]$", "ſ", false],
    ["(?i)^[^k]$", K, false],
  ]);

  test("those patterns run on RE2", () => {
    for (const p of ["(?i)\\bk", "(?i)x\\B", "(?i)[\\W]", "(?i)\\P{Lu}", "(?i)[[:^alpha:]]", "(?i)\\p{^Greek}"]) assert.ok(isRe2Matcher(compileGoPattern(`/${p}/`)), p);
    for (const p of ["\\bk", "(?i)\\w", "(?i)\\W", "(?i)[^k]"]) assert.ok(compileGoPattern(`/${p}/`) instanceof RegExp, p);
  });
});

describe("\\A, \\z, ^, $ and . around characters outside the BMP (one code point each, as Go reads UTF-8)", () => {
  bothEngines([
    ["\\A😀\\z", "😀", true],
    ["\\A😀\\z", "😀😀", false],
    ["\\A😀", "x😀", false],
    ["😀\\z", "😀x", false],
    ["^.\\z", "😀", true],
    ["^..\\z", "😀", false],
    ["\\A.{2}\\z", "😀x", true],
    ["\\A.{2}\\z", "😀", false],
    ["(?s)\\A.\\z", "😀", true],
    ["\\A[^a]\\z", "😀", true],
    ["\\A[😀-😂]\\z", "😁", true],
    ["\\A\\x{1F600}+\\z", "😀😀", true],
    ["\\A\\pL\\z", "𐐀", true],
    ["(?i)\\A𐐨\\z", "𐐀", true],
    ["(?m)^😀$", "a\n😀\nb", true],
    ["\\b😀", "a😀", true],
    ["\\b😀", "😀", false],
    ["\\B😀", "a😀", false],
    ["a\\b", "a😀", true],
  ]);
});

describe("V8 and RE2 agree on randomly built Go regexes (seeded)", () => {
  test("1500 patterns × 12 subjects: same matches, same captures", () => {
    let seed = 20240611;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(a: readonly T[]): T => a[rnd(a.length)]!;
    const atoms = ["a", "b", "ab", "A", "k", "s", "ſ", "\u212a", "é", "😀", ".", "^a", "^ab", "\\Aab", "\\d", "\\w", "\\W", "\\s", "\\S", "\\b", "\\B", "^", "$", "\\A", "\\z", "[a-c]", "[^a]", "[[:alpha:]]", "[[:^alpha:]]", "[\\W]", "[\\w-]", "\\pL", "\\PL", "\\p{Greek}", "\\x{1F600}", "\\Q.*\\E", "\\n", "-", "/", "\\.", "(?i)", "(?-i)", "(?s)", "(?m)", "(?U)", "[k-s]", "(?i:k)", "(?i:[^k])", "µ"];
    const quantifiers = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "*?", "+?", "{0,}"];
    const gen = (depth: number): string => {
      let s = "";
      for (let n = 1 + rnd(4); n > 0; n--) {
        const a =
          depth < 2 && rnd(5) === 0
            ? `(${pick(["", "?:", "?i:", "?P<g>"])}${gen(depth + 1)}${rnd(3) === 0 ? `|${gen(depth + 1)}` : ""})`
            : pick(atoms);
        s += a + (/^\(\?[-imsU]*\)$/.test(a) ? "" : pick(quantifiers));
      }
      return s;
    };
    const alphabet = ["a", "b", "A", "k", "K", "s", "S", "ſ", "\u212a", "é", "😀", "\n", " ", "1", "/", ".", "-", "µ", "μ", "x", "_"];
    for (let t = 0; t < 1500; t++) {
      const p = gen(0);
      const auto = compileGoPattern(`/${p}/`);
      const re2 = compileGoPattern(`/${p}/`, { engine: "re2" });
      const { prefix } = translateRe2(p);
      for (let k = 0; k < 12; k++) {
        let s = "";
        for (let n = rnd(6); n > 0; n--) s += pick(alphabet);
        assert.equal(auto.test(s), re2.test(s), `/${p}/ on ${JSON.stringify(s)}`);
        // The literal prefix (the ACL index's key) is one every match has.
        if (re2.test(s)) assert.ok(s.startsWith(prefix), `/${p}/ matches ${JSON.stringify(s)} without its prefix ${JSON.stringify(prefix)}`);
        const a = (translateRe2(p).capturesMayDiffer ? re2 : auto).exec(s);
        const b = re2.exec(s);
        assert.deepEqual(a && [...a], b && [...b], `captures of /${p}/ on ${JSON.stringify(s)}`);
      }
      disposeMatcher(auto);
      disposeMatcher(re2);
    }
  });
});

describe("literalPrefix: what every match starts with (for the ACL index)", () => {
  const rows: [string, string, boolean][] = [
    ["team/app", "team/app", true],
    ["team/*", "team/", false],
    ["a?b", "a", false],
    ["a\\*b", "a", false],
    ["[ab]c", "", false],
    ["/^project-1\\/.+$/", "project-1/", false],
    ["/\\Aabc/", "abc", false],
    ["/^ab?c/", "a", false],
    ["/^ab*/", "a", false],
    ["/^ab{2}/", "a", false],
    ["/^a\\.b(c)/", "a.b", false],
    ["/^\\Qa.b\\E+/", "a.", false],
    ["/^a|b/", "", false],
    ["/^(a|b)c/", "", false],
    ["/(?m)^ab/", "", false],
    ["/(?i)^ab/", "", false],
    ["/(?i)^12a/", "12", false],
    ["/(?s)^a.b/", "a", false],
    ["/^*ab/", "", false],
    ["/ab/", "", false],
    ["/^😀x/", "😀x", false],
  ];
  for (const [p, text, exact] of rows) test(`${p} → ${JSON.stringify(text)}${exact ? " (exact)" : ""}`, () => assert.deepEqual(literalPrefix(p), { text, exact }));
});

describe("globQuote: a glob that matches only the given text (Go's path.Match escapes with a backslash)", () => {
  for (const value of ["a*b", "x?y", "[ab]", "c\\d", "a]b", "team/*", "plain"]) {
    test(JSON.stringify(value), () => {
      const g = globToRegExp(globQuote(value));
      assert.equal(g.test(value), true);
      const other = value.replace(/[*?[\]\\]/, "z");
      if (other !== value) assert.equal(g.test(other), false);
    });
  }
});
