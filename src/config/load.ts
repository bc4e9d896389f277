import { readFile } from "node:fs/promises";
import type { z } from "zod";
import { ConfigError, type ConfigIssue, type ConfigLocation } from "../errors.js";
import { validIpPattern } from "../authz/ip.js";
import { usesLabelPlaceholders } from "../authz/pattern-template.js";
import { configSchema, knownKeysAt, type RawConfig } from "./schema.js";
import type { SectionContext } from "./section.js";
import { BACKENDS } from "../backends/registry.js";
import { buildRefreshTokens, buildTokenStore } from "../stores/section.js";
import { legacyTokenStore } from "../backends/websignin/common-section.js";
import { nearest } from "./suggest.js";
import { CIPHER_SUITE_IDS, CIPHER_SUITES, CURVES, goUint16, REFUSED_CIPHER_SUITES, TLS_VERSIONS } from "./tls-names.js";
import type { AclEntrySpec, Config, Labels, ServerConfig, StaticUser, TlsSettings, TokenConfig } from "./types.js";
import { locate, pathKey, readYaml, type ConfigPath, type YamlSource } from "./yaml-source.js";
import { buildAudit } from "../audit/section.js";
import { buildLoginLimits } from "../limits/section.js";
import { buildMetrics } from "../metrics/section.js";

const BCRYPT_HASH = /^\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

function typeName(expected: string): string {
  return ({ object: "a mapping", array: "a list", string: "a string", number: "a number", boolean: "true or false", int: "a whole number" } as Record<string, string>)[expected] ?? expected;
}

class IssueList {
  readonly issues: ConfigIssue[] = [];
  /** Every file the config names, for reload triggers. */
  readonly files = new Set<string>();
  constructor(readonly src: YamlSource) {}
  where(path: ConfigPath): ConfigLocation {
    const pos = locate(this.src, path);
    return { file: this.src.file, line: pos?.line, column: pos?.column, key: path.length ? pathKey(path) : undefined };
  }
  add(path: ConfigPath, message: string): void {
    this.issues.push({ ...this.where(path), message });
  }
}

function zodIssues(list: IssueList, issues: readonly z.core.$ZodIssue[], prefix: ConfigPath = []): void {
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const k of issue.keys) {
          const hint = nearest(k, knownKeysAt(path));
          list.add([...path, k], `unknown key "${k}"${hint ? `; did you mean "${hint}"?` : ""}`);
        }
        break;
      case "invalid_type":
        list.add(path, issue.input === undefined ? `is required (${typeName(issue.expected)})` : `must be ${typeName(issue.expected)}`);
        break;
      case "invalid_union": {
        // A user is null or a mapping. When it is a mapping, say what is wrong inside it.
        const inner = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
        if (inner) zodIssues(list, inner, path);
        else list.add(path, "must be a mapping (write {} for a user with no password and no labels)");
        break;
      }
      default:
        list.add(path, issue.message);
    }
  }
}

async function readSecret(list: IssueList, path: ConfigPath, file: string | undefined, env: string | undefined, baseDir: string): Promise<string | undefined> {
  if (file !== undefined) {
    try {
      return (await readFile(resolvePath(baseDir, file, list.files), "utf8")).trim();
    } catch (e) {
      list.add(path, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return undefined;
    }
  }
  if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined) list.add(path, `environment variable ${env} is not set`);
    return v?.trim();
  }
  return undefined;
}

function resolvePath(baseDir: string, p: string, files?: Set<string>): string {
  const abs = p.startsWith("/") ? p : `${baseDir}/${p}`;
  files?.add(abs);
  return abs;
}

