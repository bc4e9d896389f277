import { pathToFileURL } from "node:url";
import type { Authenticator, AuthnResult } from "../../authn/authenticator.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "../../authz/authorizer.js";
import { grantedSubset } from "../../authz/granted-subset.js";
import type { BackendServices } from "../backend.js";
import type { PluginConfig } from "./section.js";
import type { Labels } from "../../config/types.js";
import { BackendError, ConfigError, RegauthError } from "../../errors.js";
import { formatSeconds } from "../../exec/run-program.js";
import type { Logger } from "../../log.js";
import type { Secret } from "../../secret.js";
import type { PluginContext } from "../../plugins/api.js";

type Kind = "authn" | "authz";
const METHOD: Record<Kind, string> = { authn: "authenticate", authz: "authorize" };
/** docker_auth's exported symbol names, still accepted. */
const GO_SYMBOL: Record<Kind, string> = { authn: "Authn", authz: "Authz" };
/** A factory may connect somewhere: it gets at least this long, at start. */
const MIN_FACTORY_MS = 30_000;

function configError(cfg: PluginConfig, services: BackendServices, message: string): ConfigError {
  return new ConfigError([{ ...services.where([cfg.key, "plugin_path"]), message }]);
}

function isClass(f: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(f));
}

/** Settles with `p` or rejects with a BackendError after `ms`; the timer never outlives the call. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Import the module (once per process: Node caches it by URL) and get its
 * backend: the default export (or docker_auth's `Authn` / `Authz`), an object
 * or a factory called with the context. Every failure is a config problem at
 * `plugin_path`, so `regauth check` reports it.
 */
async function instantiate<B extends object>(kind: Kind, cfg: PluginConfig, services: BackendServices, log: Logger): Promise<B> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(cfg.pluginPath).href)) as Record<string, unknown>;
  } catch (e) {
    throw configError(cfg, services, `cannot load ${cfg.written}: ${(e as Error)?.message ?? String(e)}`);
  }
  const method = METHOD[kind];
  const sym = GO_SYMBOL[kind];
  const def = mod.default as Record<string, unknown> | undefined;
  const candidates = [mod.default, mod[sym], def && typeof def === "object" ? def[sym] : undefined];
  const usable = (x: unknown) => typeof x === "function" || (x !== null && typeof x === "object" && typeof (x as Record<string, unknown>)[method] === "function");
  const exported = candidates.find(usable);
  const expected = `export default an object with ${method}() (or a function (ctx) => such an object) — see examples/plugins/`;
  if (exported === undefined) throw configError(cfg, services, `${cfg.written} exports no ${kind === "authn" ? "authenticator" : "authorizer"}: ${expected}`);
  let backend: unknown = exported;
  if (typeof exported === "function") {
    if (isClass(exported)) throw configError(cfg, services, `${cfg.written} exports a class; ${expected}, e.g. \`export default (ctx) => new MyPlugin(ctx.options)\``);
    const ctx: PluginContext = Object.freeze({ options: cfg.options, log, pluginPath: cfg.pluginPath, configFile: services.configFile });
    const ms = Math.max(cfg.timeoutMs, MIN_FACTORY_MS);
    try {
      backend = await withTimeout(
        Promise.resolve().then(() => (exported as (c: PluginContext) => unknown)(ctx)),
        ms,
        () => new Error(`it did not finish within ${formatSeconds(ms)}`),
      );
    } catch (e) {
      throw configError(cfg, services, `${cfg.written}: the plugin's factory failed: ${(e as Error)?.message ?? String(e)}`);
    }
    if (!usable(backend) || typeof backend === "function") throw configError(cfg, services, `${cfg.written}: the plugin's factory returned no object with ${method}()`);
  }
  return backend as B;
}

function validLabels(v: unknown): v is Labels {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => Array.isArray(x) && x.every((s) => typeof s === "string"));
}

/**
 * Everything a plugin call goes through: a time limit, errors turned into
 * BackendErrors (details to the log, not the client), and a count of calls in
 * flight so that stop() reaches the plugin only after they end.
 */
class Guard {
  readonly #inFlight = new Set<Promise<unknown>>();
  #stopped = false;
  constructor(
    readonly key: string,
    readonly label: string,
    readonly timeoutMs: number,
    readonly log: Logger,
  ) {}

  async call<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    if (this.#stopped) throw new BackendError(this.key, "the backend is stopped");
    const p = withTimeout(Promise.resolve().then(fn), this.timeoutMs, () => new BackendError(this.key, `${this.label} gave no answer within ${formatSeconds(this.timeoutMs)}`));
    const tracked = p.catch(() => undefined);
    this.#inFlight.add(tracked);
    void tracked.then(() => this.#inFlight.delete(tracked));
    try {
      return await p;
    } catch (e) {
      if (e instanceof RegauthError) {
        if (e.status >= 500) this.log.error({ backend: this.key, error: e.message }, `plugin ${what} failed`);
        throw e;
      }
      this.log.error({ backend: this.key, err: e }, `plugin ${what} threw`);
      throw new BackendError(this.key, `${this.label} failed (see regauth's log)`, { cause: e });
    }
  }

  bad(what: string, detail: string): BackendError {
    this.log.error({ backend: this.key, error: detail }, `plugin ${what} returned an invalid result`);
    return new BackendError(this.key, `${this.label} returned an invalid result: ${detail}`);
  }

  async stop(stopPlugin: (() => unknown) | undefined): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#inFlight);
    if (typeof stopPlugin !== "function") return;
    try {
      await withTimeout(Promise.resolve().then(stopPlugin), Math.max(this.timeoutMs, MIN_FACTORY_MS), () => new Error("stop() did not finish in time"));
    } catch (e) {
      this.log.warn({ backend: this.key, err: e }, "plugin stop() failed");
    }
  }
}

