import type { Labels } from "../config/types.js";
import { compileGoPattern, isRegexPattern, PatternError, type Matcher } from "./go-pattern.js";

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
}

type Piece = string | { var: Field } | { label: string; text: string } | { capture: string };

const PLACEHOLDER = /\$\{(account|type|name|service)\}|\$\{labels:([^}]*)\}|\$\{(.+?):(\d+)\}/g;
/** Bounds the cartesian product of label values one pattern may try, as a guard against huge label sets. */
const MAX_LABEL_COMBINATIONS = 4096;

// Patterns with placeholders can only be compiled once the request is known; the
// compiled forms are kept here so that steady traffic compiles nothing.
const compiled = new Map<string, Matcher | null>();
const COMPILED_MAX = 20_000;

function compileCached(text: string): Matcher | null {
  let re = compiled.get(text);
  if (re !== undefined) return re;
  try {
    re = compileGoPattern(text);
  } catch {
    re = null; // docker_auth: a pattern that does not compile after substitution matches nothing
  }
  if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
  compiled.set(text, re);
  return re;
}

/**
 * One ACL pattern, compiled at load. Without placeholders it is a ready RegExp;
 * with them it is a template filled per request (docker_auth's strings.Replacer),
 * then matched through a bounded cache of compiled forms.
 */
export class PatternTemplate {
  readonly raw: string;
  readonly isRegex: boolean;
  readonly #static?: Matcher;
  /** For a static glob: the literal text before its first wildcard, which every match starts with. */
  readonly #prefix: string = "";
  /** For a static glob without wildcards: the one string it matches. */
  readonly #exact?: string;
  readonly #pieces: readonly Piece[];
  readonly #labelNames: readonly string[];

  constructor(raw: string) {
    this.raw = raw;
    this.isRegex = isRegexPattern(raw);
    const pieces: Piece[] = [];
    let last = 0;
    for (const m of raw.matchAll(PLACEHOLDER)) {
      if (m.index > last) pieces.push(raw.slice(last, m.index));
      if (m[1]) pieces.push({ var: m[1] as Field });
      else if (m[2] !== undefined) pieces.push({ label: m[2], text: m[0] });
      else pieces.push({ capture: m[0] });
      last = m.index + m[0].length;
    }
    if (last < raw.length) pieces.push(raw.slice(last));
    this.#pieces = pieces;
    this.#labelNames = [...new Set(pieces.flatMap((p) => (typeof p === "object" && "label" in p ? [p.label] : [])))];
    if (pieces.every((p) => typeof p === "string")) {
      this.#static = compileGoPattern(raw); // throws PatternError for the config check
      if (!this.isRegex) {
        // Cheap checks before the RegExp: long ACLs are mostly literal names and `team/*` globs.
        const wild = raw.search(/[*?[\\]/);
        if (wild < 0) this.#exact = raw;
        else this.#prefix = raw.slice(0, wild);
      }
    } else {
      // Check the syntax around the placeholders now, so a broken pattern fails at load.
      const probe = pieces.map((p) => (typeof p === "string" ? p : "x")).join("");
      compileGoPattern(probe);
    }
  }

  /** True when the pattern has no placeholders: compiled once, no request context needed. */
  get isStatic(): boolean {
    return this.#static !== undefined;
  }

  /** Does `value` match, trying label values for ${labels:...} as docker_auth does. */
  matches(value: string, ctx: MatchContext, withLabels = true): boolean {
    if (this.#exact !== undefined) return value === this.#exact;
    if (this.#static) return value.startsWith(this.#prefix) && this.#static.test(value);
    if (compileCached(this.#fill(ctx, undefined))?.test(value)) return true;
    if (!withLabels || this.#labelNames.length === 0) return false;
    const names = this.#labelNames.filter((n) => (ctx.labels[n]?.length ?? 0) > 0);
    if (names.length === 0) return false;
    const choice = new Map<string, string>();
    let tried = 0;
    const walk = (k: number): boolean => {
      if (k === names.length) {
        if (++tried > MAX_LABEL_COMBINATIONS) return false;
        return compileCached(this.#fill(ctx, choice))?.test(value) ?? false;
      }
      for (const v of ctx.labels[names[k]!]!) {
        choice.set(names[k]!, v);
        if (walk(k + 1)) return true;
        if (tried > MAX_LABEL_COMBINATIONS) return false;
      }
      return false;
    };
    return walk(0);
  }

  #fill(ctx: MatchContext, labelChoice: ReadonlyMap<string, string> | undefined): string {
    let s = "";
    for (const p of this.#pieces) {
      if (typeof p === "string") s += p;
      else if ("var" in p) s += ctx.quoted[p.var];
      else if ("label" in p) s += labelChoice?.get(p.label) ?? p.text;
      else s += ctx.captures.get(p.capture) ?? p.capture;
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
        regex = compileGoPattern(target);
      } catch (e) {
        if (e instanceof PatternError) continue;
        throw e;
      }
      refs.push({ placeholder: m[0], field, index: Number(m[2]), regex });
    }
  }
  return refs;
}
