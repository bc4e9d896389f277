import { authenticatorBackend, authorizerBackend, type BackendModule } from "../backend.js";
import { createPluginAuthenticator, createPluginAuthorizer } from "./load.js";
import { buildPlugin, pluginShape, type PluginConfig, type RawPlugin } from "./section.js";

/** plugin_authn: a JavaScript module that authenticates (docker_auth's Go plugins, in JS). */
export const pluginAuthnBackend: BackendModule<RawPlugin, PluginConfig> = {
  key: "plugin_authn",
  role: "authn",
  shape: pluginShape,
  build: (raw, ctx) => buildPlugin("plugin_authn", raw, ctx),
  create: async (config, services) => authenticatorBackend(await createPluginAuthenticator(config, services)),
};

/** plugin_authz: a JavaScript module that authorizes. */
export const pluginAuthzBackend: BackendModule<RawPlugin, PluginConfig> = {
  key: "plugin_authz",
  role: "authz",
  shape: pluginShape,
  build: (raw, ctx) => buildPlugin("plugin_authz", raw, ctx),
  create: async (config, services) => authorizerBackend(await createPluginAuthorizer(config, services)),
};