function buildTls(list: IssueList, s: NonNullable<RawConfig["server"]>): TlsSettings {
  const tls: TlsSettings = { minVersion: "TLSv1.2" };
  // A name docker_auth does not know is read as a number (`0x0303`, `24`, `0xc014`), as it does.
  const numeric = (name: string) => {
    const n = goUint16(name);
    return n === undefined ? name : String(n);
  };
  if (s.tls_min_version !== undefined) {
    const version = TLS_VERSIONS[s.tls_min_version] ? s.tls_min_version : numeric(s.tls_min_version);
    const v = TLS_VERSIONS[version];
    if (v) tls.minVersion = v;
    else if (version === "SSL30" || version === "768")
      list.add(["server", "tls_min_version"], "SSL 3.0 is broken and Node cannot offer it; use TLS12 (the default) or TLS13");
    else list.add(["server", "tls_min_version"], `unknown TLS version "${s.tls_min_version}"; use one of TLS10, TLS11, TLS12, TLS13`);
  }
  if (s.tls_cipher_suites !== undefined) {
    if (tls.minVersion === "TLSv1.3") list.add(["server", "tls_cipher_suites"], "TLS 1.3 ciphersuites are not configurable");
    const names: string[] = [];
    s.tls_cipher_suites.forEach((written, i) => {
      const id = CIPHER_SUITES[written] || REFUSED_CIPHER_SUITES[written] ? undefined : goUint16(written);
      const name = id === undefined ? written : (CIPHER_SUITE_IDS[id] ?? written);
      const known = CIPHER_SUITES[name];
      if (known) names.push(known);
      else if (REFUSED_CIPHER_SUITES[name]) list.add(["server", "tls_cipher_suites", i], `${name}: ${REFUSED_CIPHER_SUITES[name]}`);
      else {
        const hint = nearest(name, Object.keys(CIPHER_SUITES));
        list.add(["server", "tls_cipher_suites", i], `unknown cipher suite "${name}"${hint ? `; did you mean "${hint}"?` : ""}`);
      }
    });
    if (names.length) tls.ciphers = [...new Set(names)].join(":");
  }
  if (s.tls_curve_preferences !== undefined) {
    const curves: string[] = [];
    s.tls_curve_preferences.forEach((name, i) => {
      const c = CURVES[name] ?? CURVES[numeric(name)];
      if (c) curves.push(c);
      else list.add(["server", "tls_curve_preferences", i], `unknown curve "${name}"; use P256, P384, P521 or X25519`);
    });
    if (curves.length) tls.ecdhCurve = curves.join(":");
  }
  return tls;
}

function buildServer(list: IssueList, raw: RawConfig): ServerConfig {
  const s = raw.server ?? {};
  if (!s.addr) list.add(raw.server ? ["server", "addr"] : [], "server.addr is required");
  const net = s.net ?? "tcp";
  if (net !== "tcp" && net !== "unix") list.add(["server", "net"], "server.net must be unix or tcp");
  if (s.path_prefix && !s.path_prefix.startsWith("/")) list.add(["server", "path_prefix"], "server.path_prefix must be an absolute path");
  if ((s.certificate === undefined) !== (s.key === undefined))
    list.add(["server", s.certificate === undefined ? "key" : "certificate"], "failed to load server cert and key: both were not provided");
  if (s.letsencrypt?.email) list.add(["server", "letsencrypt"], "letsencrypt is not supported: regauth does not fetch certificates itself; terminate TLS with your certificate files or at a load balancer");
  if (s.real_ip_pos !== undefined && s.real_ip_header === undefined) list.add(["server", "real_ip_pos"], "real_ip_pos has no effect without real_ip_header");
  if (s.workers !== undefined && (s.workers < 1 || s.workers > 256)) list.add(["server", "workers"], "must be between 1 and 256 (leave it out for one worker per CPU)");
  if (s.drain_timeout_seconds !== undefined && (s.drain_timeout_seconds < 0 || s.drain_timeout_seconds > 3600)) list.add(["server", "drain_timeout_seconds"], "must be between 0 and 3600");
  if (s.max_password_checks !== undefined && (s.max_password_checks < 1 || s.max_password_checks > 1024)) list.add(["server", "max_password_checks"], "must be between 1 and 1024");
  if (s.max_waiting_password_checks !== undefined && (s.max_waiting_password_checks < 0 || s.max_waiting_password_checks > 100_000)) list.add(["server", "max_waiting_password_checks"], "must be between 0 and 100000");
  return {
    addr: s.addr ?? "",
    net: net === "unix" ? "unix" : "tcp",
    pathPrefix: (s.path_prefix ?? "").replace(/\/+$/, ""),
    certificate: s.certificate,
    key: s.key,
    hsts: s.hsts ?? false,
    tls: buildTls(list, s),
    realIpHeader: s.real_ip_header,
    realIpPos: s.real_ip_pos ?? 0,
    workers: s.workers,
    drainTimeoutMs: (s.drain_timeout_seconds ?? 10) * 1000,
    passwordChecks: { running: s.max_password_checks, waiting: s.max_waiting_password_checks ?? 64 },
  };
}

