import type { Authenticator } from "./authn/authenticator.js";
import type { Authorizer } from "./authz/authorizer.js";
import type { Config } from "./config/types.js";
import { InternalError } from "./errors.js";
import type { Logger } from "./log.js";

/** What a backend factory gets besides its own section's config. */
export interface BackendDeps {
  config: Config;
  log: Logger;
}

type Factory<B> = (sectionConfig: any, deps: BackendDeps) => Promise<B>;

const notYet = (key: string) => async (): Promise<never> => {
  throw new InternalError(`${key} has no backend yet`);
};

/**
 * Authentication backends by config section, in docker_auth's order: after the
 * static users come ext_auth, the web sign-ins, LDAP, the databases, plugins.
 * Adding a backend is one line here plus its module.
 */
export const AUTHENTICATORS: readonly [key: string, create: Factory<Authenticator>][] = [
  ["ext_auth", notYet("ext_auth")],
  ["ldap_auth", notYet("ldap_auth")],
  ["plugin_authn", notYet("plugin_authn")],
];

/** Authorization backends by config section, in docker_auth's order, after the static ACL. */
export const AUTHORIZERS: readonly [key: string, create: Factory<Authorizer>][] = [
  ["ext_authz", notYet("ext_authz")],
  ["plugin_authz", notYet("plugin_authz")],
];
