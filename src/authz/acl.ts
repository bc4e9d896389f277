import { BlockList, isIPv4 } from "node:net";
import type { AclEntrySpec } from "../config/types.js";
import { ConfigError, type ConfigIssue, type ConfigLocation } from "../errors.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "./authorizer.js";
import { PatternEngineError, PatternError, quoteMeta } from "./go-pattern.js";
import { normalizeIp } from "./ip.js";
import { disposeCaptureRefs, FIELDS, findCaptureRefs, PatternTemplate, type CaptureRef, type Field, type MatchContext } from "./pattern-template.js";

/** How an AclAuthorizer reads and runs its entries. */
export interface AclOptions {
  /**
   * Splice `${labels:NAME}` values into patterns as literal text (QuoteMeta'd in a
   * regex, backslash-escaped in a glob) instead of as pattern syntax. Default false:
   * docker_auth's behaviour, where a label value `*` is a wildcard.
   */
  literalLabelValues?: boolean;
  /**
   * Find candidate entries through a prefix index of literal names, accounts and
   * label values instead of trying every entry (same answers: first match wins).
   * Default: on for ACLs of INDEX_MIN entries or more.
   */
  index?: boolean;
}

/** ACLs shorter than this are scanned; longer ones go through the index. */
const INDEX_MIN = 32;

interface IpMatcher {
  list: BlockList;
  /**
   * Go's IPNet.Contains compares an IPv4 client with an IPv6 network only when the
   * network is IPv4-mapped (`::ffff:0:0/96` and longer); Node's BlockList would also
   * let `::/0` or `::ffff:0:0/80` match every IPv4 client.
   */
  ipv4Clients: boolean;
}

function ipMatcher(pattern: string): IpMatcher {
  const list = new BlockList();
  const slash = pattern.indexOf("/");
  const ip = slash < 0 ? pattern : pattern.slice(0, slash);
  const family = isIPv4(ip) ? "ipv4" : "ipv6";
  const bits = Number(pattern.slice(slash + 1));
  if (slash < 0) list.addAddress(ip, family);
  else list.addSubnet(ip, bits, family);
  // docker_auth's parseIPPattern makes a single address a /32 (IPv4, mapped forms included) or a /128.
  return { list, ipv4Clients: family === "ipv4" || slash < 0 || bits >= 96 };
}

/** Per-decision state, reused: the request's fields quoted for ${...} (computed on first need) and one context object. */
class Scratch {
  req: AuthzRequest | undefined;
  #quoted: Record<Field, string> | undefined;
  readonly ctx: { quoted: Readonly<Record<Field, string>>; captures: ReadonlyMap<string, string>; labels: AuthzRequest["labels"]; raw: Readonly<Record<Field, string>> | undefined } = {
    quoted: EMPTY_FIELDS,
    captures: new Map(),
    labels: {},
    raw: undefined,
  };

  start(req: AuthzRequest): void {
    this.req = req;
    this.#quoted = undefined;
  }

  end(): void {
    this.req = undefined;
    this.#quoted = undefined;
    this.ctx.labels = {};
    this.ctx.raw = undefined;
    this.ctx.quoted = EMPTY_FIELDS;
  }

  get quoted(): Record<Field, string> {
    const r = this.req!;
    return (this.#quoted ??= { account: quoteMeta(r.account), type: quoteMeta(r.type), name: quoteMeta(r.name), service: quoteMeta(r.service) });
  }
}

class CompiledEntry {
  readonly fields: Partial<Record<Field, PatternTemplate>> = {};
  readonly labels: [string, PatternTemplate][] = [];
  readonly ip?: IpMatcher;
  /** The fields this entry constrains, in docker_auth's order; unconstrained ones are not visited. */
  readonly fieldChecks: readonly (readonly [Field, PatternTemplate])[];
  // The conditions split by cost: all are ANDed and free of side effects, so the cheap
  // static ones go first and an entry is mostly rejected before any pattern is filled.
  // (As parallel arrays walked by index: the hot loop allocates nothing.)
  readonly #staticFields: Field[] = [];
  readonly #staticFieldTemplates: PatternTemplate[] = [];
  readonly #staticLabels: string[] = [];
  readonly #staticLabelTemplates: PatternTemplate[] = [];
  readonly #dynamicFields: Field[] = [];
  readonly #dynamicFieldTemplates: PatternTemplate[] = [];
  readonly #dynamicLabels: string[] = [];
  readonly #dynamicLabelTemplates: PatternTemplate[] = [];
  readonly captures: CaptureRef[];
  /** Some pattern has placeholders, so matching needs the request's context. */
  readonly dynamic: boolean;
  readonly grantsAll: boolean;
  readonly actions: ReadonlySet<string>;

