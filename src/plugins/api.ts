/**
 * What a plugin_authn / plugin_authz module sees: the interfaces the built-in
 * backends implement, and the context its factory gets. Plugin authors import
 * the types from here (`regauth/dist/src/plugins/api.js` from outside this
 * repository); see examples/plugins/ for typed examples.
 *
 * A plugin module exports, as `default` (or under docker_auth's symbol name,
 * `Authn` / `Authz`), either
 * - an object implementing Authenticator / Authorizer, or
 * - a function (not a class) `(ctx: PluginContext) => Authenticator | Promise<Authenticator>`
 *   (resp. Authorizer), called once per loaded config (at start and on each reload).
 *
 * The module itself is imported once per process (ES modules cannot be unloaded):
 * a changed plugin file takes effect at the next restart; a changed config
 * (`options`) at the next reload.
 *
 * Contract, as for the built-in backends:
 * - `authenticate(user, password)` resolves to `{kind: "match", labels}` (the
 *   password is right; labels flow into the ACL), `{kind: "denied"}` (the user is
 *   this plugin's and the password is wrong: stop), or `{kind: "no-match"}` (not
 *   this plugin's user: try the next method). `password` is a Secret: call
 *   `reveal()` where the plaintext is needed and never log it.
 * - `authorize(req)` resolves to `{kind: "match", actions}` (actions granted, a
 *   subset of `req.actions`; `[]` denies; `"*"` grants all requested) or
 *   `{kind: "no-match"}` (let the next authorizer decide).
 * - Throwing (or rejecting) means "cannot answer now": the request fails with a
 *   503 and the error goes to regauth's log, not to the client.
 * - A call that takes longer than the section's `timeout_seconds` fails with a 503.
 * - Calls arrive concurrently. `stop()` is called once, after the calls in flight
 *   have finished, when the config is reloaded or regauth shuts down.
 */
export type { Authenticator, AuthnResult } from "../authn/authenticator.js";
export type { Authorizer, AuthzRequest, AuthzResult, AuthzRule } from "../authz/authorizer.js";
export type { Labels } from "../config/types.js";
export type { Logger } from "../log.js";
export { Secret } from "../secret.js";

import type { Authenticator } from "../authn/authenticator.js";
import type { Authorizer } from "../authz/authorizer.js";
import type { Logger } from "../log.js";

/** What a plugin's factory gets. */
export interface PluginContext {
  /** The section's `options` mapping (plain values: strings, numbers, booleans, lists, mappings). */
  readonly options: Readonly<Record<string, unknown>>;
  /** regauth's logger (JSON lines), with `backend` set. Never log a password. */
  readonly log: Logger;
  /** The plugin module's absolute path (to find files next to it). */
  readonly pluginPath: string;
  /** The config file that loaded the plugin. */
  readonly configFile: string;
}

export type AuthenticatorFactory = (ctx: PluginContext) => Authenticator | Promise<Authenticator>;
export type AuthorizerFactory = (ctx: PluginContext) => Authorizer | Promise<Authorizer>;

/** What a plugin_authn module exports as `default` (or `Authn`). */
export type AuthnPlugin = Authenticator | AuthenticatorFactory;
/** What a plugin_authz module exports as `default` (or `Authz`). */
export type AuthzPlugin = Authorizer | AuthorizerFactory;
