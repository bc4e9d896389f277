import { RE2 } from "re2-wasm";
/**
 * docker_auth matches ACL patterns with Go: `/.../` is an RE2 regex matched
 * unanchored (`regexp.Match`), anything else a shell glob read by `path.Match`
 * (`*` and `?` never cross `/`). This module turns both into JS RegExps that
 * match the same strings, and refuses what Go would refuse.
 */

export class PatternError extends Error {}

/** True when docker_auth reads the pattern as a regex. */
export function isRegexPattern(p: string): boolean {
  return p.length > 2 && p.startsWith("/") && p.endsWith("/");
}

const REGEX_SYNTAX = new Set("^$\\.*+?()[]{}|/".split(""));
// Go's POSIX classes (regexp/syntax perl_groups.go), as code point ranges.
const POSIX_CLASSES: Record<string, readonly [number, number][]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};
/** Go's `\s` is `[\t\n\f\r ]`: narrower than JS's, which adds `\v` and Unicode spaces. */
const PERL_SPACE: readonly [number, number][] = [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]];
const MAX_RUNE = 0x10ffff;

/** Ranges as the inside of a `u`-mode class, or their complement. */
function classRanges(ranges: readonly [number, number][], negate = false): string {
  let list = ranges;
  if (negate) {
    const inverse: [number, number][] = [];
    let next = 0;
    for (const [lo, hi] of ranges) {
      if (lo > next) inverse.push([next, lo - 1]);
      next = hi + 1;
    }
    if (next <= MAX_RUNE) inverse.push([next, MAX_RUNE]);
    list = inverse;
  }
  const u = (cp: number) => `\\u{${cp.toString(16)}}`;
  // Always `lo-hi`, so that a `-` written after the class (`[[:blank:]-z]`) stays a literal.
  return list.map(([lo, hi]) => `${u(lo)}-${u(hi)}`).join("");
}

/** Go's C escapes other than the ones JS spells the same way. */
const C_ESCAPES: Record<string, string> = { a: "\\x07", f: "\\f", n: "\\n", r: "\\r", t: "\\t", v: "\\v" };
/** Go refuses repetition counts above this (`a{1001}` is "invalid repeat count"). */
const MAX_REPEAT = 1000;

function hexEscape(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return `\\u{${cp.toString(16)}}`;
}

/** Escape one literal character for a `u`-mode RegExp outside a class (where `\\-` is a syntax error). */
function literal(ch: string): string {
  return REGEX_SYNTAX.has(ch) ? `\\${ch}` : ch;
}

/** Escape one literal character inside a `u`-mode class. */
function classLiteral(ch: string): string {
  return REGEX_SYNTAX.has(ch) || ch === "-" ? `\\${ch}` : ch;
}

/**
 * Translate RE2 syntax (as Go's regexp reads it) to a JS RegExp with the `u` flag.
 * Handles leading flag groups, `(?P<name>`, `\A`, `\z`, `\Q...\E`, POSIX classes,
 * `\pL`, octal and `\x{...}` escapes, and Go's leniency about literal `{`, `}` and
 * `]`; gives `.`, `\s`, `^` and `$` Go's meaning (only `\n` ends a line); refuses
 * lookaround, backreferences and escapes Go does not know (`\cA`, `\u0041`, `\é`).
 */
