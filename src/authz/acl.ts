import { BlockList, isIPv4 } from "node:net";
import type { AclEntrySpec } from "../config/types.js";
import { ConfigError, type ConfigIssue, type ConfigLocation } from "../errors.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "./authorizer.js";
import { PatternError, quoteMeta } from "./go-pattern.js";
import { FIELDS, findCaptureRefs, PatternTemplate, type CaptureRef, type Field, type MatchContext } from "./pattern-template.js";

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
  return { list, ipv4Clients: family === "ipv4" || slash < 0 || bits >= 96 };
}

class CompiledEntry {
  readonly fields: Partial<Record<Field, PatternTemplate>> = {};
  readonly labels: [string, PatternTemplate][] = [];
  readonly ip?: IpMatcher;
  /** The fields this entry constrains, in docker_auth's order; unconstrained ones are not visited. */
  readonly fieldChecks: readonly (readonly [Field, PatternTemplate])[];
  readonly captures: CaptureRef[];
  /** Some pattern has placeholders, so matching needs the request's context. */
  readonly dynamic: boolean;
  readonly grantsAll: boolean;
  readonly actions: ReadonlySet<string>;

  constructor(
    readonly spec: AclEntrySpec,
    issues: ConfigIssue[],
    where: (path: readonly (string | number)[]) => ConfigLocation,
  ) {
    const compile = (key: string[], raw: string): PatternTemplate | undefined => {
      try {
        return new PatternTemplate(raw);
      } catch (e) {
        if (!(e instanceof PatternError)) throw e;
        issues.push({ ...where(["acl", spec.index, "match", ...key]), message: `invalid pattern ${JSON.stringify(raw)}: ${e.message}` });
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
    this.captures = findCaptureRefs(spec.match);
    this.dynamic = [...Object.values(this.fields), ...this.labels.map(([, t]) => t)].some((t) => !t.isStatic);
    this.grantsAll = spec.actions.length === 1 && spec.actions[0] === "*";
    this.actions = new Set(spec.actions);
  }

  matches(req: AuthzRequest, quoted: MatchContext["quoted"]): boolean {
    let ctx = STATIC_CONTEXT;
    if (this.dynamic) {
      let captures: Map<string, string> | undefined;
      for (const c of this.captures) {
        const m = c.regex.exec(req[c.field]);
        // Go's FindStringSubmatch gives "" for a group that did not take part, and docker_auth substitutes it.
        if (m && c.index >= 1 && c.index < m.length) (captures ??= new Map()).set(c.placeholder, m[c.index] ?? "");
      }
      ctx = { quoted, captures: captures ?? NO_CAPTURES, labels: req.labels };
    }
    for (const [f, t] of this.fieldChecks) if (!t.matches(req[f], ctx)) return false;
    if (this.ip) {
      if (req.ip === undefined) return false;
      const v4 = isIPv4(req.ip);
      if ((v4 && !this.ip.ipv4Clients) || !this.ip.list.check(req.ip, v4 ? "ipv4" : "ipv6")) return false;
    }
    // Each listed label must have some value that matches; label patterns get no label permutations (docker_auth).
    for (const [label, t] of this.labels) {
      const values = req.labels[label];
      if (!values?.some((v) => t.matches(v, ctx, false))) return false;
    }
    return true;
  }

  grant(requested: readonly string[]): string[] {
    return this.grantsAll ? [...requested] : requested.filter((a) => this.actions.has(a));
  }
}

const NO_CAPTURES: ReadonlyMap<string, string> = new Map();
/** Static patterns ignore the context; one shared object spares an allocation per entry. */
const STATIC_CONTEXT: MatchContext = { quoted: { account: "", type: "", name: "", service: "" }, captures: NO_CAPTURES, labels: {} };

/**
 * The static ACL from the config: entries in order, first match wins, with
 * docker_auth's matching rules. Every pattern is compiled here, once.
 */
export class AclAuthorizer implements Authorizer {
  readonly name = "static ACL";
  readonly #entries: CompiledEntry[];

  /** `where` locates a key for error messages (Config.where); without it, errors point at the entry. */
  constructor(entries: readonly AclEntrySpec[], where?: (path: readonly (string | number)[]) => ConfigLocation) {
    const issues: ConfigIssue[] = [];
    this.#entries = entries.map(
      (e) =>
        new CompiledEntry(e, issues, where ?? ((path) => ({ ...e.where, key: path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("").replace(/^\./, "") }))),
    );
    if (issues.length) throw new ConfigError(issues);
  }

  get size(): number {
    return this.#entries.length;
  }

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    return this.decide(req);
  }

  /** The synchronous decision, shared by `authorize` and `regauth explain`. */
  decide(req: AuthzRequest): AuthzResult {
    const quoted = { account: quoteMeta(req.account), type: quoteMeta(req.type), name: quoteMeta(req.name), service: quoteMeta(req.service) };
    for (const e of this.#entries) {
      if (e.matches(req, quoted)) {
        return { kind: "match", actions: e.grant(req.actions), rule: { source: this.name, index: e.spec.index, comment: e.spec.comment, where: e.spec.where } };
      }
    }
    return { kind: "no-match" };
  }

  async stop(): Promise<void> {}
}
