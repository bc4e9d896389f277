import { readCaFile } from "../../config/ca-file.js";
import { isIP } from "node:net";
import { FilterParser } from "ldapts";
import { z } from "zod";
import { Secret } from "../../secret.js";
import type { SectionContext } from "../../config/section.js";
import { nearest } from "../../config/suggest.js";
import { durationMs } from "../../config/duration.js";
import { nullIsAbsent, optBool, optDuration, optInt, optMapping, optText, optTextList as textList } from "../../config/fields.js";

// ---------------------------------------------------------------------------
// The typed config the LDAP backend gets.

/** How a connection is secured: docker_auth's `tls` values ("" is "none", or "always" on port 636). */
export type LdapTlsMode = "none" | "always" | "starttls";

export interface LdapServerAddress {
  /** As written: `host:port`. */
  addr: string;
  host: string;
  port: number;
  tls: LdapTlsMode;
}

/** One `labels` entry: which attribute of the user's entry fills the label, and how. */
export interface LdapLabelMap {
  attribute: string;
  /** `cn=dev,ou=groups,...` → `dev`. */
  parseCn: boolean;
  lowerCase: boolean;
}

/** regauth addition: groups found by searching for group entries that name the user. */
export interface LdapGroupSearch {
  base: string;
  /** With `${dn}` (the user's DN) and/or `${account}`, both filter-escaped. */
  filter: string;
  /** The group entry's attribute that gives the label value (default `cn`). */
  attribute: string;
  /** The label the values go to (default `groups`), merged with a `labels` entry of the same name. */
  label: string;
  parseCn: boolean;
  lowerCase: boolean;
}

/** ldap_auth, as docker_auth configures it, plus regauth's additions. */
export interface LdapAuthConfig {
  /** `addr` first, then `failover_addrs`, in the order they are preferred. */
  servers: LdapServerAddress[];
  insecureSkipVerify: boolean;
  /** PEM text of `ca_certificate`, read when the config is loaded. */
  ca?: string;
  base: string;
  filter: string;
  /** The search bind's DN; with initialBindAsUser a template with `${account}`. Empty: anonymous search. */
  bindDn: string;
  bindPassword?: Secret;
  /** The resolved path of bind_password_file, to read it again when the server refuses the password (it was rotated). */
  bindPasswordFile?: string;
  initialBindAsUser: boolean;
  /** Label name → how it is read from the user's entry, in config order. */
  labels: [name: string, map: LdapLabelMap][];
  groupSearch?: LdapGroupSearch;
  /** Most connections open at once, all servers together. */
  poolSize: number;
  connectTimeoutMs: number;
  /** Per LDAP operation, and for waiting for a free pooled connection. */
  timeoutMs: number;
  /** Idle pooled connections are closed after this long. */
  idleTimeoutMs: number;
}

// ---------------------------------------------------------------------------
// Schema.

export const ldapLabelShape = {
  attribute: optText,
  parse_cn: optBool,
  lower_case: optBool,
};

export const ldapGroupSearchShape = {
  base: optText,
  filter: optText,
  attribute: optText,
  label: optText,
  parse_cn: optBool,
  lower_case: optBool,
};

export const ldapAuthShape = {
  // docker_auth's keys
  addr: optText,
  tls: optText,
  insecure_tls_skip_verify: optBool,
  ca_certificate: optText,
  base: optText,
  filter: optText,
  bind_dn: optText,
  bind_password_file: optText,
  labels: z.preprocess(nullIsAbsent(), z.record(z.string(), optMapping(ldapLabelShape)).optional()),
  initial_bind_as_user: optBool,
  // regauth additions
  bind_password_env: optText,
  failover_addrs: textList,
  group_search: optMapping(ldapGroupSearchShape),
  pool_size: optInt,
  connect_timeout: optDuration,
  timeout: optDuration,
  idle_timeout: optDuration,
};

type RawLabel = { attribute?: string; parse_cn?: boolean; lower_case?: boolean };
type RawGroupSearch = { base?: string; filter?: string; attribute?: string; label?: string; parse_cn?: boolean; lower_case?: boolean };

export interface RawLdapAuth {
  addr?: string;
  tls?: string;
  insecure_tls_skip_verify?: boolean;
  ca_certificate?: string;
  base?: string;
  filter?: string;
  bind_dn?: string;
  bind_password_file?: string;
  labels?: Record<string, RawLabel | undefined>;
  initial_bind_as_user?: boolean;
  bind_password_env?: string;
  failover_addrs?: string[];
  group_search?: RawGroupSearch;
  pool_size?: number;
  connect_timeout?: string | number;
  timeout?: string | number;
  idle_timeout?: string | number;
}