export function re2ToRegExp(source: string): RegExp {
  let flags = "u";
  let multiLine = false;
  let dotAll = false;
  let i = 0;
  let out = "";
  const lead = /^\(\?([imsU]+)\)/.exec(source);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === "U") throw new PatternError("the (?U) ungreedy flag is not supported; write lazy quantifiers (*?, +?) instead");
      if (f === "m") multiLine = true;
      else if (f === "s") dotAll = true;
      else if (!flags.includes(f)) flags += f;
    }
    i = lead[0].length;
  }
  let inClass = false;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === "\\") {
      out += escape();
      continue;
    }
    if (inClass) {
      if (ch === "[" && source[i + 1] === ":") {
        const end = source.indexOf(":]", i + 2);
        if (end > 0) {
          let name = source.slice(i + 2, end);
          const neg = name.startsWith("^");
          if (neg) name = name.slice(1);
          const cls = POSIX_CLASSES[name];
          if (!cls) throw new PatternError(`invalid character class range [:${name}:]`);
          out += classRanges(cls, neg);
          i = end + 2;
          continue;
        }
      }
      if (ch === "]") inClass = false;
      out += ch === "[" ? "\\[" : ch;
      i++;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      out += "[";
      i++;
      if (source[i] === "^") { out += "^"; i++; }
      // A `]` right after `[` or `[^` is a literal in RE2.
      if (source[i] === "]") { out += "\\]"; i++; }
      continue;
    }
    if (ch === "(" && source[i + 1] === "?") {
      const rest = source.slice(i + 2);
      if (rest.startsWith("P<")) { out += "(?<"; i += 4; continue; }
      if (rest.startsWith(":")) { out += "(?:"; i += 3; continue; }
      if (/^(=|!|<=|<!)/.test(rest)) throw new PatternError("lookaround assertions are not supported by Go's RE2 syntax");
      if (/^<[A-Za-z_]/.test(rest)) { out += "(?<"; i += 3; continue; }
      throw new PatternError("flags are only supported at the start of the expression, e.g. /(?i)^team/");
    }
    if (ch === "{") {
      // `{n}`, `{n,}`, `{n,m}` (no leading zeros) repeat; any other `{` is a literal in RE2.
      const rep = /^\{(0|[1-9]\d*)(?:,(0|[1-9]\d*)?)?\}/.exec(source.slice(i));
      if (rep) {
        if (Number(rep[1]) > MAX_REPEAT || Number(rep[2] ?? 0) > MAX_REPEAT) throw new PatternError(`invalid repeat count ${rep[0]}: at most ${MAX_REPEAT}`);
        out += rep[0];
        i += rep[0].length;
        continue;
      }
      out += "\\{";
      i++;
      continue;
    }
    if (ch === "}" || ch === "]") { out += `\\${ch}`; i++; continue; }
    if (ch === ".") { out += dotAll ? "[\\s\\S]" : "[^\\n]"; i++; continue; }
    if (multiLine && ch === "^") { out += "(?<![^\\n])"; i++; continue; }
    if (multiLine && ch === "$") { out += "(?![^\\n])"; i++; continue; }
    out += ch;
    i++;
  }
  if (inClass) throw new PatternError("missing closing ]");
  try {
    return new RegExp(out, flags);
  } catch (e) {
    throw new PatternError((e as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "").toLowerCase());
  }

  /** One backslash escape at `i`, translated; advances `i` past it. */
  function escape(): string {
    const next = [...source.slice(i + 1, i + 3)][0];
    if (next === undefined) throw new PatternError("trailing backslash at end of expression");
    const invalid = () => new PatternError(`invalid escape sequence \\${next}`);
    i += 1 + next.length;
    if (!inClass) {
      if (next === "Q") {
        const end = source.indexOf("\\E", i);
        const lit = source.slice(i, end < 0 ? undefined : end);
        i = end < 0 ? source.length : end + 2;
        return [...lit].map(literal).join("");
      }
      if (next === "A") return "(?<![\\s\\S])";
      if (next === "z") return "(?![\\s\\S])";
      if (next === "b" || next === "B") return `\\${next}`;
    }
    if (next === "C") throw new PatternError("\\C (any byte) is not supported");
    if (next === "p" || next === "P") {
      let name: string;
      if (source[i] === "{") {
        const end = source.indexOf("}", i + 1);
        if (end < 0) throw new PatternError("unterminated \\p{...}");
        name = source.slice(i + 1, end);
        i = end + 1;
      } else {
        name = [...source.slice(i, i + 2)][0] ?? "";
        i += name.length;
      }
      const neg = name.startsWith("^");
      if (neg) name = name.slice(1);
      const general = /^(L|Lu|Ll|Lt|Lm|Lo|M|Mn|Mc|Me|N|Nd|Nl|No|P|Pc|Pd|Ps|Pe|Pi|Pf|Po|S|Sm|Sc|Sk|So|Z|Zs|Zl|Zp|C|Cc|Cf|Cs|Co|Any)$/.test(name);
      const prop = general ? name : `Script=${name}`;
      return `\\${(next === "P") !== neg ? "P" : "p"}{${prop}}`;
    }
    if ("dDwW".includes(next)) {
      if (!inClass) return `\\${next}`;
      // As ranges inside a class, so that `[\d-z]` (a `-` after the class) is valid as in Go.
      return classRanges(next.toLowerCase() === "d" ? POSIX_CLASSES.digit! : POSIX_CLASSES.word!, next === "D" || next === "W");
    }
    if (next === "s") return inClass ? classRanges(PERL_SPACE) : `[${classRanges(PERL_SPACE)}]`;
    if (next === "S") return inClass ? classRanges(PERL_SPACE, true) : `[^${classRanges(PERL_SPACE)}]`;
    if (C_ESCAPES[next]) return C_ESCAPES[next];
    if (next === "x") {
      const m = /^\{([0-9A-Fa-f]+)\}|^[0-9A-Fa-f]{2}/.exec(source.slice(i));
      if (!m) throw invalid();
      const cp = parseInt(m[1] ?? m[0], 16);
      if (cp > MAX_RUNE) throw invalid();
      i += m[0].length;
      return `\\u{${cp.toString(16)}}`;
    }
    if (/[0-7]/.test(next)) {
      // Go: `\0` and up to two more octal digits, or `\1`-`\7` followed by at least one;
      // a lone `\1`-`\7` would be a backreference, which RE2 does not have.
      if (next !== "0" && !/[0-7]/.test(source[i] ?? "")) throw new PatternError(`backreference \\${next} is not supported by Go's RE2 syntax`);
      const digits = next + /^[0-7]{0,2}/.exec(source.slice(i))![0];
      i += digits.length - 1;
      return `\\u{${parseInt(digits, 8).toString(16)}}`;
    }
    // Go allows escaping any ASCII punctuation (and nothing else); `u`-mode JS only some of it.
    if (/[A-Za-z0-9]/.test(next) || next.codePointAt(0)! >= 0x80) throw invalid();
    return REGEX_SYNTAX.has(next) || (inClass && next === "-") ? `\\${next}` : hexEscape(next);
  }
}

