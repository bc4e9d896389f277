import { authenticatorBackend, type BackendModule } from "../backend.js";
import { createLdapAuthenticator } from "./authenticator.js";
import { buildLdapAuth, ldapAuthShape, ldapGroupSearchShape, ldapLabelShape, type LdapAuthConfig, type RawLdapAuth } from "./section.js";

/** ldap_auth: bind, search, re-bind against a directory; labels from the entry and its groups. */
export const ldapAuthBackend: BackendModule<RawLdapAuth, LdapAuthConfig> = {
  key: "ldap_auth",
  role: "authn",
  shape: ldapAuthShape,
  nestedShapes: { "labels.*": ldapLabelShape, group_search: ldapGroupSearchShape },
  build: buildLdapAuth,
  async create(config, services) {
    const ldap = await createLdapAuthenticator(config, services);
    return authenticatorBackend(ldap, { health: () => ldap.health() });
  },
};
