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
const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7f",
  blank: "\\t ",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

function hexEscape(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return `\\u{${cp.toString(16)}}`;
}

/** Escape one literal character for a `u`-mode RegExp, inside or outside a class. */
function literal(ch: string): string {
  return REGEX_SYNTAX.has(ch) || ch === "-" ? `\\${ch}` : ch;
}

/**
 * Translate RE2 syntax (as Go's regexp reads it) to a JS RegExp with the `u` flag.
 * Handles leading flag groups, `(?P<name>`, `\A`, `\z`, `\Q...\E`, POSIX classes,
 * `\pL`, and Go's leniency about literal `{`, `}` and `]`; refuses lookaround and
 * backreferences, which RE2 does not have.
 */
export function re2ToRegExp(source: string): RegExp {
  let flags = "u";
  let i = 0;
  let out = "";
  const lead = /^\(\?([imsU]+)\)/.exec(source);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === "U") throw new PatternError("the (?U) ungreedy flag is not supported; write lazy quantifiers (*?, +?) instead");
      if (!flags.includes(f)) flags += f;
    }
    i = lead[0].length;
  }
  let inClass = false;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === "\\") {
      const next = source[i + 1];
      if (next === undefined) throw new PatternError("trailing backslash at end of expression");
      if (next === "Q") {
        const end = source.indexOf("\\E", i + 2);
        const lit = source.slice(i + 2, end < 0 ? undefined : end);
        out += [...lit].map(inClass ? (c) => (c === "]" || c === "\\" || c === "^" || c === "-" || c === "[" ? `\\${c}` : c) : literal).join("");
        i = end < 0 ? source.length : end + 2;
        continue;
      }
      if (/[1-9]/.test(next)) throw new PatternError(`backreference \\${next} is not supported by Go's RE2 syntax`);
      if (next === "A" && !inClass) { out += "(?<![\\s\\S])"; i += 2; continue; }
      if (next === "z" && !inClass) { out += "(?![\\s\\S])"; i += 2; continue; }
      if (next === "C") throw new PatternError("\\C (any byte) is not supported");
      if ((next === "p" || next === "P") && source[i + 2] !== "{") {
        out += `\\${next}{${source[i + 2] ?? ""}}`;
        i += 3;
        continue;
      }
      if ((next === "p" || next === "P") && source[i + 2] === "{") {
        const end = source.indexOf("}", i + 3);
        if (end < 0) throw new PatternError("unterminated \\p{...}");
        let name = source.slice(i + 3, end);
        const neg = name.startsWith("^");
        if (neg) name = name.slice(1);
        const general = /^(L|Lu|Ll|Lt|Lm|Lo|M|Mn|Mc|Me|N|Nd|Nl|No|P|Pc|Pd|Ps|Pe|Pi|Pf|Po|S|Sm|Sc|Sk|So|Z|Zs|Zl|Zp|C|Cc|Cf|Cs|Co|Any)$/.test(name);
        const prop = name === "Any" ? "Any" : general ? name : `Script=${name}`;
        out += `\\${(next === "P") !== neg ? "P" : "p"}{${prop}}`;
        i = end + 1;
        continue;
      }
      if (/[A-Za-z0-9]/.test(next)) {
        out += `\\${next}`;
        i += 2;
        if (next === "x" && source[i] === "{") {
          const end = source.indexOf("}", i);
          out += source.slice(i, end + 1);
          i = end + 1;
        }
        continue;
      }
      // Go allows escaping any punctuation; `u`-mode JS only some of it.
      out += REGEX_SYNTAX.has(next) || (inClass && next === "-") ? `\\${next}` : hexEscape(next);
      i += 2;
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
          if (!cls) throw new PatternError(`unknown POSIX class [:${name}:]`);
          if (neg) throw new PatternError(`negated POSIX class [:^${name}:] is not supported`);
          out += cls;
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
      // A `{` that does not start a repetition is a literal in RE2.
      const rep = /^\{\d+(,\d*)?\}/.exec(source.slice(i));
      if (rep && out !== "") { out += rep[0]; i += rep[0].length; continue; }
      out += "\\{";
      i++;
      continue;
    }
    if (ch === "}" || ch === "]") { out += `\\${ch}`; i++; continue; }
    out += ch;
    i++;
  }
  if (inClass) throw new PatternError("missing closing ]");
  try {
    return new RegExp(out, flags);
  } catch (e) {
    throw new PatternError((e as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "").toLowerCase());
  }
}

/**
 * Translate a Go `path.Match` glob into an anchored RegExp. Go's rules: `*` is any
 * run of non-`/` characters, `?` one non-`/` character, `[...]`/`[^...]` a class
 * with ranges, `\` escapes; an empty class, a class starting with `-` or `]`, an
 * unterminated class or a trailing `\` make the pattern bad.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "^";
  let i = 0;
  while (i < glob.length) {
    const ch = glob[i]!;
    if (ch === "*") { out += "[^/]*"; i++; continue; }
    if (ch === "?") { out += "[^/]"; i++; continue; }
    if (ch === "\\") {
      const next = [...glob.slice(i + 1)][0];
      if (next === undefined) throw new PatternError("syntax error in pattern: trailing backslash");
      out += literal(next);
      i += 1 + next.length;
      continue;
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
          cls += `${literal(lo)}-${literal(hi)}`;
        } else cls += literal(lo);
        items++;
      }
      out += `${cls}]`;
      continue;
    }
    const cp = [...glob.slice(i, i + 2)][0]!;
    out += literal(cp);
    i += cp.length;
  }
  return new RegExp(`${out}$`, "u");

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

/** Compile a docker_auth pattern (regex or glob) into a RegExp; throws PatternError. */
export function compileGoPattern(p: string): RegExp {
  return isRegexPattern(p) ? re2ToRegExp(p.slice(1, -1)) : globToRegExp(p);
}

/** Go's regexp.QuoteMeta: what docker_auth applies to ${account} and friends before substituting. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
