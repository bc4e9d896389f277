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
import { KeyLoadError, loadSigningKey, type SigningKey } from "./token/signing-key.js";

/** Everything a running server needs, built from one Config; replaced as a whole on reload. */
export interface App {
  config: Config;
  key: SigningKey;
  authn: AuthnChain;
  authz: AuthzChain;
  /** The static ACL, when configured (for `explain`). */
  acl?: AclAuthorizer;
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

/**
 * The one place where backends are built from config, in docker_auth's order.
 * Later backends (LDAP, databases, programs) add one line each here.
 */
export async function buildApp(config: Config, log: Logger = createLogger("silent")): Promise<App> {
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
  const stopAll = () => Promise.allSettled([...authenticators, ...authorizers].map((b) => b.stop()));
  let acl: AclAuthorizer | undefined;
  const hashes: string[] = [];
  try {
    if (config.acl) {
      acl = new AclAuthorizer(config.acl, config.where);
      authorizers.push(acl);
    }
    for (const [key, create] of AUTHORIZERS) if (config.sections.has(key)) authorizers.push(await create(config.sections.get(key), deps));
    if (config.users) {
      authenticators.push(new StaticUsersAuthenticator(config.users));
      for (const u of config.users.values()) if (u.passwordHash) hashes.push(u.passwordHash);
    }
    for (const [key, create] of AUTHENTICATORS) if (config.sections.has(key)) authenticators.push(await create(config.sections.get(key), deps));
  } catch (e) {
    // A backend that fails to start must not leave the ones before it running (connections, processes).
    await stopAll();
    throw e;
  }

  const cache = new CredentialCache(config.credentialCache.ttlSeconds * 1000, config.credentialCache.maxEntries);
  const dummyHash = await hashPassword(`unknown-user-${Math.random()}`, mostCommonCost(hashes));
  const authn = new AuthnChain(authenticators, cache, dummyHash);
  const authz = new AuthzChain(authorizers);
  return {
    config,
    key,
    authn,
    authz,
    acl,
    async stop() {
      await Promise.allSettled([authn.stop(), authz.stop()]);
    },
  };
}