function buildToken(list: IssueList, raw: RawConfig, baseDir: string): TokenConfig {
  const t = raw.token ?? {};
  if (!t.issuer) list.add(raw.token ? ["token", "issuer"] : [], "token.issuer is required");
  if (t.expiration === undefined || t.expiration <= 0) list.add(raw.token?.expiration !== undefined ? ["token", "expiration"] : raw.token ? ["token"] : [], `expiration must be positive, got ${t.expiration ?? 0}`);
  if ((t.certificate === undefined) !== (t.key === undefined))
    list.add(["token", t.certificate === undefined ? "key" : "certificate"], "failed to load token cert and key: both were not provided");
  const server = raw.server ?? {};
  if (t.certificate === undefined && server.certificate === undefined)
    list.add(raw.token ? ["token"] : [], "failed to load token cert and key: none provided (set token.certificate and token.key, or server.certificate and server.key)");
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolvePath(baseDir, p, list.files));
  return {
    issuer: t.issuer ?? "",
    expiration: t.expiration ?? 0,
    certificate: abs(t.certificate),
    key: abs(t.key),
    disableLegacyKeyId: t.disable_legacy_key_id ?? false,
  };
}

async function buildUsers(list: IssueList, raw: RawConfig, baseDir: string, warnings: string[]): Promise<Map<string, StaticUser> | undefined> {
  if (raw.users === undefined) return undefined;
  const users = new Map<string, StaticUser>();
  for (const [name, u] of Object.entries(raw.users)) {
    const path = ["users", name];
    if (u === null) {
      // docker_auth skips a user whose entry is empty: nobody can log in as it.
      warnings.push(`${list.where(path).file}:${list.where(path).line}: user "${name}" has no settings and is ignored, as docker_auth does; write "${name}": {} to allow it with any password`);
      continue;
    }
    const given = [u.password !== undefined, u.password_file !== undefined, u.password_env !== undefined].filter(Boolean).length;
    if (given > 1) list.add(path, "set only one of password, password_file and password_env");
    let hash = u.password;
    if (hash === undefined) hash = await readSecret(list, [...path, u.password_file !== undefined ? "password_file" : "password_env"], u.password_file, u.password_env, baseDir);
    if (hash !== undefined && !BCRYPT_HASH.test(hash)) {
      list.add([...path, u.password !== undefined ? "password" : u.password_file !== undefined ? "password_file" : "password_env"], "must be a bcrypt hash ($2y$, $2b$ or $2a$, as `htpasswd -nB` or `regauth hash` prints it); plaintext passwords are not accepted");
      continue;
    }
    const labels: Labels = Object.fromEntries(Object.entries(u.labels ?? {}));
    users.set(name, { name, passwordHash: hash, labels });
  }
  return users;
}

function buildAcl(list: IssueList, raw: RawConfig): AclEntrySpec[] | undefined {
  if (raw.acl === undefined) return undefined;
  return raw.acl.map((e, index) => {
    const m = e.match;
    if (m.ip !== undefined && !validIpPattern(m.ip)) list.add(["acl", index, "match", "ip"], `invalid IP pattern "${m.ip}": use an address (10.0.0.1, ::1) or a CIDR (10.0.0.0/8)`);
    return {
      index,
      match: { account: m.account, type: m.type, name: m.name, ip: m.ip, service: m.service, labels: m.labels },
      actions: e.actions,
      comment: e.comment,
      where: list.where(["acl", index]),
    };
  });
}


/**
 * Read and validate a config from YAML text. Every problem found is reported at
 * once, each with file, line and key; nothing is started.
 */
