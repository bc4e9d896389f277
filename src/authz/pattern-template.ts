import type { Labels } from "../config/types.js";
import { checkGoPattern, compileGoPattern, disposeMatcher, globQuote, isRe2Matcher, isRegexPattern, literalPrefix, PatternError, quoteMeta, type Matcher } from "./go-pattern.js";
import { setMemoryPressureHandler } from "./re2-engine.js";

/** The request fields a pattern may refer to as ${account}, ${type}, ${name}, ${service}. */
export type Field = "account" | "type" | "name" | "service";
export const FIELDS: readonly Field[] = ["account", "type", "name", "service"];

/** What a request offers to the placeholders of a pattern. */
export interface MatchContext {
  /** Field values, already regex-quoted as docker_auth substitutes them. */
  quoted: Readonly<Record<Field, string>>;
  /** `${account:1}`-style placeholders resolved for this request and entry. */
  captures: ReadonlyMap<string, string>;
  labels: Labels;
  /** The same field values unquoted, when known: lets a glob with placeholders reject a value without being filled. */
  raw?: Readonly<Record<Field, string>>;
}

/** How a PatternTemplate reads its placeholders. */
export interface PatternTemplateOptions {
  /**
   * How `${labels:NAME}` values are spliced into the pattern. `false` (the default,
   * docker_auth's behaviour): as they are, so that a label value `*` or `.+` acts as
   * a wildcard. `true`: as literal text, so that a value matches only itself:
   * QuoteMeta'd in a regex (Go's regexp.QuoteMeta), backslash-escaped in a glob
   * (Go's path.Match reads `\c` as the character c).
   */
  literalLabelValues?: boolean;
}

/** Does the pattern use `${labels:NAME}` placeholders (whose values are spliced into it unescaped by default)? */
export function usesLabelPlaceholders(pattern: string): boolean {
  return /\$\{labels:[^}]*\}/.test(pattern);
}

/** A pattern's parts: literal text, a request field, a label (slot: its place in labelNames), a capture. */
type Piece = string | { var: Field } | { label: string; text: string; slot: number } | { capture: string };

const PLACEHOLDER = /\$\{(account|type|name|service)\}|\$\{labels:([^}]*)\}|\$\{(.+?):(\d+)\}/g;
/** Bounds the cartesian product of label values one pattern may try, as a guard against huge label sets. */
const MAX_LABEL_COMBINATIONS = 4096;

// Patterns with placeholders can only be compiled once the request is known; the
// compiled forms are kept in two least-recently-used caches so that steady traffic
// compiles nothing: V8 RegExps and "matches nothing" (null) entries, and RE2-backed
// matchers, which hold WebAssembly heap and are bounded much more tightly (each one
// is disposed, its RE2 object deleted, when evicted).
/** Most V8 (and "matches nothing") entries kept. */
export const COMPILED_MAX = 20_000;
/** Most RE2-backed dynamic entries kept (each holds RE2 heap; the engine's heap is a fixed 16 MiB). */
export const RE2_COMPILED_MAX = 1_000;
const compiledV8 = new Map<string, Matcher | null>();
const compiledRe2 = new Map<string, Matcher>();

function touch<V>(map: Map<string, V>, key: string, value: V): void {
  // Map keeps insertion order: moving a hit to the end makes the first key the least recently used.
  map.delete(key);
  map.set(key, value);
}

function evictRe2(count: number): void {
  for (const [key, m] of compiledRe2) {
    if (count-- <= 0) break;
    compiledRe2.delete(key);
    disposeMatcher(m);
  }
}

// When RE2's heap runs short, the least recently used quarter of the RE2 entries goes first.
setMemoryPressureHandler(() => {
  if (compiledRe2.size === 0) return false;
  evictRe2(Math.max(1, compiledRe2.size >> 2));
  return true;
});

/**
 * The compiled form of a filled pattern. A pattern Go refuses to compile is null,
 * "matches nothing", as in docker_auth; an engine failure (PatternEngineError) is
 * thrown to the caller and not cached, so the request fails (5xx) and a later one retries.
 */
function compileCached(text: string): Matcher | null {
  const v8 = compiledV8.get(text);
  if (v8 !== undefined) {
    if (compiledV8.size > 1) touch(compiledV8, text, v8);
    return v8;
  }
  const re2 = compiledRe2.get(text);
  if (re2 !== undefined) {
    if (compiledRe2.size > 1) touch(compiledRe2, text, re2);
    return re2;
  }
  let m: Matcher | null;
  try {
    m = compileGoPattern(text);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    m = null; // docker_auth: a pattern that does not compile after substitution matches nothing
  }
  if (isRe2Matcher(m)) {
    if (compiledRe2.size >= RE2_COMPILED_MAX) evictRe2(compiledRe2.size - RE2_COMPILED_MAX + 1);
    compiledRe2.set(text, m);
  } else {
    if (compiledV8.size >= COMPILED_MAX) compiledV8.delete(compiledV8.keys().next().value!);
    compiledV8.set(text, m);
  }
  return m;
}

