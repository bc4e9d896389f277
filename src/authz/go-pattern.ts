import { PatternEngineError, Re2Matcher } from "./re2-engine.js";
/**
 * docker_auth matches ACL patterns with Go: `/.../` is an RE2 regex matched
 * unanchored (`regexp.Match`), anything else a shell glob read by `path.Match`
 * (`*` and `?` never cross `/`). This module turns both into matchers that match
 * the same strings, and refuses what Go would refuse. Regexes run on V8 when a
 * translation is exact and cannot backtrack badly, else on RE2 itself (re2-engine.ts).
 */

export { PatternEngineError };

/** Go refuses the pattern (docker_auth: it can never match). */
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
const GENERAL_CATEGORIES = new Set(
  "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Any".split(" "),
);

const jsCode = (cp: number) => `\\u{${cp.toString(16)}}`;
const re2Code = (cp: number) => `\\x{${cp.toString(16)}}`;

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
  // Always `lo-hi`, so that a `-` written after the class (`[[:blank:]-z]`) stays a literal.
  return list.map(([lo, hi]) => `${jsCode(lo)}-${jsCode(hi)}`).join("");
}

/** Go's C escapes. */
const C_ESCAPES: Record<string, number> = { a: 0x07, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
/** Go refuses repetition counts above this (`a{1001}` is "invalid repeat count"), and nested counts whose product is above it. */
const MAX_REPEAT = 1000;

/** Escape one literal character for a `u`-mode RegExp outside a class (where `\\-` is a syntax error). */
function literal(ch: string): string {
  return REGEX_SYNTAX.has(ch) ? `\\${ch}` : ch;
}

/** Escape one literal character inside a `u`-mode class. */
function classLiteral(ch: string): string {
  return REGEX_SYNTAX.has(ch) || ch === "-" ? `\\${ch}` : ch;
}

/** One character in canonical RE2 syntax: letters and digits as they are, anything else as `\x{...}`. */
function re2Literal(cp: number): string {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) ? String.fromCodePoint(cp) : re2Code(cp);
}

/** Does case-insensitive matching change what this character matches? */
function hasCase(cp: number): boolean {
  const ch = String.fromCodePoint(cp);
  return ch.toLowerCase() !== ch || ch.toUpperCase() !== ch || cp === 0x345;
}

/** `{n}`, `{n,}`, `{n,m}` as Go's parseRepeat reads them (no leading zeros; any other `{` is a literal). */
const REPEAT = /\{(0|[1-9]\d*)(?:(,)(0|[1-9]\d*)?)?\}/y;
/** A flag group as Go's parsePerlFlags reads it: `(?` flags, optionally `-` and flags, then `)` or `:`. */
const FLAGS = /\(\?([imsU]*)(?:(-)([imsU]*))?([:)])/y;
/** The rest of a `\x` escape: `{hex...}` or two hex digits. */
const HEX = /\{([0-9A-Fa-f]+)\}|[0-9A-Fa-f]{2}/y;

/** Does any character of lo-hi have case variants? (Wide ranges are assumed to.) */
function rangeHasCase(lo: number, hi: number): boolean {
  if (hi - lo > 0x200) return true;
  for (let cp = lo; cp <= hi; cp++) if (hasCase(cp)) return true;
  return false;
}

interface RegexFlags {
  fold: boolean;
  multiLine: boolean;
  dotAll: boolean;
  ungreedy: boolean;
}

/** A Go regex, read once: its V8 form, its RE2 form, and what V8 cannot do exactly. */
export interface Re2Translation {
  /** The V8 form (`u` flag, `i` when the whole pattern is case-insensitive). Exact only when `re2Only` is undefined. */
  regexp: RegExp;
  /** The same regex in canonical RE2 syntax (literals as `\x{...}`, group names dropped), as re2-wasm should see it. */
  re2: string;
  /** Why V8 cannot match as Go does, so the pattern must run on RE2; undefined when the V8 form is exact. */
  re2Only?: string;
  /** Text every match starts with at the very start of the subject (the regex is anchored by `^` or `\A`); "" when none is known. */
  prefix: string;
  /**
   * A capture group is repeated (or sits in a repeated group): V8 then reports other
   * captures than Go (V8 clears a group's captures at each iteration and refuses empty
   * iterations; Go keeps the last capture), so whoever reads captures should use RE2.
   */
  capturesMayDiffer: boolean;
}

