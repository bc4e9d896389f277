/**
 * Example plugin_authn: ask an in-house user service over REST.
 *
 *   plugin_authn:
 *     plugin_path: "dist/examples/plugins/rest-authn.js"   # compiled by `npx tsc -p .`
 *     timeout_seconds: 5
 *     options:
 *       url: "http://users.internal:8080/check"
 *       token_env: "USER_SERVICE_TOKEN"    # optional: bearer token from this variable
 *
 * The service gets POST {"user", "password"} and answers 200 {"groups": [...]} (the user
 * is allowed, with the label group: [...]), 401/403 (wrong password), or 404 (not its
 * user: the next method decides). Anything else makes the token request fail with a 503.
 *
 * A plugin module exports, as default, an Authenticator or a factory returning one; the
 * factory gets the section's `options`. The types come from src/plugins/api.ts (from
 * another package: "regauth/dist/src/plugins/api.js").
 */
import type { Authenticator, AuthenticatorFactory, AuthnResult, Labels, PluginContext, Secret } from "../../src/plugins/api.js";

interface Options {
  url: string;
  token_env?: string;
}

function readOptions(o: Readonly<Record<string, unknown>>): Options {
  if (typeof o.url !== "string" || !/^https?:\/\//.test(o.url)) throw new Error("options.url must be an http(s) URL");
  if (o.token_env !== undefined && typeof o.token_env !== "string") throw new Error("options.token_env must be a variable name");
  return { url: o.url, token_env: o.token_env as string | undefined };
}

class RestAuthenticator implements Authenticator {
  readonly name = "rest user service";
  readonly #opts: Options;
  readonly #ctx: PluginContext;

  constructor(ctx: PluginContext) {
    this.#opts = readOptions(ctx.options);
    this.#ctx = ctx;
  }

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = this.#opts.token_env ? process.env[this.#opts.token_env] : undefined;
    if (token) headers.authorization = `Bearer ${token}`;
    // regauth also bounds the whole call by timeout_seconds; this ends the HTTP request itself.
    const res = await fetch(this.#opts.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ user, password: password.reveal() }),
      signal: AbortSignal.timeout(4000),
    });
    if (res.status === 401 || res.status === 403) return { kind: "denied" };
    if (res.status === 404) return { kind: "no-match" };
    // Thrown errors go to regauth's log and the client gets a 503.
    if (res.status !== 200) throw new Error(`user service answered ${res.status}`);
    const body = (await res.json()) as { groups?: unknown };
    const groups = Array.isArray(body.groups) ? body.groups.filter((g): g is string => typeof g === "string") : [];
    const labels: Labels = { group: groups };
    this.#ctx.log.debug({ account: user, groups }, "user service allowed"); // never log the password
    return { kind: "match", labels };
  }

  async stop(): Promise<void> {}
}

const factory: AuthenticatorFactory = (ctx) => new RestAuthenticator(ctx);
export default factory;
