import { z } from "zod";
import { BACKENDS } from "../backends/registry.js";
import { auditShape } from "../audit/section.js";
import { loginLimitsShape } from "../limits/section.js";
import { metricsShape } from "../metrics/section.js";
import { refreshTokensShape, tokenStoreShape } from "../stores/section.js";
import { STORES } from "../stores/registry.js";
import { nullIsAbsent, optBool, optInt, optMapping, optText, optTextList, text } from "./fields.js";

// docker_auth wants a list of label values; a single scalar is read as a list of one.
const labelValues = z.preprocess((v) => (v === null ? [] : Array.isArray(v) ? v : [v]), z.array(text));
const labelsMap = z.preprocess(nullIsAbsent(), z.record(z.string(), labelValues).optional());

export const letsEncryptShape = { host: optText, email: optText, cache_dir: optText };

export const serverShape = {
  addr: optText,
  net: optText,
  path_prefix: optText,
  real_ip_header: optText,
  real_ip_pos: optInt,
  certificate: optText,
  key: optText,
  hsts: optBool,
  tls_min_version: optText,
  tls_curve_preferences: optTextList,
  tls_cipher_suites: optTextList,
  letsencrypt: optMapping(letsEncryptShape),
  /** regauth addition: worker processes (default: the CPUs this process may use; 1 = one process). */
  workers: optInt,
  /** regauth addition: seconds a shutdown or a reload waits for requests in flight (default 10). */
  drain_timeout_seconds: optInt,
  /** regauth addition: bcrypt checks running at once per process (default: its share of the CPUs minus one, at least 1); more wait. */
  max_password_checks: optInt,
  /** regauth addition: bcrypt checks waiting per process (default 64); beyond, a fast 503 with Retry-After. */
  max_waiting_password_checks: optInt,
};

export const tokenShape = {
  issuer: optText,
  certificate: optText,
  key: optText,
  expiration: optInt,
  disable_legacy_key_id: optBool,
};

export const userShape = {
  password: optText,
  /** regauth addition: read the bcrypt hash from a file. */
  password_file: optText,
  /** regauth addition: read the bcrypt hash from an environment variable. */
  password_env: optText,
  labels: labelsMap,
};

export const matchShape = {
  account: optText,
  type: optText,
  name: optText,
  ip: optText,
  service: optText,
  labels: z.preprocess(nullIsAbsent(), z.record(z.string(), text).optional()),
};

export const aclEntryShape = {
  match: z.strictObject(matchShape),
  actions: z.array(text),
  comment: optText,
};

/** regauth addition: the verified-credential cache. */
export const credentialCacheShape = {
  ttl_seconds: optInt,
  max_entries: optInt,
};

/** regauth addition: how the static ACL reads `${labels:NAME}` values. */
export const aclOptionsShape = {
  /** `pattern` (default, docker_auth): a label value is spliced in as pattern syntax; `literal`: it matches only itself. */
  label_values: optText,
};

export const topShape = {
  server: optMapping(serverShape),
  token: optMapping(tokenShape),
  users: z.preprocess(nullIsAbsent(), z.record(z.string(), z.union([z.null(), z.strictObject(userShape)])).optional()),
  acl: z.preprocess(nullIsAbsent(), z.array(z.strictObject(aclEntryShape)).optional()),
  credential_cache: optMapping(credentialCacheShape),
  acl_options: optMapping(aclOptionsShape),
  token_store: optMapping(tokenStoreShape),
  refresh_tokens: optMapping(refreshTokensShape),
  metrics: optMapping(metricsShape),
  audit: optMapping(auditShape),
  login_limits: optMapping(loginLimitsShape),
  ...Object.fromEntries(
    BACKENDS.map((b) => [b.key, optMapping(b.shape)]),
  ),
};

export const configSchema = z.strictObject(topShape);
export type RawConfig = z.infer<typeof configSchema> & {
  users?: Record<string, null | z.infer<z.ZodObject<typeof userShape>>>;
  acl?: z.infer<z.ZodObject<typeof aclEntryShape>>[];
};

/**
 * The known keys of the mapping at a path, to suggest the nearest one for a typo.
 * Paths are normalised: list indexes and user names do not matter.
 */
export function knownKeysAt(path: readonly (string | number)[]): readonly string[] {
  const norm = path.map((p, i) => (typeof p === "number" ? "[]" : i === 1 && path[0] === "users" ? "*" : p)).join("/");
  // Nested shapes may use "*" for any key (e.g. "labels.*"): try the exact path, then with the last key generalised.
  const starred = path.length > 1 ? [...norm.split("/").slice(0, -1), "*"].join("/") : norm;
  const table: Record<string, object> = {
    "": topShape,
    server: serverShape,
    "server/letsencrypt": letsEncryptShape,
    token: tokenShape,
    "users/*": userShape,
    "acl/[]": aclEntryShape,
    "acl/[]/match": matchShape,
    credential_cache: credentialCacheShape,
    acl_options: aclOptionsShape,
    token_store: tokenStoreShape,
    refresh_tokens: refreshTokensShape,
    metrics: metricsShape,
    audit: auditShape,
    login_limits: loginLimitsShape,
    ...Object.fromEntries(STORES.map((st) => [`token_store/${st.key}`, st.shape])),
    ...Object.fromEntries(
      BACKENDS.flatMap((b) => [[b.key, b.shape], ...Object.entries(b.nestedShapes ?? {}).map(([sub, shape]) => [`${b.key}/${sub.split(".").join("/")}`, shape])]),
    ),
  };
  return Object.keys(table[norm] ?? table[starred] ?? {});
}
