import { casbinAuthzBackend } from "./casbin/index.js";
import type { BackendModule } from "./backend.js";
import { extAuthBackend, extAuthzBackend } from "./ext/index.js";
import { ldapAuthBackend } from "./ldap/index.js";
import { aclMongoBackend, mongoAuthBackend } from "./mongo/index.js";
import { aclXormBackend, xormAuthBackend } from "./xorm/index.js";
import { pluginAuthnBackend, pluginAuthzBackend } from "./plugin/index.js";
import { githubAuthBackend } from "./websignin/github.js";
import { gitlabAuthBackend } from "./websignin/gitlab.js";
import { googleAuthBackend } from "./websignin/google.js";
import { oidcAuthBackend } from "./websignin/oidc.js";

/**
 * Every backend section, in docker_auth's order within each role: authentication after
 * the static users (ext_auth, the web sign-ins, LDAP, the databases, plugins), and
 * authorization after the static ACL (the databases, ext_authz, plugins, casbin). The
 * chains are built in this order; a new backend is its folder plus one line here.
 */
export const BACKENDS: readonly BackendModule[] = [
  extAuthBackend,
  googleAuthBackend,
  githubAuthBackend,
  oidcAuthBackend,
  gitlabAuthBackend,
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

/** Whether an authentication backend configured after `key` exists (then an unknown user is passed on to it). */
export function hasLaterAuthenticator(key: string, configured: (key: string) => boolean): boolean {
  const authn = BACKENDS.filter((b) => b.role === "authn");
  return authn.slice(authn.findIndex((b) => b.key === key) + 1).some((b) => configured(b.key));
}