  constructor(
    readonly spec: AclEntrySpec,
    issues: ConfigIssue[],
    where: (path: readonly (string | number)[]) => ConfigLocation,
    options: AclOptions,
  ) {
    const compile = (key: string[], raw: string): PatternTemplate | undefined => {
      try {
        return new PatternTemplate(raw, { literalLabelValues: options.literalLabelValues === true });
      } catch (e) {
        if (!(e instanceof PatternError) && !(e instanceof PatternEngineError)) throw e;
        const why = e instanceof PatternEngineError ? `the RE2 engine cannot hold it: ${e.message}` : e.message;
        issues.push({ ...where(["acl", spec.index, "match", ...key]), message: `invalid pattern ${JSON.stringify(raw)}: ${why}` });
        return undefined;
      }
    };
    for (const f of FIELDS) {
      const raw = spec.match[f];
      if (raw !== undefined) {
        const t = compile([f], raw);
        if (t) this.fields[f] = t;
      }
    }
    for (const [label, raw] of Object.entries(spec.match.labels ?? {})) {
      const t = compile(["labels", label], raw);
      if (t) this.labels.push([label, t]);
    }
    if (spec.match.ip !== undefined) this.ip = ipMatcher(spec.match.ip);
    this.fieldChecks = FIELDS.flatMap((f) => (this.fields[f] ? [[f, this.fields[f]] as const] : []));
    for (const [f, t] of this.fieldChecks) {
      (t.isStatic ? this.#staticFields : this.#dynamicFields).push(f);
      (t.isStatic ? this.#staticFieldTemplates : this.#dynamicFieldTemplates).push(t);
    }
    for (const [label, t] of this.labels) {
      (t.isStatic ? this.#staticLabels : this.#dynamicLabels).push(label);
      (t.isStatic ? this.#staticLabelTemplates : this.#dynamicLabelTemplates).push(t);
    }
    this.captures = findCaptureRefs(spec.match);
    this.dynamic = [...Object.values(this.fields), ...this.labels.map(([, t]) => t)].some((t) => !t.isStatic);
    this.grantsAll = spec.actions.length === 1 && spec.actions[0] === "*";
    this.actions = new Set(spec.actions);
  }

  matches(req: AuthzRequest, scratch: Scratch): boolean {
    const sf = this.#staticFields;
    for (let k = 0; k < sf.length; k++) if (!this.#staticFieldTemplates[k]!.matches(req[sf[k]!], STATIC_CONTEXT)) return false;
    // Each listed label must have some value that matches; label patterns get no label permutations (docker_auth).
    const sl = this.#staticLabels;
    for (let k = 0; k < sl.length; k++) if (!someValueMatches(req.labels[sl[k]!], this.#staticLabelTemplates[k]!, STATIC_CONTEXT)) return false;
    if (this.ip) {
      if (req.ip === undefined) return false;
      // As Go's net.ParseIP + To4: an IPv4-mapped IPv6 client in any spelling is an IPv4 client.
      const ip = normalizeIp(req.ip);
      const v4 = isIPv4(ip);
      if ((v4 && !this.ip.ipv4Clients) || !this.ip.list.check(ip, v4 ? "ipv4" : "ipv6")) return false;
    }
    if (!this.dynamic) return true;
    let captures: Map<string, string> | undefined;
    for (let k = 0; k < this.captures.length; k++) {
      const c = this.captures[k]!;
      const m = c.regex.exec(req[c.field]);
      // Go's FindStringSubmatch gives "" for a group that did not take part, and docker_auth substitutes it.
      if (m && c.index >= 1 && c.index < m.length) (captures ??= new Map()).set(c.placeholder, m[c.index] ?? "");
    }
    const ctx = scratch.ctx;
    ctx.quoted = scratch.quoted;
    ctx.captures = captures ?? NO_CAPTURES;
    ctx.labels = req.labels;
    ctx.raw = req;
    const df = this.#dynamicFields;
    for (let k = 0; k < df.length; k++) if (!this.#dynamicFieldTemplates[k]!.matches(req[df[k]!], ctx)) return false;
    const dl = this.#dynamicLabels;
    for (let k = 0; k < dl.length; k++) if (!someValueMatches(req.labels[dl[k]!], this.#dynamicLabelTemplates[k]!, ctx)) return false;
    return true;
  }

  grant(requested: readonly string[]): string[] {
    return this.grantsAll ? [...requested] : requested.filter((a) => this.actions.has(a));
  }

  dispose(): void {
    for (const [, t] of this.fieldChecks) t.dispose();
    for (const [, t] of this.labels) t.dispose();
    disposeCaptureRefs(this.captures);
  }
}

function someValueMatches(values: readonly string[] | undefined, t: PatternTemplate, ctx: MatchContext): boolean {
  if (!values) return false;
  for (let k = 0; k < values.length; k++) if (t.matches(values[k]!, ctx, false)) return true;
  return false;
}

const NO_CAPTURES: ReadonlyMap<string, string> = new Map();
const EMPTY_FIELDS: Readonly<Record<Field, string>> = { account: "", type: "", name: "", service: "" };
/** Static patterns ignore the context; one shared object spares an allocation per entry. */
const STATIC_CONTEXT: MatchContext = { quoted: EMPTY_FIELDS, captures: NO_CAPTURES, labels: {} };

/** A trie of literal prefixes (UTF-16 code units), each node listing the entries whose key ends there. */
class TrieNode {
  children: Map<number, TrieNode> | undefined;
  /** Entries whose value must start with this node's text. */
  starts: number[] | undefined;
  /** Entries whose value must be this node's text. */
  exact: number[] | undefined;
}

/** Candidate entry numbers of one decision, deduplicated. */
class Candidates {
  readonly list: Int32Array;
  count = 0;
  readonly #seen: Uint32Array;
  #epoch = 0;

  constructor(size: number) {
    this.list = new Int32Array(size);
    this.#seen = new Uint32Array(size);
  }

  reset(): void {
    this.count = 0;
    if (++this.#epoch === 0xffffffff) {
      this.#seen.fill(0);
      this.#epoch = 1;
    }
  }

  addAll(entries: readonly number[]): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (this.#seen[e] !== this.#epoch) {
        this.#seen[e] = this.#epoch;
        this.list[this.count++] = e;
      }
    }
  }

  sort(): void {
    const n = this.count;
    const a = this.list;
    if (n <= 24) {
      for (let k = 1; k < n; k++) {
        const v = a[k]!;
        let j = k - 1;
        while (j >= 0 && a[j]! > v) {
          a[j + 1] = a[j]!;
          j--;
        }
        a[j + 1] = v;
      }
    } else a.subarray(0, n).sort();
  }
}

class PrefixIndex {
  readonly root = new TrieNode();

  add(key: string, exact: boolean, entry: number): void {
    let node = this.root;
    for (let k = 0; k < key.length; k++) {
      const c = key.charCodeAt(k);
      node.children ??= new Map();
      let next = node.children.get(c);
      if (!next) node.children.set(c, (next = new TrieNode()));
      node = next;
    }
    if (exact) (node.exact ??= []).push(entry);
    else (node.starts ??= []).push(entry);
  }

  /** Add the entries whose key is a prefix of `value` (or, for exact keys, equals it). */
  collect(value: string, out: Candidates): void {
    let node: TrieNode | undefined = this.root;
    if (node.starts) out.addAll(node.starts);
    for (let k = 0; k < value.length; k++) {
      node = node.children?.get(value.charCodeAt(k));
      if (!node) return;
      if (node.starts) out.addAll(node.starts);
    }
    if (node.exact) out.addAll(node.exact);
  }
}

/**
 * Entries in order; for each, the one literal key (an exact value or a prefix of one
 * field or label) that any request it matches must have. An entry whose conditions
 * give no such key is "unindexed" and always tried. A decision tries, in entry order,
 * the unindexed entries and those whose key the request has: the first match is the
 * same as the linear scan's, because an entry left out cannot match.
 */
class AclIndex {
  readonly fields: [Field, PrefixIndex][] = [];
  readonly labels: [string, PrefixIndex][] = [];
  readonly unindexed: Int32Array;
  readonly candidates: Candidates;

  constructor(entries: readonly CompiledEntry[]) {
    const fieldIdx = new Map<Field, PrefixIndex>();
    const labelIdx = new Map<string, PrefixIndex>();
    const unindexed: number[] = [];
    entries.forEach((e, n) => {
      let best: { source: Field | { label: string }; text: string; exact: boolean; score: number } | undefined;
      const consider = (source: Field | { label: string }, t: PatternTemplate) => {
        const { text, exact } = t.requiredPrefix;
        const score = exact ? 1_000_000 + text.length : text.length;
        if (score > 0 && (!best || score > best.score)) best = { source, text, exact, score };
      };
      for (const [f, t] of e.fieldChecks) consider(f, t);
      for (const [label, t] of e.labels) consider({ label }, t);
      if (!best) {
        unindexed.push(n);
        return;
      }
      let idx: PrefixIndex | undefined;
      if (typeof best.source === "string") {
        idx = fieldIdx.get(best.source);
        if (!idx) fieldIdx.set(best.source, (idx = new PrefixIndex()));
      } else {
        idx = labelIdx.get(best.source.label);
        if (!idx) labelIdx.set(best.source.label, (idx = new PrefixIndex()));
      }
      idx.add(best.text, best.exact, n);
    });
    this.fields = [...fieldIdx];
    this.labels = [...labelIdx];
    this.unindexed = Int32Array.from(unindexed);
    this.candidates = new Candidates(entries.length);
  }
}

/**
 * The static ACL from the config: entries in order, first match wins, with
 * docker_auth's matching rules. Every pattern is compiled here, once.
 */
export class AclAuthorizer implements Authorizer {
  readonly name = "static ACL";
  readonly #entries: CompiledEntry[];
  readonly #index: AclIndex | undefined;
  readonly #scratch = new Scratch();
  #stopped = false;

  /**
   * `where` locates a key for error messages (Config.where); without it, errors point at the entry.
   * `options`: see AclOptions (e.g. `{ literalLabelValues: true }`).
   */
  constructor(entries: readonly AclEntrySpec[], where?: (path: readonly (string | number)[]) => ConfigLocation, options: AclOptions = {}) {
    const issues: ConfigIssue[] = [];
    this.#entries = entries.map(
      (e) =>
        new CompiledEntry(
          e,
          issues,
          where ?? ((path) => ({ ...e.where, key: path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("").replace(/^\./, "") })),
          options,
        ),
    );
    if (issues.length) {
      for (const e of this.#entries) e.dispose();
      throw new ConfigError(issues);
    }
    if (options.index ?? this.#entries.length >= INDEX_MIN) this.#index = new AclIndex(this.#entries);
  }

  get size(): number {
    return this.#entries.length;
  }

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    return this.decide(req);
  }

  /** The synchronous decision, shared by `authorize` and `regauth explain`. Throws PatternEngineError if RE2 fails. */
  decide(req: AuthzRequest): AuthzResult {
    const scratch = this.#scratch;
    scratch.start(req);
    try {
      const e = this.#index ? this.#indexed(req, this.#index) : this.#scan(req);
      if (e) return { kind: "match", actions: e.grant(req.actions), rule: { source: this.name, index: e.spec.index, comment: e.spec.comment, where: e.spec.where } };
      return { kind: "no-match" };
    } finally {
      scratch.end();
    }
  }

  #scan(req: AuthzRequest): CompiledEntry | undefined {
    for (const e of this.#entries) if (e.matches(req, this.#scratch)) return e;
    return undefined;
  }

  #indexed(req: AuthzRequest, index: AclIndex): CompiledEntry | undefined {
    const c = index.candidates;
    c.reset();
    for (let f = 0; f < index.fields.length; f++) index.fields[f]![1].collect(req[index.fields[f]![0]], c);
    for (let l = 0; l < index.labels.length; l++) {
      const values = req.labels[index.labels[l]![0]];
      if (values) for (let k = 0; k < values.length; k++) index.labels[l]![1].collect(values[k]!, c);
    }
    c.sort();
    const cand = c.list;
    const n = c.count;
    const un = index.unindexed;
    let i = 0;
    let j = 0;
    while (i < n || j < un.length) {
      const next = j >= un.length || (i < n && cand[i]! < un[j]!) ? cand[i++]! : un[j++]!;
      const e = this.#entries[next]!;
      if (e.matches(req, this.#scratch)) return e;
    }
    return undefined;
  }

  /** Gives back the RE2 memory of this ACL's patterns (patterns shared with a newer ACL stay). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const e of this.#entries) e.dispose();
  }
}
