import type { SectionDef } from "../section.js";

/** ldap_auth, as docker_auth configures it (filled in by the LDAP backend's issue). */
export interface LdapAuthConfig {}

export const ldapAuthSection: SectionDef<Record<string, unknown>, LdapAuthConfig> = {
  key: "ldap_auth",
  implemented: false,
  provides: "authn",
  shape: {},
  build: () => ({}),
};
