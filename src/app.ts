import { hkdfSync } from "node:crypto";
import { stat } from "node:fs/promises";
import { openAuditLog, type AuditLog } from "./audit/audit-log.js";
import type { RequestMetrics } from "./metrics/request-metrics.js";
import type { LoginLimiter } from "./limits/login-limiter.js";
import { AuthnChain } from "./authn/chain.js";
import type { Authenticator } from "./authn/authenticator.js";
import { RefusalCost } from "./authn/refusal-cost.js";
import { CredentialCache } from "./authn/credential-cache.js";
import { StaticUsersAuthenticator } from "./authn/static-users.js";
import { AclAuthorizer } from "./authz/acl.js";
import type { Authorizer } from "./authz/authorizer.js";
import { AuthzChain } from "./authz/chain.js";
import type { Config } from "./config/types.js";
import { servicesIdentity, type Backend, type BackendHealth, type BackendModule, type BackendRoute, type BackendServices } from "./backends/backend.js";
import { BACKENDS, hasLaterAuthenticator } from "./backends/registry.js";
import { ConfigError } from "./errors.js";
import { createLogger, type Logger } from "./log.js";
import { InFlight } from "./runtime/in-flight.js";
import { fingerprintOf, SharedResources, type Stoppable } from "./runtime/shared-resources.js";
import { KeyLoadError, loadSigningKey, type SigningKey } from "./token/signing-key.js";
import { TokenSigner } from "./token/sign.js";
import { observedStore } from "./stores/observed-store.js";
import { openTokenStore } from "./stores/open.js";
import type { TokenStore } from "./stores/token-store.js";

/** Everything a running server needs, built from one Config; replaced as a whole on reload. */
export interface App {
  config: Config;
  key: SigningKey;
  signer: TokenSigner;
  authn: AuthnChain;
  authz: AuthzChain;
  /** The audit trail, when `audit.enabled`. */
  audit?: AuditLog;
  /** Failed-login limits, when `login_limits.enabled` and serving. */
  limiter?: LoginLimiter;
  /** The static ACL, when configured (for `explain`). */
  acl?: AclAuthorizer;
  /** HTTP routes the backends serve, by path under `server.path_prefix`. */
  routes: ReadonlyMap<string, BackendRoute>;
  /** The web sign-ins, in chain order, for the sign-in page. */
  signIns: readonly { title: string; path: string }[];
  /** Each configured backend's health, by section key (those that can tell). */
  health(): Promise<Map<string, BackendHealth>>;
  /** Where refresh tokens live; shared with other workers and replicas through the backend. */
  store: TokenStore;
  log: Logger;
  /** Requests this App is serving: a reload stops it only once they are done. */
  inFlight: InFlight;
  stop(): Promise<void>;
}

const PURGE_EVERY_MS = 3_600_000;

/** A section's identity for reuse: its typed value plus the state of the files it names (a CA file read at start, say). */
async function sectionFingerprint(config: Config, section: unknown): Promise<string> {
  const text = fingerprintOf(section);
  const files = config.files.filter((f) => text.includes(JSON.stringify(f)));
  const stats = await Promise.all(files.map((f) => stat(f).then((s) => `${f}:${s.size}:${s.mtimeMs}`, () => `${f}:missing`)));
  return `${text}|${stats.join("|")}`;
}

/** What a serving process keeps across reloads and lends to each App. */
export interface ServingState {
  /** To count each backend call in. */
  metrics: RequestMetrics;
  /** Failed-login counters: a reload must not forgive them. */
  limiter: LoginLimiter;
}

/** What each backend of `config` is given: the same for the server and for `regauth explain`. */
export function backendServices(config: Config, log: Logger, refusal: RefusalCost, serving?: { store: { store: TokenStore; identity: string }; sealKey: Buffer }): (b: BackendModule) => BackendServices {
  return (b) => ({
    ...serving,
    log,
    where: config.where,
    configFile: config.file,
    refusal,
    laterMethods: b.role === "authn" && hasLaterAuthenticator(b.key, (k) => config.sections.has(k)),
    maxCacheEntries: config.credentialCache.maxEntries,
    literalLabelValues: config.literalLabelValues,
  });
}

/** A secret every replica with this signing key derives alike, for what web sign-in seals. */
function sealKeyOf(key: SigningKey): Buffer {
  const der = key.privateKey.export({ type: "pkcs8", format: "der" });
  return Buffer.from(hkdfSync("sha256", der, Buffer.from("regauth seal key"), "regauth", 32));
}

/**
 * The one place where backends are built from config, in docker_auth's order.
 * With `shared` (a running server's), backends whose section did not change are
 * taken over from the running configuration instead of being started again.
 * `serving`: absent for `check`, `explain` and the primary's validation, which serve nothing.
 */