export const LDAP_DEFAULTS = {
  poolSize: 10,
  connectTimeoutMs: 5_000,
  timeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  groupAttribute: "cn",
  groupLabel: "groups",
} as const;

// ---------------------------------------------------------------------------
// Checks and conversion.

/** `host:port` or `[v6]:port` (docker_auth dials it as written). */
export function parseLdapAddr(addr: string): { host: string; port: number } | string {
  if (/^ldaps?:\/\//i.test(addr)) return `write host:port, not a URL (set tls: always for ldaps://)`;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr.trim());
  if (!m) return `must be host:port (e.g. ldap.example.com:389)`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  const host = (m[1] ?? m[2])!;
  if (m[1] !== undefined && isIP(host) !== 6) return `[${host}] is not an IPv6 address`;
  return { host, port };
}

/** docker_auth's rule: an unset or empty `tls` means none, except on port 636 where it means always. */
function tlsModeFor(tls: string | undefined, port: number): LdapTlsMode | undefined {
  if (tls === undefined || tls === "") return port === 636 ? "always" : "none";
  if (tls === "none" || tls === "always" || tls === "starttls") return tls;
  return undefined;
}

/** Check that a filter template is a filter once its placeholders are filled. */
function filterProblem(template: string, placeholders: readonly string[]): string | undefined {
  let sample = template;
  for (const p of placeholders) sample = sample.replaceAll(`\${${p}}`, "x");
  // ldapts' parser lets a missing ")" at the end pass; count them (a literal paren in a value is written \28 or \29).
  let depth = 0;
  for (const c of sample) {
    if (c === "(") depth++;
    else if (c === ")" && --depth < 0) break;
  }
  if (depth !== 0) return `is not a valid LDAP filter: its parentheses do not balance`;
  try {
    FilterParser.parseString(sample);
    return undefined;
  } catch (e) {
    return `is not a valid LDAP filter: ${(e as Error).message.replace(/\. Full string:.*$/, "")}`;
  }
}



/** docker_auth's wording for a bad ca_certificate. */
const LDAP_CA_WORDING = {
  unreadable: (file: string, why: string) => `Error loading CA File: cannot read ${file}: ${why}`,
  noCertificate: (file: string) => `Error loading CA File: Couldn't parse PEM in: ${file}`,
};

export async function buildLdapAuth(raw: RawLdapAuth, ctx: SectionContext): Promise<LdapAuthConfig> {
  const at = (...k: (string | number)[]) => ["ldap_auth", ...k];
  const servers: LdapServerAddress[] = [];
  const tlsValid = raw.tls === undefined || tlsModeFor(raw.tls, 389) !== undefined;
  if (!tlsValid) {
    const hint = nearest(raw.tls!, ["none", "always", "starttls"]);
    ctx.add(at("tls"), `unknown tls mode "${raw.tls}": use none (or ""), always (LDAPS) or starttls${hint ? `; did you mean "${hint}"?` : ""}`);
  }
  const addServer = (addr: string, path: (string | number)[]) => {
    const p = parseLdapAddr(addr);
    if (typeof p === "string") return ctx.add(path, `"${addr}": ${p}`);
    servers.push({ addr, host: p.host, port: p.port, tls: tlsModeFor(raw.tls, p.port) ?? "none" });
  };
  if (!raw.addr) ctx.add(raw.addr === undefined ? at() : at("addr"), "ldap_auth.addr is required (host:port of the LDAP server)");
  else addServer(raw.addr, at("addr"));
  (raw.failover_addrs ?? []).forEach((a, i) => addServer(a, at("failover_addrs", i)));

  const initialBindAsUser = raw.initial_bind_as_user ?? false;
  const bindDn = raw.bind_dn ?? "";
  if (!raw.base) ctx.add(raw.base === undefined ? at() : at("base"), "ldap_auth.base is required (where to search for users, e.g. ou=people,dc=example,dc=org)");
  if (!raw.filter) ctx.add(raw.filter === undefined ? at() : at("filter"), "ldap_auth.filter is required, e.g. (&(uid=${account})(objectClass=person))");
  else if (!raw.filter.includes("${account}")) ctx.add(at("filter"), "must contain ${account}: without it every login would find the same entry");
  else {
    const p = filterProblem(raw.filter, ["account"]);
    if (p) ctx.add(at("filter"), p);
  }

  let bindPassword: Secret | undefined;
  if (raw.bind_password_file !== undefined && raw.bind_password_env !== undefined) ctx.add(at("bind_password_env"), "set only one of bind_password_file and bind_password_env");
  if (initialBindAsUser) {
    if (!bindDn.includes("${account}")) ctx.add(bindDn ? at("bind_dn") : at("initial_bind_as_user"), "with initial_bind_as_user, bind_dn must contain ${account} (e.g. uid=${account},ou=people,dc=example,dc=org)");
    if (raw.bind_password_file !== undefined || raw.bind_password_env !== undefined)
      ctx.warn(`${where(ctx, at("initial_bind_as_user"))}ldap_auth: the bind password is not used with initial_bind_as_user (the user's own password is), as in docker_auth`);
  } else if (bindDn) {
    if (raw.bind_password_file === undefined && raw.bind_password_env === undefined) ctx.add(at("bind_dn"), "bind_dn needs bind_password_file (or bind_password_env) with its password");
    else {
      const key = raw.bind_password_file !== undefined ? "bind_password_file" : "bind_password_env";
      const pw = await ctx.readSecret(at(key), raw.bind_password_file, raw.bind_password_env);
      if (pw === "") ctx.add(at(key), "the bind password is empty; LDAP treats a bind with an empty password as anonymous, so it is refused");
      else if (pw !== undefined) bindPassword = new Secret(pw);
    }
  } else if (raw.bind_password_file !== undefined || raw.bind_password_env !== undefined) {
    ctx.warn(`${where(ctx, at())}ldap_auth: a bind password is set but bind_dn is empty, so users are searched anonymously`);
  }

  let ca: string | undefined;
  if (raw.ca_certificate) {
    ca = await readCaFile(ctx, ["ldap_auth", "ca_certificate"], raw.ca_certificate, LDAP_CA_WORDING);
    if (servers.length && servers.every((s) => s.tls === "none")) ctx.warn(`${where(ctx, at("ca_certificate"))}ldap_auth.ca_certificate is not used: tls is none`);
  }

  const labels: [string, LdapLabelMap][] = [];
  for (const [name, m] of Object.entries(raw.labels ?? {})) {
    if (!m?.attribute) {
      ctx.add(m ? at("labels", name, "attribute") : at("labels", name), `label ${name} is missing 'attribute' to map from`);
      continue;
    }
    labels.push([name, { attribute: m.attribute, parseCn: m.parse_cn ?? false, lowerCase: m.lower_case ?? false }]);
  }

  let groupSearch: LdapGroupSearch | undefined;
  const g = raw.group_search;
  if (g) {
    if (!g.base) ctx.add(g.base === undefined ? at("group_search") : at("group_search", "base"), "group_search.base is required (where the groups are, e.g. ou=groups,dc=example,dc=org)");
    if (!g.filter) ctx.add(g.filter === undefined ? at("group_search") : at("group_search", "filter"), "group_search.filter is required, e.g. (&(objectClass=groupOfNames)(member=${dn}))");
    else if (!g.filter.includes("${dn}") && !g.filter.includes("${account}")) ctx.add(at("group_search", "filter"), "must contain ${dn} (the user's DN) or ${account}");
    else {
      const p = filterProblem(g.filter, ["dn", "account"]);
      if (p) ctx.add(at("group_search", "filter"), p);
    }
    if (g.label === "") ctx.add(at("group_search", "label"), "must not be empty");
    groupSearch = {
      base: g.base ?? "",
      filter: g.filter ?? "",
      attribute: g.attribute || LDAP_DEFAULTS.groupAttribute,
      label: g.label ?? LDAP_DEFAULTS.groupLabel,
      parseCn: g.parse_cn ?? false,
      lowerCase: g.lower_case ?? false,
    };
  }

  const poolSize = raw.pool_size ?? LDAP_DEFAULTS.poolSize;
  if (poolSize < 1 || poolSize > 1000) ctx.add(at("pool_size"), "must be between 1 and 1000");
  return {
    servers,
    insecureSkipVerify: raw.insecure_tls_skip_verify ?? false,
    ca,
    base: raw.base ?? "",
    filter: raw.filter ?? "",
    bindDn,
    bindPassword,
    bindPasswordFile: bindPassword && raw.bind_password_file !== undefined ? ctx.resolvePath(raw.bind_password_file) : undefined,
    initialBindAsUser,
    labels,
    groupSearch,
    poolSize,
    connectTimeoutMs: durationMs(ctx, ["ldap_auth", "connect_timeout"], raw.connect_timeout, LDAP_DEFAULTS.connectTimeoutMs),
    timeoutMs: durationMs(ctx, ["ldap_auth", "timeout"], raw.timeout, LDAP_DEFAULTS.timeoutMs),
    idleTimeoutMs: durationMs(ctx, ["ldap_auth", "idle_timeout"], raw.idle_timeout, LDAP_DEFAULTS.idleTimeoutMs),
  };
}

function where(ctx: SectionContext, path: (string | number)[]): string {
  const w = ctx.where(path);
  return w.line !== undefined ? `${w.file}:${w.line}: ` : `${w.file}: `;
}
