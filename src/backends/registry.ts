import { casbinAuthzBackend } from "./casbin/index.js";
import type { BackendModule, BackendRole, PlannedSection } from "./backend.js";
import { extAuthBackend, extAuthzBackend } from "./ext/index.js";
import { ldapAuthBackend } from "./ldap/index.js";
import { aclMongoBackend, mongoAuthBackend } from "./mongo/index.js";
import { aclXormBackend, xormAuthBackend } from "./xorm/index.js";
import { pluginAuthnBackend, pluginAuthzBackend } from "./plugin/index.js";

const planned = (key: string, role: BackendRole): PlannedSection => ({ key, role, planned: true });

/**
 * Every backend section, in docker_auth's order within each role: authentication after
 * the static users (ext_auth, the web sign-ins, LDAP, the databases, plugins), and
 * authorization after the static ACL (the databases, ext_authz, plugins, casbin). The
 * chains are built in this order; a new backend is its folder plus one line here.
 */
export const BACKENDS: readonly (BackendModule | PlannedSection)[] = [
  extAuthBackend,
  planned("google_auth", "authn"),
  planned("github_auth", "authn"),
  planned("oidc_auth", "authn"),
  planned("gitlab_auth", "authn"),
  ldapAuthBackend,
  mongoAuthBackend,
  xormAuthBackend,
  pluginAuthnBackend,
  aclMongoBackend,
  aclXormBackend,
  extAuthzBackend,
  pluginAuthzBackend,
  casbinAuthzBackend,
];

export const isImplemented = (b: BackendModule | PlannedSection): b is BackendModule => !("planned" in b);

/** The backends that have landed, in chain order. */
export const IMPLEMENTED: readonly BackendModule[] = BACKENDS.filter(isImplemented);

/** docker_auth sections with no module yet. */
export const PLANNED: readonly string[] = BACKENDS.filter((b) => !isImplemented(b)).map((b) => b.key);

/** Whether an authentication backend configured after `key` exists (then an unknown user is passed on to it). */
export function hasLaterAuthenticator(key: string, configured: (key: string) => boolean): boolean {
  const authn = IMPLEMENTED.filter((b) => b.role === "authn");
  return authn.slice(authn.findIndex((b) => b.key === key) + 1).some((b) => configured(b.key));
}