function pluginName(inner: { name?: unknown }, key: string): string {
  return typeof inner.name === "string" && inner.name !== "" ? `${key} (${inner.name})` : key;
}

function pluginLabel(inner: { name?: unknown }): string {
  return typeof inner.name === "string" && inner.name !== "" ? `the plugin ${JSON.stringify(inner.name)}` : "the plugin";
}

/**
 * Instances in use, by identity. A module that exports one object (not a factory)
 * gives the same instance to the config before and after a reload: stop() must
 * reach it only when no loaded config uses it any more.
 */
const users = new WeakMap<object, number>();
function acquire(inner: object): void {
  users.set(inner, (users.get(inner) ?? 0) + 1);
}
function release(inner: object): boolean {
  const n = (users.get(inner) ?? 1) - 1;
  if (n > 0) users.set(inner, n);
  else users.delete(inner);
  return n <= 0;
}

/** What both plugin wrappers share: a name, the guard around calls, and a stop that runs the plugin's own stop once, last user first. */
abstract class GuardedPlugin<P extends Authenticator | Authorizer> {
  readonly name: string;
  protected readonly guard: Guard;
  #stopped = false;
  constructor(
    readonly inner: P,
    cfg: PluginConfig,
    log: Logger,
  ) {
    this.name = pluginName(inner, cfg.key);
    this.guard = new Guard(cfg.key, pluginLabel(inner), cfg.timeoutMs, log);
    acquire(inner);
  }

  stop(): Promise<void> {
    const last = !this.#stopped && release(this.inner);
    this.#stopped = true;
    return this.guard.stop(last ? this.inner.stop?.bind(this.inner) : undefined);
  }
}

class PluginAuthenticator extends GuardedPlugin<Authenticator> implements Authenticator {

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    const r = (await this.guard.call("authenticate", () => this.inner.authenticate(user, password))) as unknown;
    const kind = r !== null && typeof r === "object" ? (r as { kind?: unknown }).kind : undefined;
    if (kind === "denied" || kind === "no-match") return { kind };
    if (kind !== "match") throw this.guard.bad("authenticate", 'expected {kind: "match", labels}, {kind: "denied"} or {kind: "no-match"}');
    const labels = (r as { labels?: unknown }).labels ?? {};
    if (!validLabels(labels)) throw this.guard.bad("authenticate", "labels must map a label name to a list of strings");
    return { kind: "match", labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, [...v]])) };
  }
}

class PluginAuthorizer extends GuardedPlugin<Authorizer> implements Authorizer {

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    // A copy: labels are shared by the scopes of one request and must not be changed by a plugin.
    const copy: AuthzRequest = { ...req, actions: [...req.actions], labels: Object.fromEntries(Object.entries(req.labels).map(([k, v]) => [k, [...v]])) };
    const r = (await this.guard.call("authorize", () => this.inner.authorize(copy))) as unknown;
    const kind = r !== null && typeof r === "object" ? (r as { kind?: unknown }).kind : undefined;
    if (kind === "no-match") return { kind };
    const actions = kind === "match" ? (r as { actions?: unknown }).actions : undefined;
    if (!Array.isArray(actions) || !actions.every((a) => typeof a === "string"))
      throw this.guard.bad("authorize", 'expected {kind: "match", actions: [...]} or {kind: "no-match"}');
    const rule = (r as { rule?: unknown }).rule;
    const given = rule !== null && typeof rule === "object" ? (rule as Record<string, unknown>) : {};
    return {
      kind: "match",
      actions: grantedSubset(req.actions, actions),
      rule: {
        source: typeof given.source === "string" ? `${this.name}: ${given.source}` : this.name,
        ...(typeof given.index === "number" ? { index: given.index } : {}),
        ...(typeof given.comment === "string" ? { comment: given.comment } : {}),
      },
    };
  }
}

export async function createPluginAuthenticator(cfg: PluginConfig, services: BackendServices): Promise<Authenticator> {
  const log = services.log.child({ backend: cfg.key });
  const inner = await instantiate<Authenticator>("authn", cfg, services, log);
  const a = new PluginAuthenticator(inner, cfg, services.log);
  services.log.info({ backend: cfg.key, plugin: cfg.pluginPath, name: a.name }, "plugin authenticator");
  return a;
}

export async function createPluginAuthorizer(cfg: PluginConfig, services: BackendServices): Promise<Authorizer> {
  const log = services.log.child({ backend: cfg.key });
  const inner = await instantiate<Authorizer>("authz", cfg, services, log);
  const a = new PluginAuthorizer(inner, cfg, services.log);
  services.log.info({ backend: cfg.key, plugin: cfg.pluginPath, name: a.name }, "plugin authorizer");
  return a;
}