/**
 * Translate a Go `path.Match` glob into an anchored RegExp. Go's rules: `*` is any
 * run of non-`/` characters, `?` one non-`/` character, `[...]`/`[^...]` a class
 * with ranges, `\` escapes; an empty class, a class starting with `-` or `]`, an
 * unterminated class or a trailing `\` make the pattern bad.
 *
 * Go reads the pattern as chunks: a run of stars, then the elements up to the next
 * star. A chunk after a star goes at the leftmost place it fits (the star never
 * crossing `/`) and is never moved again, except the last chunk, which must end
 * the name. So `*[^x]*` does not match `a/b` in Go although a backtracking regex
 * would; a lookahead capture (atomic in JS) pins each chunk to that leftmost place.
 */
export function globToRegExp(glob: string): RegExp {
  const chunks: { star: boolean; re: string }[] = [];
  let i = 0;
  while (i < glob.length) {
    let star = false;
    while (glob[i] === "*") { star = true; i++; }
    let re = "";
    while (i < glob.length && glob[i] !== "*") re += element();
    chunks.push({ star, re });
  }
  let out = "^";
  let group = 0;
  chunks.forEach((c, k) => {
    if (!c.star) out += c.re;
    else if (k === chunks.length - 1) out += `[^/]*${c.re}`;
    else out += `(?=([^/]*?${c.re}))\\${++group}`;
  });
  return new RegExp(`${out}$`, "u");

  function element(): string {
    const ch = glob[i]!;
    if (ch === "?") { i++; return "[^/]"; }
    if (ch === "\\") {
      const next = [...glob.slice(i + 1, i + 3)][0];
      if (next === undefined) throw new PatternError("syntax error in pattern: trailing backslash");
      i += 1 + next.length;
      return literal(next);
    }
    if (ch === "[") {
      i++;
      let cls = "[";
      if (glob[i] === "^") { cls += "^"; i++; }
      let items = 0;
      for (;;) {
        if (i >= glob.length) throw new PatternError("syntax error in pattern: missing closing ]");
        if (glob[i] === "]" && items > 0) { i++; break; }
        const lo = readClassChar();
        if (glob[i] === "-") {
          i++;
          const hi = readClassChar();
          if (lo.codePointAt(0)! > hi.codePointAt(0)!) throw new PatternError(`syntax error in pattern: bad range ${lo}-${hi}`);
          cls += `${classLiteral(lo)}-${classLiteral(hi)}`;
        } else cls += classLiteral(lo);
        items++;
      }
      return `${cls}]`;
    }
    const cp = [...glob.slice(i, i + 2)][0]!;
    i += cp.length;
    return literal(cp);
  }

  function readClassChar(): string {
    let c = glob[i];
    if (c === undefined) throw new PatternError("syntax error in pattern: missing closing ]");
    if (c === "-" || c === "]") throw new PatternError(`syntax error in pattern: unexpected ${c} in character class`);
    if (c === "\\") {
      i++;
      c = glob[i];
      if (c === undefined) throw new PatternError("syntax error in pattern: trailing backslash");
    }
    const cp = [...glob.slice(i, i + 2)][0]!;
    i += cp.length;
    return cp;
  }
}