export async function parseConfig(file: string, text: string, baseDir = process.cwd()): Promise<Config> {
  const { source, issues: syntax } = readYaml(file, text);
  if (syntax.length) throw new ConfigError(syntax);
  const list = new IssueList(source);
  const top = source.value ?? {};
  if (typeof top !== "object" || Array.isArray(top)) {
    list.add([], "the config must be a YAML mapping (server:, token:, users:, acl: ...)");
    throw new ConfigError(list.issues);
  }
  // reportInput: to tell a missing key ("is required") from one of the wrong type ("must be ...").
  const parsed = configSchema.safeParse(top, { reportInput: true });
  if (!parsed.success) {
    zodIssues(list, parsed.error.issues);
    throw new ConfigError(list.issues);
  }
  const raw = parsed.data as RawConfig;
  const warnings: string[] = [];
  const server = buildServer(list, raw);
  const token = buildToken(list, raw, baseDir);
  if (server.certificate) server.certificate = resolvePath(baseDir, server.certificate, list.files);
  if (server.key) server.key = resolvePath(baseDir, server.key, list.files);
  const users = await buildUsers(list, raw, baseDir, warnings);
  const sections = new Map<string, unknown>();
  const ctx: SectionContext = {
    add: (path, message) => list.add(path, message),
    where: (path) => list.where(path),
    resolvePath: (p) => resolvePath(baseDir, p, list.files),
    dataPath: (p) => resolvePath(baseDir, p),
    readSecret: (path, f, env) => readSecret(list, path, f, env, baseDir),
    warn: (m) => warnings.push(m),
  };
  for (const b of BACKENDS) {
    const rawSection = (raw as Record<string, unknown>)[b.key];
    if (rawSection !== undefined) sections.set(b.key, await b.build(rawSection, ctx));
  }
  const legacyStore = legacyTokenStore(sections, raw.token_store !== undefined, ctx);
  const tokenStore = await buildTokenStore((raw.token_store as Record<string, unknown> | undefined) ?? legacyStore, ctx);
  const refreshTokens = buildRefreshTokens(raw.refresh_tokens, ctx);
  const metrics = buildMetrics(raw.metrics, ctx);
  const audit = buildAudit(raw.audit, ctx);
  const loginLimits = buildLoginLimits(raw.login_limits, ctx);
  const has = (role: "authn" | "authz") => BACKENDS.some((b) => b.role === role && sections.has(b.key));
  if (raw.users === undefined && !has("authn"))
    list.add([], "no auth methods are configured, this is probably a mistake. Use an empty user map if you really want to deny everyone");
  const acl = buildAcl(list, raw);
  if (raw.acl === undefined && !has("authz"))
    list.add([], "ACL is empty, this is probably a mistake. Use an empty list if you really want to deny all actions");
  const cc = raw.credential_cache ?? {};
  if (cc.ttl_seconds !== undefined && cc.ttl_seconds < 0) list.add(["credential_cache", "ttl_seconds"], "must be 0 (off) or more");
  if (cc.max_entries !== undefined && cc.max_entries < 1) list.add(["credential_cache", "max_entries"], "must be at least 1");
  const labelMode = raw.acl_options?.label_values ?? "pattern";
  if (labelMode !== "pattern" && labelMode !== "literal") list.add(["acl_options", "label_values"], `must be pattern (docker_auth's behaviour) or literal, not ${JSON.stringify(labelMode)}`);
  if (labelMode === "pattern" && acl?.some((e) => Object.values({ ...e.match, ...e.match.labels }).some((p) => typeof p === "string" && usesLabelPlaceholders(p))))
    warnings.push(
      "the ACL splices ${labels:...} values into patterns as pattern syntax (docker_auth's behaviour): a label value such as * or .* then matches more than itself. Set acl_options: {label_values: literal} if label values come from users or a directory you do not fully control",
    );
  if (list.issues.length) throw new ConfigError(list.issues);
  return {
    file,
    server,
    token,
    users,
    acl,
    sections,
    files: [...list.files],
    literalLabelValues: labelMode === "literal",
    tokenStore,
    refreshTokens,
    metrics,
    audit,
    loginLimits,
    credentialCache: { ttlSeconds: cc.ttl_seconds ?? 60, maxEntries: cc.max_entries ?? 10_000 },
    warnings,
    where: (path) => list.where(path),
  };
}

/** A config file's text; an unreadable file is a ConfigError naming it. */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError([{ file, message: `could not read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}

/** Read a config file from disk and validate it. */
export async function loadConfigFile(file: string): Promise<Config> {
  // Relative paths inside the file are relative to the working directory, as in docker_auth.
  return parseConfig(file, await readConfigText(file));
}