export async function buildApp(config: Config, log: Logger = createLogger("silent"), shared = new SharedResources(), serving?: ServingState): Promise<App> {
  const metrics = serving?.metrics;
  const observe = metrics ? metrics.backendCall.bind(metrics) : undefined;
  const certFile = config.token.certificate ?? config.server.certificate!;
  const keyFile = config.token.key ?? config.server.key!;
  const prefix = config.token.certificate ? "token" : "server";
  let key: SigningKey;
  try {
    key = await loadSigningKey(certFile, keyFile, config.token.disableLegacyKeyId);
  } catch (e) {
    if (e instanceof KeyLoadError) throw new ConfigError([{ ...config.where([prefix, e.which]), message: e.message }]);
    throw e;
  }

  const hashes = [...(config.users?.values() ?? [])].flatMap((u) => (u.passwordHash ? [u.passwordHash] : []));
  const refusal = new RefusalCost(hashes);
  const authorizers: Authorizer[] = [];
  const authenticators: Authenticator[] = [];
  const routes = new Map<string, BackendRoute>();
  const signIns: { title: string; path: string }[] = [];
  const healthy: [string, Backend][] = [];
  const held: [string, Stoppable][] = [];
  const releaseAll = () => Promise.allSettled(held.map(([k, b]) => shared.release(k, b)));
  let acl: AclAuthorizer | undefined;
  let store: TokenStore;
  try {
    if (config.acl) {
      acl = new AclAuthorizer(config.acl, config.where, { literalLabelValues: config.literalLabelValues });
      authorizers.push(acl);
    }
    if (config.users) authenticators.push(new StaticUsersAuthenticator(config.users));
    // The store first: web sign-in backends keep their passwords in it.
    const storeIdentity = fingerprintOf(config.tokenStore);
    const opened = await shared.acquire("token_store", storeIdentity, () => openTokenStore(config.tokenStore, log));
    held.push(["token_store", opened]);
    store = observe ? observedStore(opened, observe) : opened;
    const servicesFor = backendServices(config, log, refusal, { store: { store, identity: storeIdentity }, sealKey: sealKeyOf(key) });
    // Registry order is docker_auth's chain order within each role; static users and the ACL come first.
    for (const module of BACKENDS) {
      if (!config.sections.has(module.key)) continue;
      const section = config.sections.get(module.key);
      const services = servicesFor(module);
      const identity = `${await sectionFingerprint(config, section)}|${servicesIdentity(services)}`;
      const backend = await shared.acquire(module.key, identity, () => module.create(section, services));
      held.push([module.key, backend]);
      if (backend.authenticator) authenticators.push(backend.authenticator);
      if (backend.authorizer) authorizers.push(backend.authorizer);
      if (backend.health) healthy.push([module.key, backend]);
      for (const r of backend.routes ?? []) {
        if (routes.has(r.path)) throw new ConfigError([{ ...config.where([module.key]), message: `${module.key} serves ${r.path}, which another backend already serves` }]);
        routes.set(r.path, r);
      }
      if (backend.signIn) signIns.push(backend.signIn);
    }
  } catch (e) {
    // A backend that fails to start must not leave the ones before it running (connections, processes).
    await releaseAll();
    await acl?.stop();
    throw e;
  }

  const cache = new CredentialCache(config.credentialCache.ttlSeconds * 1000, config.credentialCache.maxEntries);
  const authn = new AuthnChain(authenticators, cache, await refusal.dummyHash(), observe);
  const authz = new AuthzChain(authorizers, observe);
  // Expired and idle credentials are deleted now and then (Redis drops its own; the SQL stores need this).
  const purge = () => void store.purge(Date.now()).catch((e: Error) => log.debug({ store: store.backend, reason: e.message }, "token store purge failed; next time"));
  const purgeTimer = config.refreshTokens.enabled ? setInterval(purge, PURGE_EVERY_MS).unref() : undefined;
  let stopped: Promise<void> | undefined;
  const audit = config.audit.enabled ? openAuditLog(config.audit, log) : undefined;
  const limits = config.loginLimits;
  serving?.limiter.configure(limits.account, limits.address);
  return {
    audit,
    limiter: limits.enabled ? serving?.limiter : undefined,
    config,
    key,
    signer: new TokenSigner(key),
    authn,
    authz,
    acl,
    routes,
    signIns,
    async health() {
      const answers = await Promise.all(healthy.map(async ([k, b]) => [k, await b.health!().catch((e: Error) => ({ ok: false, detail: e.message }))] as const));
      return new Map(answers);
    },
    store,
    log,
    inFlight: new InFlight(),
    stop() {
      // Shared backends are released, not stopped: the next configuration may hold them too.
      stopped ??= (async () => {
        clearInterval(purgeTimer);
        cache.clear();
        await releaseAll();
        await acl?.stop();
        await audit?.close();
      })();
      return stopped;
    },
  };
}