/** What a compiled pattern offers: RegExp's `test` and `exec` (RegExp itself, or a linear-time RE2). */
export interface Matcher {
  test(s: string): boolean;
  exec(s: string): RegExpExecArray | null;
}

/**
 * Could this (translated) regex backtrack badly on a crafted 255-character name?
 * True for a quantified group that holds a quantifier or an alternation (`(a+)+`,
 * `(a|ab)*`), and for three or more unbounded quantifiers (`.*a.*b.*c`, polynomial).
 * A conservative shape test: true sends the pattern to RE2, which is always linear.
 */
export function mayBacktrack(jsSource: string): boolean {
  const groups: { risky: boolean }[] = [];
  let unbounded = 0;
  let inClass = false;
  for (let i = 0; i < jsSource.length; i++) {
    const ch = jsSource[i]!;
    if (ch === "\\") {
      i++;
      if (jsSource[i] === "u" && jsSource[i + 1] === "{") i = jsSource.indexOf("}", i);
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") inClass = true;
    else if (ch === "(") groups.push({ risky: false });
    else if (ch === "|") {
      if (groups.length) groups[groups.length - 1]!.risky = true;
    } else if (ch === "*" || ch === "+" || (ch === "{" && /^\{\d+,\d*\}/.test(jsSource.slice(i)))) {
      if (ch !== "{" || /^\{\d+,\}/.test(jsSource.slice(i))) unbounded++;
      for (const g of groups) g.risky = true;
    } else if (ch === ")") {
      const g = groups.pop();
      const next = jsSource[i + 1];
      const quantified = next === "*" || next === "+" || next === "?" || next === "{";
      if (g?.risky && quantified) return true;
      if (g?.risky && groups.length) groups[groups.length - 1]!.risky = true;
    }
  }
  return unbounded >= 3;
}

function re2Matcher(source: string): Matcher {
  try {
    return new RE2(source, "u") as unknown as Matcher;
  } catch (e) {
    throw new PatternError((e as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, ""));
  }
}

/**
 * Compile a docker_auth pattern (regex or glob); throws PatternError. Regexes are
 * checked and translated for V8, which is fast; those whose shape could backtrack
 * exponentially run on RE2 itself (WebAssembly), as Go would run them: linear time.
 */
export function compileGoPattern(p: string): Matcher {
  if (!isRegexPattern(p)) return globToRegExp(p);
  const body = p.slice(1, -1);
  const js = re2ToRegExp(body);
  return mayBacktrack(js.source) ? re2Matcher(body) : js;
}

/** Go's regexp.QuoteMeta: what docker_auth applies to ${account} and friends before substituting. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
