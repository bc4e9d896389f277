import { stat } from "node:fs/promises";
import { AuthnChain } from "./authn/chain.js";
import type { Authenticator } from "./authn/authenticator.js";
import { bcryptCost, hashPassword } from "./authn/bcrypt.js";
import { CredentialCache } from "./authn/credential-cache.js";
import { StaticUsersAuthenticator } from "./authn/static-users.js";
import { AclAuthorizer } from "./authz/acl.js";
import type { Authorizer } from "./authz/authorizer.js";
import { AuthzChain } from "./authz/chain.js";
import type { Config } from "./config/types.js";
import { AUTHENTICATORS, AUTHORIZERS } from "./backends.js";
import { ConfigError } from "./errors.js";
import { createLogger, type Logger } from "./log.js";
import { InFlight } from "./runtime/in-flight.js";
import { fingerprintOf, SharedResources } from "./runtime/shared-resources.js";
import { KeyLoadError, loadSigningKey, type SigningKey } from "./token/signing-key.js";
import { TokenSigner } from "./token/sign.js";

/** Everything a running server needs, built from one Config; replaced as a whole on reload. */
export interface App {
  config: Config;
  key: SigningKey;
  signer: TokenSigner;
  authn: AuthnChain;
  authz: AuthzChain;
  /** The static ACL, when configured (for `explain`). */
  acl?: AclAuthorizer;
  /** Requests this App is serving: a reload stops it only once they are done. */
  inFlight: InFlight;
  stop(): Promise<void>;
}

function mostCommonCost(hashes: string[]): number {
  const counts = new Map<number, number>();
  for (const h of hashes) counts.set(bcryptCost(h), (counts.get(bcryptCost(h)) ?? 0) + 1);
  let best = 10;
  let n = 0;
  for (const [cost, c] of counts) if (c > n) [best, n] = [cost, c];
  return best;
}

/** A section's identity for reuse: its typed value plus the state of the files it names (a CA file read at start, say). */
async function sectionFingerprint(config: Config, section: unknown): Promise<string> {
  const text = fingerprintOf(section);
  const files = config.files.filter((f) => text.includes(JSON.stringify(f)));
  const stats = await Promise.all(files.map((f) => stat(f).then((s) => `${f}:${s.size}:${s.mtimeMs}`, () => `${f}:missing`)));
  return `${text}|${stats.join("|")}`;
}

/**
 * The one place where backends are built from config, in docker_auth's order.
 * With `shared` (a running server's), backends whose section did not change are
 * taken over from the running configuration instead of being started again.
 */
export async function buildApp(config: Config, log: Logger = createLogger("silent"), shared = new SharedResources()): Promise<App> {
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

  const deps = { config, log };
  const authorizers: Authorizer[] = [];
  const authenticators: Authenticator[] = [];
  const held: [string, Authenticator | Authorizer][] = [];
  const releaseAll = () => Promise.allSettled(held.map(([k, b]) => shared.release(k, b)));
  let acl: AclAuthorizer | undefined;
  const hashes: string[] = [];
  const take = async <B extends Authenticator | Authorizer>(sectionKey: string, create: (cfg: unknown) => Promise<B>): Promise<B> => {
    const cfg = config.sections.get(sectionKey);
    const b = await shared.acquire(sectionKey, await sectionFingerprint(config, cfg), () => create(cfg));
    held.push([sectionKey, b]);
    return b;
  };
  try {
    if (config.acl) {
      acl = new AclAuthorizer(config.acl, config.where, { literalLabelValues: config.literalLabelValues });
      authorizers.push(acl);
    }
    for (const [k, create] of AUTHORIZERS) if (config.sections.has(k)) authorizers.push(await take(k, (c) => create(c, deps)));
    if (config.users) {
      authenticators.push(new StaticUsersAuthenticator(config.users));
      for (const u of config.users.values()) if (u.passwordHash) hashes.push(u.passwordHash);
    }
    for (const [k, create] of AUTHENTICATORS) if (config.sections.has(k)) authenticators.push(await take(k, (c) => create(c, deps)));
  } catch (e) {
    // A backend that fails to start must not leave the ones before it running (connections, processes).
    await releaseAll();
    await acl?.stop();
    throw e;
  }

  const cache = new CredentialCache(config.credentialCache.ttlSeconds * 1000, config.credentialCache.maxEntries);
  const dummyHash = await hashPassword(`unknown-user-${Math.random()}`, mostCommonCost(hashes));
  const authn = new AuthnChain(authenticators, cache, dummyHash);
  const authz = new AuthzChain(authorizers);
  let stopped: Promise<void> | undefined;
  return {
    config,
    key,
    signer: new TokenSigner(key),
    authn,
    authz,
    acl,
    inFlight: new InFlight(),
    stop() {
      // Shared backends are released, not stopped: the next configuration may hold them too.
      stopped ??= (async () => {
        cache.clear();
        await releaseAll();
        await acl?.stop();
      })();
      return stopped;
    },
  };
}
