import type { Authenticator } from "./authn/authenticator.js";
import { createExtAuthenticator } from "./authn/ext-auth.js";
import { createLdapAuthenticator } from "./authn/ldap.js";
import type { Authorizer } from "./authz/authorizer.js";
import { createExtAuthorizer } from "./authz/ext-authz.js";
import type { Config } from "./config/types.js";
import type { Logger } from "./log.js";
import { createPluginAuthenticator, createPluginAuthorizer } from "./plugins/load.js";

/** What a backend factory gets besides its own section's config. */
export interface BackendDeps {
  config: Config;
  log: Logger;
}

type Factory<B> = (sectionConfig: any, deps: BackendDeps) => Promise<B>;

/**
 * Authentication backends by config section, in docker_auth's order: after the
 * static users come ext_auth, the web sign-ins, LDAP, the databases, plugins.
 * Adding a backend is one line here plus its module.
 */
export const AUTHENTICATORS: readonly [key: string, create: Factory<Authenticator>][] = [
  ["ext_auth", createExtAuthenticator],
  ["ldap_auth", createLdapAuthenticator],
  ["plugin_authn", createPluginAuthenticator],
];

/** Authorization backends by config section, in docker_auth's order, after the static ACL. */
export const AUTHORIZERS: readonly [key: string, create: Factory<Authorizer>][] = [
  ["ext_authz", createExtAuthorizer],
  ["plugin_authz", createPluginAuthorizer],
];
