import type { SectionDef } from "../section.js";

/** ext_auth: an external program decides logins (filled in by the external-programs issue). */
export interface ExtAuthConfig {}
/** ext_authz: an external program decides access (filled in by the external-programs issue). */
export interface ExtAuthzConfig {}

export const extAuthSection: SectionDef<Record<string, unknown>, ExtAuthConfig> = {
  key: "ext_auth",
  implemented: false,
  provides: "authn",
  shape: {},
  build: () => ({}),
};

export const extAuthzSection: SectionDef<Record<string, unknown>, ExtAuthzConfig> = {
  key: "ext_authz",
  implemented: false,
  provides: "authz",
  shape: {},
  build: () => ({}),
};