/** Sizes of the dynamic-pattern caches, for tests and diagnostics. */
export function dynamicCacheStats(): { v8: number; re2: number } {
  return { v8: compiledV8.size, re2: compiledRe2.size };
}

/** Empty the dynamic-pattern caches (tests). */
export function clearDynamicCache(): void {
  compiledV8.clear();
  evictRe2(compiledRe2.size);
}

/** A glob's literal head before its first placeholder-free wildcard: static text and (literal) request fields. */
type HeadPart = string | { readonly field: Field } | { readonly label: string; readonly text: string; readonly slot: number };

/**
 * One ACL pattern, compiled at load. Without placeholders it is a ready matcher;
 * with them it is a template filled per request (docker_auth's strings.Replacer),
 * then matched through a bounded cache of compiled forms.
 */
export class PatternTemplate {
  readonly raw: string;
  readonly isRegex: boolean;
  #static?: Matcher;
  /** For a static pattern: literal text every match starts with (a glob's text before its first wildcard, a `^`-anchored regex's literal start). */
  readonly #prefix: string = "";
  /** For a static glob without wildcards: the one string it matches. */
  readonly #exact?: string;
  readonly #pieces: readonly Piece[];
  readonly #labelNames: readonly string[];
  readonly #literalLabels: boolean;
  readonly #required: { text: string; exact: boolean };
  /** For a glob with placeholders: the parts every match starts with (`${account}/` of `${account}/*`). */
  readonly #head?: readonly HeadPart[];

