import type { AclEntrySpec, MatchSpec } from "../config/types.js";
import type { ConfigLocation } from "../errors.js";
import { validIpPattern } from "./ip.js";

/** One ACL entry as a database holds it: its `seq` and the entry's fields (match, actions, comment). */
export interface AclDocument {
  seq: unknown;
  entry: unknown;
}

/** What is wrong with an ACL read from a database, entry by entry. */
export interface AclDocumentProblems {
  /** Entries that make the whole ACL unusable (it is then not installed). */
  errors: string[];
  /** Entries left out (no `seq`: they have no place in the order). */
  skipped: string[];
}

const MATCH_FIELDS = ["account", "type", "name", "ip", "service"] as const;

/**
 * The value of `key` in a document, its case ignored: docker_auth's xorm backend reads
 * the entry with Go's encoding/json, which matches field names case-insensitively, so
 * rows written by Go say `Match`/`Actions` and rows written by hand say `match`.
 */
function field(doc: Record<string, unknown>, key: string): unknown {
  if (key in doc) return doc[key];
  for (const [k, v] of Object.entries(doc)) if (k.toLowerCase() === key) return v;
  return undefined;
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function seqOf(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "bigint") return Number(v);
  // The drivers hand a BSON Long or a Postgres BIGINT over as an object or a string.
  if (v !== null && v !== undefined && /^-?\d+$/.test(String(v))) return Number(String(v));
  return undefined;
}

/**
 * Database documents → the same AclEntrySpec list the static ACL compiles, ordered by
 * `seq`. An entry the static ACL would refuse makes the whole list unusable (a database
 * ACL with a hole in it could grant what the missing entry was there to deny), so every
 * problem is collected and the caller keeps its last good ACL.
 */
export function aclFromDocuments(docs: readonly AclDocument[], where: (seq: number, key?: string) => ConfigLocation): { entries: AclEntrySpec[]; problems: AclDocumentProblems } {
  const problems: AclDocumentProblems = { errors: [], skipped: [] };
  const withSeq: { seq: number; entry: unknown }[] = [];
  for (const d of docs) {
    if (d.seq === undefined || d.seq === null) {
      problems.skipped.push(`an entry without seq (${JSON.stringify(d.entry)?.slice(0, 200)})`);
      continue;
    }
    const seq = seqOf(d.seq);
    if (seq === undefined) {
      problems.errors.push(`seq ${JSON.stringify(d.seq)}: seq must be an integer`);
      continue;
    }
    withSeq.push({ seq, entry: d.entry });
  }
  withSeq.sort((a, b) => a.seq - b.seq);
  const entries: AclEntrySpec[] = [];
  for (let i = 0; i < withSeq.length; i++) {
    const { seq, entry } = withSeq[i]!;
    const bad = (m: string) => problems.errors.push(`seq ${seq}: ${m}`);
    if (i > 0 && withSeq[i - 1]!.seq === seq) {
      bad("seq is not unique: two entries would have no defined order");
      continue;
    }
    if (!isMapping(entry)) {
      bad("the entry must be a mapping with match and actions");
      continue;
    }
    const match = field(entry, "match") ?? {};
    const actions = field(entry, "actions");
    const comment = field(entry, "comment");
    if (!isMapping(match)) {
      bad("match must be a mapping (account, type, name, ip, service, labels)");
      continue;
    }
    if (!Array.isArray(actions) || !actions.every((a) => typeof a === "string")) {
      bad('actions must be a list of strings, like ["pull"] (an empty list denies)');
      continue;
    }
    const spec: { -readonly [K in keyof MatchSpec]: MatchSpec[K] } = {};
    let ok = true;
    for (const [k, v] of Object.entries(match)) {
      const key = k.toLowerCase();
      if (v === null || v === undefined) continue;
      if ((MATCH_FIELDS as readonly string[]).includes(key)) {
        if (typeof v !== "string") {
          bad(`match.${key} must be a string`);
          ok = false;
        } else spec[key as (typeof MATCH_FIELDS)[number]] = v;
      } else if (key === "labels") {
        if (!isMapping(v) || !Object.values(v).every((x) => typeof x === "string")) {
          bad("match.labels must map label names to string patterns");
          ok = false;
        } else spec.labels = v as Record<string, string>;
      } else {
        bad(`match.${k} is not a match field (account, type, name, ip, service, labels)`);
        ok = false;
      }
    }
    if (spec.ip !== undefined && !validIpPattern(spec.ip)) {
      bad(`invalid IP pattern "${spec.ip}": use an address (10.0.0.1, ::1) or a CIDR (10.0.0.0/8)`);
      ok = false;
    }
    if (comment !== undefined && comment !== null && typeof comment !== "string") {
      bad("comment must be a string");
      ok = false;
    }
    if (!ok) continue;
    entries.push({ index: entries.length, match: spec, actions: actions as string[], comment: typeof comment === "string" ? comment : undefined, where: where(seq) });
  }
  return { entries, problems };
}
