import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type Node as YamlNode } from "yaml";
import type { ConfigIssue } from "../errors.js";

/**
 * A plain (unquoted) scalar that YAML 1.1 reads as a number, boolean or date.
 * docker_auth's Go parser (yaml.v2) stores such a scalar's text when the target
 * field is a string (`service: 1.0` is the service "1.0"), so both are kept and
 * the schema picks the one its field needs.
 */
export class PlainScalar {
  constructor(
    readonly value: number | boolean | bigint | Date,
    readonly text: string,
  ) {}
}

export interface Position {
  line: number;
  column: number;
}

/** A config file read into plain values, with the position of every key and value. */
export interface YamlSource {
  file: string;
  value: unknown;
  /** Keyed by `pathKey(path)`: where the value at that path starts. */
  valuePositions: Map<string, Position>;
  /** Keyed by `pathKey(path)`: where the key naming that path is written. */
  keyPositions: Map<string, Position>;
}

export type ConfigPath = readonly (string | number)[];

/** `["acl", 3, "match", "name"]` → `acl[3].match.name`: the form every error message uses. */
export function pathKey(path: ConfigPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

/**
 * Where to point a reader for `path`: its key if it has one, else its value, else the
 * nearest parent the same way (so a missing `token.issuer` points at `token:`, not at
 * whichever key happens to come first inside it).
 */
export function locate(src: YamlSource, path: ConfigPath): Position | undefined {
  for (let n = path.length; n >= 0; n--) {
    const k = pathKey(path.slice(0, n));
    const pos = src.keyPositions.get(k) ?? src.valuePositions.get(k);
    if (pos) return pos;
  }
  return undefined;
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.source === "<<" || key.value === "<<" || (typeof key.value === "symbol"));
}

class Reader {
  readonly valuePositions = new Map<string, Position>();
  readonly keyPositions = new Map<string, Position>();
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  pos(node: { range?: [number, number, number] | null | undefined } | null | undefined): Position | undefined {
    if (!node?.range) return undefined;
    const p = this.lines.linePos(node.range[0]);
    return { line: p.line, column: p.col };
  }

  read(node: unknown, path: (string | number)[], depth = 0): unknown {
    if (depth > 64) {
      this.issues.push({ file: this.file, key: pathKey(path), message: "nesting is too deep (or aliases form a cycle)" });
      return null;
    }
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (target === undefined) {
        // yaml.v2 refuses this ("unknown anchor"); reading it as null would hide the mistake.
        this.issues.push({ file: this.file, ...this.pos(node), key: pathKey(path) || undefined, message: `unknown anchor "${node.source}" referenced` });
        return null;
      }
      return this.read(target, path, depth + 1);
    }
    const at = this.pos(node as YamlNode);
    if (at) this.valuePositions.set(pathKey(path), at);
    if (isMap(node)) {
      const explicit: [string, unknown][] = [];
      const merged: Record<string, unknown>[] = [];
      for (const pair of node.items) {
        if (isMergeKey(pair.key)) {
          const target = isAlias(pair.value) ? pair.value.resolve(this.doc) : pair.value;
          const sources = isSeq(target) ? target.items : [target];
          for (const s of sources) {
            const v = this.read(s, path, depth + 1);
            if (v && typeof v === "object" && !Array.isArray(v)) merged.push(v as Record<string, unknown>);
            else this.issues.push({ file: this.file, ...this.pos(pair.key as YamlNode), key: pathKey(path), message: "a merge key (<<) must refer to a mapping" });
          }
          continue;
        }
        const key = this.keyText(pair.key);
        if (key === undefined) {
          this.issues.push({ file: this.file, ...this.pos(pair.key as YamlNode), key: pathKey(path), message: "a mapping key must be a scalar" });
          continue;
        }
        const childPath = [...path, key];
        const kp = this.pos(pair.key as YamlNode);
        if (kp) this.keyPositions.set(pathKey(childPath), kp);
        explicit.push([key, this.read(pair.value, childPath, depth + 1)]);
        if (pair.value === null && kp) this.valuePositions.set(pathKey(childPath), kp);
      }
      // YAML 1.1 merge: earlier merge sources beat later ones, explicit keys beat all;
      // yaml.v2 keeps the last of duplicated keys. defineProperty keeps `__proto__` a plain key.
      const out: Record<string, unknown> = {};
      const entries = [...merged.reverse().flatMap((m) => Object.entries(m)), ...explicit];
      for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    }
    if (isSeq(node)) return node.items.map((item, i) => this.read(item, [...path, i], depth + 1));
    if (isScalar(node)) return this.scalar(node);
    return null;
  }

  keyText(key: unknown): string | undefined {
    if (isScalar(key)) {
      if (key.value === null) return "";
      return typeof key.value === "string" ? key.value : (key.source ?? String(key.value));
    }
    return undefined;
  }

  scalar(node: Scalar): unknown {
    const v = node.value;
    if (v === null || v === undefined) return null;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" || v instanceof Date) {
      return new PlainScalar(v, node.source ?? String(v));
    }
    return String(v);
  }
}

/**
 * Parse YAML text as docker_auth's Go parser does (YAML 1.1: `yes`/`on` are
 * booleans, `<<` merges, duplicated keys keep the last), keeping positions.
 * Syntax errors come back as issues with line and column.
 */
export function readYaml(file: string, text: string): { source: YamlSource; issues: ConfigIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", merge: true, uniqueKeys: false, lineCounter: lines, prettyErrors: false, keepSourceTokens: false });
  const issues: ConfigIssue[] = [];
  for (const e of doc.errors) {
    // Without prettyErrors the error carries only offsets: turn them into a line and column.
    const p = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    issues.push({ file, line: p?.line, column: p?.col, message: `YAML syntax: ${e.message.split("\n")[0]}` });
  }
  const reader = new Reader(file, doc, lines);
  const value = issues.length ? null : reader.read(doc.contents, []);
  return {
    source: { file, value, valuePositions: reader.valuePositions, keyPositions: reader.keyPositions },
    issues: [...issues, ...reader.issues],
  };
}