  constructor(raw: string, options: PatternTemplateOptions = {}) {
    this.raw = raw;
    this.isRegex = isRegexPattern(raw);
    this.#literalLabels = options.literalLabelValues === true;
    const pieces: Piece[] = [];
    const labelNames: string[] = [];
    let last = 0;
    for (const m of raw.matchAll(PLACEHOLDER)) {
      if (m.index > last) pieces.push(raw.slice(last, m.index));
      if (m[1]) pieces.push({ var: m[1] as Field });
      else if (m[2] !== undefined) {
        if (!labelNames.includes(m[2])) labelNames.push(m[2]);
        pieces.push({ label: m[2], text: m[0], slot: labelNames.indexOf(m[2]) });
      } else pieces.push({ capture: m[0] });
      last = m.index + m[0].length;
    }
    if (last < raw.length) pieces.push(raw.slice(last));
    this.#pieces = pieces;
    this.#labelNames = labelNames;
    this.#chosen = labelNames.map(() => undefined);
    if (pieces.every((p) => typeof p === "string")) {
      // Throws PatternError for the config check (PatternEngineError if RE2 cannot hold it).
      this.#static = compileGoPattern(raw);
      this.#required = literalPrefix(raw);
      // Cheap checks before the matcher: long ACLs are mostly literal names, `team/*` globs and `^project\/` regexes.
      if (this.#required.exact) this.#exact = raw;
      else this.#prefix = this.#required.text;
    } else {
      // Check the syntax around the placeholders now, so a broken pattern fails at load.
      const probe = pieces.map((p) => (typeof p === "string" ? p : "x")).join("");
      checkGoPattern(probe);
      this.#required = { text: !this.isRegex && typeof pieces[0] === "string" ? literalPrefix(pieces[0]).text : "", exact: false };
      if (!this.isRegex) {
        const head: HeadPart[] = [];
        for (const p of pieces) {
          if (typeof p === "string") {
            const wild = p.search(/[*?[\\]/);
            head.push(wild < 0 ? p : p.slice(0, wild));
            if (wild >= 0) break;
          } else if ("var" in p) head.push({ field: p.var });
          else if ("label" in p) head.push(p);
          else break;
        }
        this.#head = head;
      }
    }
  }

  /** True when the pattern has no placeholders: compiled once, no request context needed. */
  get isStatic(): boolean {
    return this.#pieces.every((p) => typeof p === "string");
  }

  /**
   * Literal text every matching value starts with (`exact`: equals), known at load;
   * `{ text: "", exact: false }` when nothing is known. For indexes.
   */
  get requiredPrefix(): { readonly text: string; readonly exact: boolean } {
    return this.#required;
  }

  /** Does `value` match, trying label values for ${labels:...} as docker_auth does. Throws PatternEngineError if RE2 fails. */
  matches(value: string, ctx: MatchContext, withLabels = true): boolean {
    if (this.#exact !== undefined) return value === this.#exact;
    if (this.#static) return value.startsWith(this.#prefix) && this.#static.test(value);
    // docker_auth first tries the pattern with ${labels:...} left as written, then each choice of label values.
    if ((!this.#head || !ctx.raw || this.#headMatches(value, ctx.raw, undefined)) && compileCached(this.#fill(ctx, undefined))?.test(value)) return true;
    if (!withLabels || this.#labelNames.length === 0) return false;
    // Matching is synchronous and never re-enters a template: one array of chosen values serves every call.
    this.#tried = 0;
    this.#anyChosen = false;
    try {
      return this.#walk(0, value, ctx);
    } finally {
      this.#chosen.fill(undefined);
    }
  }

  /** The label value chosen for each label (by slot) in the cartesian walk; undefined: left as written. */
  readonly #chosen: (string | undefined)[];
  #anyChosen = false;
  #tried = 0;

  /** Try every combination of values of the labels from `k` on; labels the user lacks are left as written. */
  #walk(k: number, value: string, ctx: MatchContext): boolean {
    const names = this.#labelNames;
    while (k < names.length && !ctx.labels[names[k]!]?.length) k++;
    if (k === names.length) {
      if (!this.#anyChosen) return false; // no label to try: the first attempt said it all
      if (++this.#tried > MAX_LABEL_COMBINATIONS) return false;
      if (this.#head && ctx.raw && !this.#headMatches(value, ctx.raw, this.#chosen)) return false;
      return compileCached(this.#fill(ctx, this.#chosen))?.test(value) ?? false;
    }
    const values = ctx.labels[names[k]!]!;
    this.#anyChosen = true;
    for (let v = 0; v < values.length; v++) {
      this.#chosen[k] = values[v]!;
      if (this.#walk(k + 1, value, ctx)) return true;
      if (this.#tried > MAX_LABEL_COMBINATIONS) return false;
    }
    this.#chosen[k] = undefined;
    return false;
  }

  /** Give back the RE2 memory of a static pattern (AclAuthorizer.stop). Matching afterwards still works. */
  dispose(): void {
    disposeMatcher(this.#static);
  }

  /**
   * Could the filled glob match `value`, judging by its head? Quoted fields are literal
   * text in Go's path.Match (QuoteMeta escapes all of `*?[\`), and so is a label value
   * without those characters (or any, when label values are spliced literally); the
   * head stops at the first wildcard. False only when the filled glob cannot match.
   */
  #headMatches(value: string, raw: Readonly<Record<Field, string>>, chosen: readonly (string | undefined)[] | undefined): boolean {
    let pos = 0;
    const head = this.#head!;
    for (let k = 0; k < head.length; k++) {
      const part = head[k]!;
      let text: string;
      if (typeof part === "string") text = part;
      else if ("field" in part) text = raw[part.field];
      else {
        const v = chosen?.[part.slot];
        if (v === undefined) text = part.text;
        else if (this.#literalLabels || !/[*?[\\]/.test(v)) text = v;
        else return true; // the value has wildcards: the head ends here
      }
      if (!value.startsWith(text, pos)) return false;
      pos += text.length;
    }
    return true;
  }

  #fill(ctx: MatchContext, chosen: readonly (string | undefined)[] | undefined): string {
    let s = "";
    for (let k = 0; k < this.#pieces.length; k++) {
      const p = this.#pieces[k]!;
      if (typeof p === "string") s += p;
      else if ("var" in p) s += ctx.quoted[p.var];
      else if ("label" in p) {
        const v = chosen?.[p.slot];
        s += v === undefined ? p.text : this.#literalLabels ? (this.isRegex ? quoteMeta(v) : globQuote(v)) : v;
      } else s += ctx.captures.get(p.capture) ?? p.capture;
    }
    return s;
  }
}

/** A `${field:N}` reference: capture group N of the field's own regex, applied to the request's field. */
export interface CaptureRef {
  placeholder: string;
  field: Field;
  index: number;
  regex: Matcher;
}

/** Find the capture references in an entry's patterns; a reference whose field is not a regex is ignored, as in docker_auth. */
export function findCaptureRefs(patterns: Partial<Record<Field, string>>): CaptureRef[] {
  const refs: CaptureRef[] = [];
  for (const f of FIELDS) {
    const p = patterns[f];
    if (p === undefined) continue;
    for (const m of p.matchAll(/\$\{(.+?):(\d+)\}/g)) {
      // docker_auth looks the field up by strings.Title(name): only the first letter's case is free.
      const field = (m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1)) as Field;
      const target = patterns[field];
      if (!FIELDS.includes(field) || target === undefined || !isRegexPattern(target)) continue;
      let regex: Matcher;
      try {
        regex = compileGoPattern(target, { captures: true });
      } catch (e) {
        if (e instanceof PatternError) continue;
        throw e;
      }
      refs.push({ placeholder: m[0], field, index: Number(m[2]), regex });
    }
  }
  return refs;
}

/** Give back the RE2 memory of capture references (their regexes). */
export function disposeCaptureRefs(refs: readonly CaptureRef[]): void {
  for (const r of refs) disposeMatcher(r.regex);
}
