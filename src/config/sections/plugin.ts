import type { SectionDef } from "../section.js";

/** plugin_authn / plugin_authz: a JS module exporting an authenticator or authorizer (filled in by the plugins issue). */
export interface PluginConfig {}

export const pluginAuthnSection: SectionDef<Record<string, unknown>, PluginConfig> = {
  key: "plugin_authn",
  implemented: false,
  provides: "authn",
  shape: {},
  build: () => ({}),
};

export const pluginAuthzSection: SectionDef<Record<string, unknown>, PluginConfig> = {
  key: "plugin_authz",
  implemented: false,
  provides: "authz",
  shape: {},
  build: () => ({}),
};
