// ACL patterns must match exactly what docker_auth's Go code matches: globs as
// Go's path.Match reads them, `/.../` as RE2 regexes matched unanchored (regexp.Match).
// Expectations come from Go's documented behaviour (path.Match, regexp/syntax).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compileGoPattern, globToRegExp, isRegexPattern, mayBacktrack, PatternError, quoteMeta, re2ToRegExp, type Matcher } from "../../src/authz/go-pattern.js";

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

  describe("what Go refuses, and the few Go forms regauth cannot translate (mid-pattern flags, (?U)), are refused with a reason", () => {
    refused(
      [
        ["(?=a)", "lookaround"],
        ["(?!a)b", "lookaround"],
        ["(?<=a)b", "lookaround"],
        ["(?<!a)b", "lookaround"],
        ["(a)\\1", "backreference"],
        ["(a)(b)\\2", "backreference"],
        ["a(?i)b", "only supported at the start"],
        ["(?i:a)b", "only supported at the start"],
        ["^(?s)a", "only supported at the start"],
        ["(?U)a*", "ungreedy"],
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
        "(?P<a>x)(?P<a>y)",
      ],
      re2ToRegExp,
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
