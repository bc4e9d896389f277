import type { ConfigLocation } from "../errors.js";
import type { AuditConfig } from "../audit/section.js";
import type { LoginLimitsConfig } from "../limits/section.js";
import type { MetricsConfig } from "../metrics/section.js";
import type { RefreshTokenConfig, TokenStoreConfig } from "../stores/section.js";

/** Label name → values, as authenticators produce them and the ACL matches them. */
export type Labels = Readonly<Record<string, readonly string[]>>;

export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

export interface TlsSettings {
  /** Lowest protocol version accepted; TLS 1.2 unless the config says otherwise. */
  minVersion: TlsVersion;
  /** OpenSSL cipher list (TLS 1.2 and below) mapped from Go's names, if configured. */
  ciphers?: string;
  /** OpenSSL curve list mapped from Go's names, if configured. */
  ecdhCurve?: string;
}

export interface ServerConfig {
  /** `host:port`, `:port`, or a socket path when `net` is `unix`. */
  addr: string;
  net: "tcp" | "unix";
  pathPrefix: string;
  certificate?: string;
  key?: string;
  hsts: boolean;
  tls: TlsSettings;
  realIpHeader?: string;
  realIpPos: number;
  /** Worker processes; undefined means one per CPU this process may use. */
  workers?: number;
  /** How long a shutdown or a reload waits for requests in flight before cutting them off. */
  drainTimeoutMs: number;
  /** The bound on bcrypt work per process: checks running at once (undefined: from the CPUs), and waiting. */
  passwordChecks: { running?: number; waiting: number };
}

export interface TokenConfig {
  issuer: string;
  /** Token lifetime in seconds. */
  expiration: number;
  certificate?: string;
  key?: string;
  disableLegacyKeyId: boolean;
}

export interface StaticUser {
  name: string;
  /** A bcrypt hash; absent means any password is accepted (docker_auth semantics). */
  passwordHash?: string;
  labels: Labels;
}

/** One ACL entry's match conditions, as written; compiled by authz/acl.ts. */
export interface MatchSpec {
  account?: string;
  type?: string;
  name?: string;
  ip?: string;
  service?: string;
  labels?: Readonly<Record<string, string>>;
}

export interface AclEntrySpec {
  index: number;
  match: MatchSpec;
  actions: readonly string[];
  comment?: string;
  /** Where the entry is written, for `explain` and for errors. */
  where: ConfigLocation;
}

export interface CredentialCacheConfig {
  /** Seconds a verified user+password pair is trusted without bcrypt; 0 turns the cache off. */
  ttlSeconds: number;
  maxEntries: number;
}

/** The whole validated config. Nothing outside src/config sees raw YAML. */
export interface Config {
  file: string;
  server: ServerConfig;
  token: TokenConfig;
  /** Undefined when the `users` section is absent (not the same as an empty map). */
  users?: ReadonlyMap<string, StaticUser>;
  /** Undefined when the `acl` section is absent (not the same as an empty list). */
  acl?: readonly AclEntrySpec[];
  /** Backend sections (ldap_auth, ext_auth, ...) by YAML key, each as its section module's typed object. */
  sections: ReadonlyMap<string, unknown>;
  credentialCache: CredentialCacheConfig;
  /** `token_store`: where refresh tokens live (SQLite in the data directory unless set). */
  tokenStore: TokenStoreConfig;
  refreshTokens: RefreshTokenConfig;
  /** `metrics`: Prometheus metrics, on the main listener or their own. */
  metrics: MetricsConfig;
  /** `audit`: one JSON record per token decision. */
  audit: AuditConfig;
  /** `login_limits`: failed logins limited per account and per client address. */
  loginLimits: LoginLimitsConfig;
  /** `acl_options.label_values: literal`: label values match only themselves in ACL patterns. */
  literalLabelValues: boolean;
  /** Every file the config refers to (keys, certificates, secrets, programs), resolved: a reload trigger compares them. */
  files: readonly string[];
  /** Things worth a warning that docker_auth accepts silently. */
  warnings: readonly string[];
  /** Where a key is written, for errors found after parsing (a bad pattern, an unreadable key file). */
  where(path: readonly (string | number)[]): ConfigLocation;
}
