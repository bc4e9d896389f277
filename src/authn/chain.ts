import type { Labels } from "../config/types.js";
import type { Secret } from "../secret.js";
import { observed, type BackendCallObserver, type BackendCallResult } from "../events/backend-call.js";
import type { Authenticator, AuthnResult } from "./authenticator.js";
import { verifyPassword } from "./bcrypt.js";
import { SingleFlight } from "../cache/ttl-cache.js";
import type { CredentialCache } from "./credential-cache.js";

const authnResult = (r: AuthnResult): BackendCallResult => (r.kind === "match" ? "ok" : r.kind === "no-match" ? "no_match" : "denied");

export type ChainResult = { ok: true; labels: Labels; method: string; cached: boolean } | { ok: false };

/**
 * The authentication methods in config order (static users first, as in
 * docker_auth). The first method that knows the user decides. When no method
 * knows the user and a password was supplied, a bcrypt check against a dummy
 * hash of the usual cost is run so that an unknown user costs what a wrong
 * password costs. A request with no credentials at all reveals nothing by its
 * timing and is refused at once: otherwise a flood of them would queue bcrypt
 * work for nobody.
 */
export class AuthnChain {
  constructor(
    readonly authenticators: readonly Authenticator[],
    readonly cache: CredentialCache,
    private readonly dummyHash: string,
    private readonly observe?: BackendCallObserver,
  ) {}

  /** Checks running now, by credential key: identical logins that arrive meanwhile wait for the same answer. */
  readonly #checking = new SingleFlight<ChainResult>();

  async authenticate(user: string, password: Secret): Promise<ChainResult> {
    // Without credentials there is no password check to save (anonymous access, a user listed
    // without a password): the cache would cost a digest per request and hold nothing new.
    const cache = password.supplied && this.cache.enabled ? this.cache : undefined;
    if (!cache) return this.#check(user, password, undefined);
    const hit = cache.get(user, password);
    if (hit) return { ok: true, labels: hit.labels, method: hit.method, cached: true };
    // A fleet of jobs logging in with one account at once (CI runners, a rollout) pays one
    // bcrypt check or directory round trip, not one each: same user and password, same answer.
    return this.#checking.do(cache.key(user, password), () => this.#check(user, password, cache));
  }

  async #check(user: string, password: Secret, cache: CredentialCache | undefined): Promise<ChainResult> {
    for (const a of this.authenticators) {
      const r = await observed(this.observe, a.name, () => a.authenticate(user, password), authnResult);
      if (r.kind === "no-match") continue;
      if (r.kind === "denied") return { ok: false };
      cache?.set(user, password, r.labels, a.name);
      return { ok: true, labels: r.labels, method: a.name, cached: false };
    }
    if (password.supplied) await verifyPassword(password.reveal(), this.dummyHash);
    return { ok: false };
  }

  /** The method a refresh token names (by `Authenticator.name`), if this configuration still has it. */
  method(name: string): Authenticator | undefined {
    return this.authenticators.find((a) => a.name === name);
  }

  async stop(): Promise<void> {
    this.cache.clear();
    await Promise.allSettled(this.authenticators.map((a) => a.stop()));
  }
}