/**
 * Read a regex as Go's regexp/syntax parser does (Perl flags), refusing what it
 * refuses, and give its V8 and RE2 forms. Handles flag groups anywhere (`(?i)`,
 * `(?i:...)`, `(?-s)`, `(?U)`...), named groups (`(?P<n>`, `(?<n>`, names may repeat),
 * `\A`, `\z`, `\Q...\E`, POSIX and Unicode classes, octal and `\x{...}` escapes, Go's
 * leniency about literal `{`, `}` and `]`, quantified assertions (`^*`), and the
 * product limit on nested counted repetitions. In the V8 form, `.`, `\s`, `^`, `$`
 * and the (?s), (?m), (?U) flags get Go's meaning (only `\n` ends a line); case-
 * insensitivity on part of a pattern, or together with `\b`/`\B` or negated classes
 * (whose case folding V8 does differently), is left to RE2 (`re2Only`). Lookaround,
 * backreferences and escapes Go does not know (`\cA`, `\u0041`, `\é`) are refused.
 */
export function translateRe2(source: string): Re2Translation {
  let flags: RegexFlags = { fold: false, multiLine: false, dotAll: false, ungreedy: false };
  let i = 0;
  let js = "";
  let re2 = "";
  let re2Only: string | undefined;
  // Groups: the flags to restore at `)`, and the largest product of nested counted repeats inside.
  const groups: { saved: RegexFlags; maxProduct: number; capture: boolean; hasCapture: boolean }[] = [];
  /** The last atom is a group that is or holds a capture. */
  let lastAtomCaptures = false;
  let capturesMayDiffer = false;
  /** Repeat product of the last atom, not yet counted into its group (-1: none). */
  let pending = -1;
  let lastWasRepeat = false;
  let lastAtomIsAssertion = false;
  // Case sensitivity of the atoms it matters for, to see whether one V8 `i` flag can express it.
  let foldedAtoms = false;
  let plainAtoms = false;
  let foldHazard: string | undefined;
  // The anchored literal prefix.
  let prefixState: "start" | "anchored" | "closed" = "start";
  let anchored = false;
  let prefix = "";
  let lastPrefixChar = "";
  let topAlternation = false;

  const commit = () => {
    if (pending < 0) return;
    // Outside any group nothing repeats the atom any more: only groups keep their products.
    if (groups.length) groups[groups.length - 1]!.maxProduct = Math.max(groups[groups.length - 1]!.maxProduct, pending);
    pending = -1;
  };
  const sensitive = (hazard?: string) => {
    if (flags.fold) {
      foldedAtoms = true;
      if (hazard) foldHazard ??= hazard;
    } else plainAtoms = true;
  };
  /** Emit one atom (something a quantifier may follow). */
  const atom = (jsPart: string, re2Part: string, product = 1, assertion = false) => {
    commit();
    lastAtomIsAssertion = assertion;
    lastAtomCaptures = false;
    js += jsPart;
    re2 += re2Part;
    pending = product;
    lastWasRepeat = false;
  };
  const closePrefix = () => {
    if (groups.length === 0 && prefixState !== "closed") {
      if (prefixState === "start") anchored = false;
      prefixState = "closed";
      lastPrefixChar = "";
    }
  };
  const literalAtom = (cp: number) => {
    const ch = String.fromCodePoint(cp);
    if (hasCase(cp)) sensitive();
    atom(literal(ch), re2Literal(cp));
    if (groups.length === 0 && prefixState === "anchored") {
      if (flags.fold && hasCase(cp)) closePrefix();
      else {
        prefix += ch;
        lastPrefixChar = ch;
      }
    } else closePrefix();
  };

  while (i < source.length) {
    const ch = source[i]!;
    switch (ch) {
      case "\\":
        escapeOutsideClass();
        continue;
      case "[":
        closePrefix();
        parseClass();
        continue;
      case "(":
        openGroup();
        continue;
      case ")": {
        if (!groups.length) throw new PatternError("unmatched ')'");
        commit();
        const g = groups.pop()!;
        const inner = g.maxProduct;
        lastAtomCaptures = g.capture || g.hasCapture;
        if (lastAtomCaptures && groups.length) groups[groups.length - 1]!.hasCapture = true;
        flags = g.saved;
        js += ")";
        re2 += ")";
        i++;
        // The group as a whole is the atom a quantifier applies to.
        pending = inner;
        lastWasRepeat = false;
        lastAtomIsAssertion = false;
        continue;
      }
      case "|":
        commit();
        if (groups.length === 0) topAlternation = true;
        js += "|";
        re2 += "|";
        lastWasRepeat = false;
        pending = -1;
        i++;
        continue;
      case "^":
        i++;
        if (groups.length === 0 && prefixState === "start" && !flags.multiLine) {
          atom(assertion("^"), "^", 1, true);
          prefixState = "anchored";
          anchored = true;
        } else {
          closePrefix();
          atom(assertion(flags.multiLine ? "(?<![^\\n])" : "^"), "^", 1, true);
        }
        continue;
      case "$":
        i++;
        closePrefix();
        atom(assertion(flags.multiLine ? "(?![^\\n])" : "$"), "$", 1, true);
        continue;
      case ".":
        i++;
        closePrefix();
        atom(flags.dotAll ? "[\\s\\S]" : "[^\\n]", ".");
        continue;
      case "*":
      case "+":
      case "?":
        quantifier(ch, 1);
        continue;
      case "{": {
        // `{n}`, `{n,}`, `{n,m}` (no leading zeros) repeat; any other `{` is a literal in RE2.
        const rep = at(REPEAT, i);
        if (rep) {
          quantifier(rep[0], rep[0].length, Number(rep[1]), rep[2] ? (rep[3] === undefined ? -1 : Number(rep[3])) : Number(rep[1]));
          continue;
        }
        i++;
        literalAtom(0x7b);
        continue;
      }
      default: {
        const cp = source.codePointAt(i)!;
        i += cp > 0xffff ? 2 : 1;
        literalAtom(cp);
      }
    }
  }
  // An unclosed group is left to V8 below ("unterminated group"), as regauth has always worded it.
  commit();

  if (foldedAtoms && plainAtoms) re2Only = "case-insensitive matching on part of the pattern";
  else if (foldedAtoms && foldHazard) re2Only = `${foldHazard} under case-insensitive matching`;
  const jsFlags = foldedAtoms && !plainAtoms ? "iu" : "u";
  let regexp: RegExp;
  try {
    regexp = new RegExp(js, jsFlags);
  } catch (e) {
    throw new PatternError((e as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "").toLowerCase());
  }
  return { regexp, re2, re2Only, prefix: anchored && !topAlternation ? prefix : "", capturesMayDiffer };

  /** An assertion in V8 syntax; wrapped in a group when quantified (`^*` is valid Go, not valid V8). */
  /** A sticky regex's match at `pos` of the source. */
  function at(re: RegExp, pos: number): RegExpExecArray | null {
    re.lastIndex = pos;
    return re.exec(source);
  }

  function assertion(jsPart: string): string {
    return "*+?".includes(source[i] ?? "-") || at(REPEAT, i) ? `(?:${jsPart})` : jsPart;
  }

  function quantifier(text: string, length: number, min = 0, max = 0): void {
    if (lastWasRepeat) throw new PatternError(`invalid nested repetition operator: ${text}`);
    if (pending < 0) throw new PatternError(`missing argument to repetition operator: ${text}`);
    if (lastAtomCaptures) capturesMayDiffer = true;
    const counted = text.startsWith("{");
    if (counted) {
      if (min > MAX_REPEAT || max > MAX_REPEAT) throw new PatternError(`invalid repeat count ${text}: at most ${MAX_REPEAT}`);
      if (max >= 0 && min > max) throw new PatternError(`invalid repeat count ${text}`);
      // Go's repeatIsValid: along any path, the product of nested counted repeats is at most 1000 ({0} cuts the path).
      const factor = max === 0 ? 0 : Math.max(max < 0 ? min : max, 1);
      const product = factor * pending;
      if ((min >= 2 || max >= 2) && product > MAX_REPEAT) throw new PatternError(`invalid repeat count ${text}: nested repetitions allow at most ${MAX_REPEAT} copies`);
      pending = product;
    }
    i += length;
    let lazy = false;
    if (source[i] === "?") {
      lazy = true;
      i++;
    }
    if (groups.length === 0) {
      if (prefixState === "anchored" && lastAtomIsAssertion) anchored = false; // `^*`: not anchored after all
      else if (prefixState === "anchored" && lastPrefixChar) prefix = prefix.slice(0, prefix.length - lastPrefixChar.length);
      closePrefix();
    }
    js += text + (lazy !== flags.ungreedy ? "?" : "");
    re2 += text + (lazy ? "?" : "");
    lastWasRepeat = true;
  }

  function openGroup(): void {
    const open = (capture: boolean) => {
      closePrefix();
      commit();
      lastWasRepeat = false;
      groups.push({ saved: flags, maxProduct: 1, capture, hasCapture: false });
    };
    if (source[i + 1] !== "?") {
      open(true);
      js += "(";
      re2 += "(";
      i++;
      return;
    }
    const rest = source.slice(i + 2, i + 5);
    if (/^(=|!|<=|<!)/.test(rest)) throw new PatternError("lookaround assertions are not supported by Go's RE2 syntax");
    const named = source.startsWith("(?P<", i) ? 4 : source.startsWith("(?<", i) ? 3 : 0;
    if (named) {
      const end = source.indexOf(">", i);
      if (end < 0) throw new PatternError(`invalid named capture: ${source.slice(i, i + 20)}`);
      const name = source.slice(i + named, end);
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw new PatternError(`invalid named capture: ${source.slice(i, end + 1)}`);
      // Names do not change what matches, and captures are read by number: V8 and RE2 get plain groups
      // (Go allows a name twice, V8 and RE2 do not).
      open(true);
      js += "(";
      re2 += "(";
      i = end + 1;
      return;
    }
    // Flags, as Go's parsePerlFlags reads them: [imsU]* optionally followed by - and [imsU]+, then ) or :.
    const m = at(FLAGS, i);
    if (!m || (m[2] && !m[3])) throw new PatternError(`invalid or unsupported Perl syntax: ${source.slice(i, i + 4)}`);
    const next = { ...flags };
    const set = (f: string, on: boolean) => {
      if (f === "i") next.fold = on;
      else if (f === "m") next.multiLine = on;
      else if (f === "s") next.dotAll = on;
      else next.ungreedy = on;
    };
    for (const f of m[1]!) set(f, true);
    for (const f of m[3] ?? "") set(f, false);
    const spelled = `${m[1]}${m[2] ? `-${m[3]}` : ""}`;
    i += m[0].length;
    if (m[4] === ":") {
      open(false);
      js += "(?:";
      re2 += `(?${spelled}:`;
    } else if (spelled) {
      // A flag group is no atom: as in Go, a quantifier right after it applies to what came before.
      re2 += `(?${spelled})`;
    }
    flags = next;
  }

  /** A backslash escape outside a class. */
  function escapeOutsideClass(): void {
    const next = source[i + 1];
    if (next === undefined) throw new PatternError("trailing backslash at end of expression");
    switch (next) {
      case "A":
        i += 2;
        if (groups.length === 0 && prefixState === "start") {
          atom(assertion("^"), "\\A", 1, true);
          prefixState = "anchored";
          anchored = true;
        } else {
          closePrefix();
          atom(assertion("(?<![\\s\\S])"), "\\A", 1, true);
        }
        return;
      case "z":
        i += 2;
        closePrefix();
        atom(assertion("$"), "\\z", 1, true);
        return;
      case "b":
      case "B":
        i += 2;
        closePrefix();
        // Go's \b looks at ASCII word characters only; V8's, under /iu, also at ſ and K (U+017F, U+212A).
        sensitive(`\\${next}`);
        atom(assertion(`\\${next}`), `\\${next}`, 1, true);
        return;
      case "C":
        throw new PatternError("\\C (any byte) is not supported");
      case "Q": {
        const end = source.indexOf("\\E", i + 2);
        const lit = source.slice(i + 2, end < 0 ? undefined : end);
        i = end < 0 ? source.length : end + 2;
        for (const c of lit) literalAtom(c.codePointAt(0)!);
        return;
      }
      case "p":
      case "P": {
        closePrefix();
        const u = unicodeClass();
        atom(u.js, u.re2);
        return;
      }
      case "d":
      case "D":
        i += 2;
        closePrefix();
        atom(`\\${next}`, `\\${next}`);
        return;
      case "w":
      case "W":
        i += 2;
        closePrefix();
        sensitive();
        atom(`\\${next}`, `\\${next}`);
        return;
      case "s":
        i += 2;
        closePrefix();
        atom(`[${classRanges(PERL_SPACE)}]`, "\\s");
        return;
      case "S":
        i += 2;
        closePrefix();
        atom(`[^${classRanges(PERL_SPACE)}]`, "\\S");
        return;
    }
    literalAtom(parseEscape());
  }

  /** `\p{Name}`, `\pN`, `\P...`, `\p{^Name}` at `i`. */
  function unicodeClass(): { js: string; re2: string; negated: boolean } {
    let negated = source[i + 1] === "P";
    let name: string;
    const seqStart = i;
    if (source[i + 2] === "{") {
      const end = source.indexOf("}", i + 3);
      if (end < 0) throw new PatternError(`invalid character class range ${source.slice(i, i + 12)}: unterminated \\p{...}`);
      name = source.slice(i + 3, end);
      i = end + 1;
    } else {
      const cp = source.codePointAt(i + 2);
      name = cp === undefined ? "" : String.fromCodePoint(cp);
      i += 2 + name.length;
    }
    if (name.startsWith("^")) {
      negated = !negated;
      name = name.slice(1);
    }
    if (!/^[A-Za-z_]+$/.test(name)) throw new PatternError(`invalid character class range ${source.slice(seqStart, i)}`);
    const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
    try {
      new RegExp(`\\p{${prop}}`, "u");
    } catch {
      throw new PatternError(`invalid character class range ${source.slice(seqStart, i)}`);
    }
    sensitive(negated ? "a negated Unicode class" : undefined);
    return { js: `\\${negated ? "P" : "p"}{${prop}}`, re2: `\\${negated ? "P" : "p"}{${name}}`, negated };
  }

  /** A class `[...]` at `i`, item by item as Go's parseClass reads it. */
  function parseClass(): void {
    i++;
    let negated = false;
    if (source[i] === "^") {
      negated = true;
      i++;
    }
    let jsItems = "";
    let re2Items = "";
    let first = true;
    for (;;) {
      if (i >= source.length) throw new PatternError("missing closing ]");
      if (source[i] === "]" && !first) break;
      first = false;
      if (source.startsWith("[:", i)) {
        const end = source.indexOf(":]", i + 2);
        if (end >= 0) {
          let name = source.slice(i + 2, end);
          const neg = name.startsWith("^");
          if (neg) name = name.slice(1);
          const cls = POSIX_CLASSES[name];
          if (!cls) throw new PatternError(`invalid character class range [:${name}:]`);
          if (neg) sensitive("a negated class inside [...]");
          else if (name !== "digit" && name !== "space" && name !== "blank" && name !== "cntrl" && name !== "punct") sensitive();
          jsItems += classRanges(cls, neg);
          re2Items += source.slice(i, end + 2);
          i = end + 2;
          continue;
        }
      }
      if (source[i] === "\\" && (source[i + 1] === "p" || source[i + 1] === "P")) {
        const u = unicodeClass();
        jsItems += u.js;
        re2Items += u.re2;
        continue;
      }
      if (source[i] === "\\" && /[dDsSwW]/.test(source[i + 1] ?? "")) {
        const c = source[i + 1]!;
        i += 2;
        const lower = c.toLowerCase();
        const ranges = lower === "d" ? POSIX_CLASSES.digit! : lower === "w" ? POSIX_CLASSES.word! : PERL_SPACE;
        if (c === "W") sensitive("a negated class inside [...]");
        else if (c === "w") sensitive();
        // As ranges inside a class, so that `[\d-z]` (a `-` after the class) is valid as in Go.
        jsItems += classRanges(ranges, c !== lower);
        re2Items += `\\${c}`;
        continue;
      }
      const lo = classChar();
      let hi = lo;
      if (source[i] === "-" && i + 1 < source.length && source[i + 1] !== "]") {
        const rangeStart = i;
        i++;
        hi = classChar();
        if (hi < lo) throw new PatternError(`invalid character class range ${String.fromCodePoint(lo)}${source.slice(rangeStart, i)}`);
      }
      if (rangeHasCase(lo, hi)) sensitive();
      jsItems += `${jsCode(lo)}-${jsCode(hi)}`;
      re2Items += lo === hi ? re2Code(lo) : `${re2Code(lo)}-${re2Code(hi)}`;
    }
    i++;
    atom(`[${negated ? "^" : ""}${jsItems}]`, `[${negated ? "^" : ""}${re2Items}]`);
  }

  function classChar(): number {
    if (source[i] === "\\") return parseEscape();
    const cp = source.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** Go's parseEscape: one escaped character at `i` (a backslash), as a code point. */
  function parseEscape(): number {
    const cp = source.codePointAt(i + 1);
    if (cp === undefined) throw new PatternError("trailing backslash at end of expression");
    const next = String.fromCodePoint(cp);
    const invalid = () => new PatternError(`invalid escape sequence \\${next}`);
    i += 1 + next.length;
    if (next in C_ESCAPES) return C_ESCAPES[next]!;
    if (next === "x") {
      const m = at(HEX, i);
      if (!m) throw invalid();
      const v = parseInt(m[1] ?? m[0], 16);
      if (v > MAX_RUNE) throw invalid();
      i += m[0].length;
      return v;
    }
    if (next >= "0" && next <= "7") {
      // Go: `\0` and up to two more octal digits, or `\1`-`\7` followed by at least one;
      // a lone `\1`-`\7` would be a backreference, which RE2 does not have.
      if (next !== "0" && !/[0-7]/.test(source[i] ?? "")) throw new PatternError(`invalid escape sequence \\${next}: backreference \\${next} is not supported by Go's RE2 syntax`);
      const digits = next + /^[0-7]{0,2}/.exec(source.slice(i, i + 2))![0];
      i += digits.length - 1;
      return parseInt(digits, 8);
    }
    // Go allows escaping any ASCII punctuation, and nothing else.
    if (cp < 0x80 && !/[A-Za-z0-9]/.test(next)) return cp;
    throw invalid();
  }
}

/**
 * Translate RE2 syntax (as Go's regexp reads it) to a JS RegExp with the `u` flag
 * that matches exactly as Go does; throws PatternError for what Go refuses. For the
 * few patterns V8 cannot match exactly (see translateRe2's `re2Only`), throws a
 * plain Error: compile those with compileGoPattern, which runs them on RE2.
 */
export function re2ToRegExp(source: string): RegExp {
  const t = translateRe2(source);
  if (t.re2Only) throw new Error(`V8 cannot match /${source}/ as Go does (${t.re2Only}); it runs on RE2`);
  return t.regexp;
}

/** Escape a string for a Go `path.Match` glob so that it matches only itself. */
export function globQuote(s: string): string {
  return s.replace(/[*?[\]\\]/g, "\\$&");
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

/** Options for compileGoPattern. */
export interface CompileOptions {
  /** Run a regex on RE2 even when V8 could (tests compare the two). */
  engine?: "auto" | "re2";
  /** The caller reads capture groups (exec): run on RE2 when V8's captures could differ from Go's. */
  captures?: boolean;
}

/**
 * Compile a docker_auth pattern (regex or glob). Throws PatternError when Go would
 * refuse it, PatternEngineError when RE2 fails (memory). Regexes are checked and
 * translated for V8, which is fast; those whose shape could backtrack exponentially,
 * or that V8 cannot match as Go does, run on RE2 itself (WebAssembly): linear time,
 * Go's semantics. An RE2 matcher holds engine memory: `disposeMatcher` gives it back.
 */
export function compileGoPattern(p: string, options?: CompileOptions): Matcher {
  if (!isRegexPattern(p)) return globToRegExp(p);
  const t = translateRe2(p.slice(1, -1));
  if (options?.engine === "re2" || t.re2Only || (options?.captures && t.capturesMayDiffer) || mayBacktrack(t.regexp.source)) return new Re2Matcher(t.re2);
  return t.regexp;
}

/** Throw PatternError if Go would refuse the pattern; compiles nothing on RE2. */
export function checkGoPattern(p: string): void {
  if (isRegexPattern(p)) translateRe2(p.slice(1, -1));
  else globToRegExp(p);
}

/** Is this matcher backed by RE2 (WebAssembly memory) rather than a V8 RegExp? */
export function isRe2Matcher(m: Matcher | null | undefined): m is Re2Matcher {
  return m instanceof Re2Matcher;
}

/** Give back the engine memory an RE2 matcher holds (a no-op for RegExps). */
export function disposeMatcher(m: Matcher | null | undefined): void {
  if (m instanceof Re2Matcher) m.dispose();
}

/**
 * A literal prefix every value matching the pattern starts with, and whether the
 * value must equal it. For globs, the text before the first special character; for
 * regexes, the literal text right after a leading `^`/`\A` (see translateRe2).
 * `{ text: "", exact: false }` when nothing is known. Throws PatternError like compileGoPattern.
 */
export function literalPrefix(p: string): { text: string; exact: boolean } {
  if (isRegexPattern(p)) return { text: translateRe2(p.slice(1, -1)).prefix, exact: false };
  const wild = p.search(/[*?[\\]/);
  return wild < 0 ? { text: p, exact: true } : { text: p.slice(0, wild), exact: false };
}

/** Go's regexp.QuoteMeta: what docker_auth applies to ${account} and friends before substituting. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
