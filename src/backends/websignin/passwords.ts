import type { Authenticator, AuthnResult } from "../../authn/authenticator.js";
import type { Labels } from "../../config/types.js";
import { BackendError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { mintSecretToken, parseSecretToken, sameHash } from "../../refresh/refresh-token.js";
import type { Secret } from "../../secret.js";
import type { StoredCredential, TokenStore } from "../../stores/token-store.js";
import type { ProviderTokens, SignedInUser, WebSignInProvider } from "./provider.js";
import type { Sealer } from "./seal.js";

/** A generated `docker login` password: recognisable by secret scanners, found by its id. */
export const PASSWORD_PREFIX = "regauth_pw_";

/** What is sealed into a password's record: what the provider needs to re-check the user, and when. */
interface Attachment {
  tokens: ProviderTokens;
  revalidateAt: number;
}

/**
 * The generated passwords of one provider, in the token store as `login_password`
 * credentials (the SHA-256 of the secret part only; the password has 256 random bits, so a
 * fast hash is enough), and the authenticator `docker login` reaches them through.
 */
export class SignInPasswords implements Authenticator {
  readonly name: string;
  /** One re-check per credential at a time: parallel logins wait for the same answer. */
  readonly #checking = new Map<string, Promise<StoredCredential | undefined>>();

  constructor(
    private readonly provider: WebSignInProvider,
    private readonly store: TokenStore,
    private readonly sealer: Sealer,
    private readonly lifetimeMs: number,
    private readonly log: Logger,
  ) {
    this.name = provider.key;
  }

  /** Replaces the account's previous password from this provider with a new one; answers it and its end. */
  async issue(user: SignedInUser, now = Date.now()): Promise<{ password: string; expiresAt: number }> {
    const old = await this.#current(user.account, now);
    const minted = mintSecretToken(PASSWORD_PREFIX);
    const expiresAt = now + this.lifetimeMs;
    await this.store.put({
      id: minted.id,
      kind: "login_password",
      secretHash: minted.secretHash,
      account: user.account,
      method: this.provider.key,
      proof: "",
      labels: user.labels,
      clientId: "",
      service: "",
      createdAt: now,
      lastUsedAt: now,
      expiresAt,
      idleUntil: null,
      attachment: this.#seal(user.tokens, this.provider.revalidateAt(user, now)),
    });
    for (const c of old) await this.store.revoke({ id: c.id });
    return { password: minted.token, expiresAt };
  }

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    const parsed = parseSecretToken(PASSWORD_PREFIX, password.reveal());
    if (!parsed) return { kind: "no-match" };
    const now = Date.now();
    const found = await this.store.get(parsed.id, now);
    if (!found || found.kind !== "login_password" || found.method !== this.provider.key) return { kind: "no-match" };
    // Compared in full before the account, so a wrong user and a wrong secret take the same path.
    if (!sameHash(found.secretHash, parsed.secretHash) || found.account !== user) return { kind: "denied" };
    const c = await this.#fresh(found, now);
    if (!c) return { kind: "denied" };
    await this.store.touch(c.id, now, null).catch(() => undefined);
    return { kind: "match", labels: c.labels };
  }

  /** A refresh token stays good while the account holds a live password that passes its re-check. */
  async stillExists(user: string): Promise<boolean | undefined> {
    const now = Date.now();
    const [c] = await this.#current(user, now);
    return c !== undefined && (await this.#fresh(c, now)) !== undefined;
  }

  /** The current password's id: signing in again (a new password) ends refresh tokens got with the old one. */
  async credentialProof(user: string): Promise<string | undefined> {
    const [c] = await this.#current(user, Date.now());
    return c?.id ?? "";
  }

  async stop(): Promise<void> {
    await this.provider.stop?.();
  }

  async #current(account: string, now: number): Promise<StoredCredential[]> {
    const all = await this.store.list(now, { account, kind: "login_password" });
    return all.filter((c) => c.method === this.provider.key).reverse();
  }

  /** The credential, re-checked with the provider when due (and updated); undefined once the provider says no. */
  #fresh(c: StoredCredential, now: number): Promise<StoredCredential | undefined> {
    const a = this.#open(c);
    if (a && now < a.revalidateAt) return Promise.resolve(c);
    let p = this.#checking.get(c.id);
    if (!p) {
      p = this.#revalidate(c, a, now).finally(() => this.#checking.delete(c.id));
      this.#checking.set(c.id, p);
    }
    return p;
  }

  async #revalidate(c: StoredCredential, a: Attachment | undefined, now: number): Promise<StoredCredential | undefined> {
    if (!a) {
      // Sealed under another signing key (a rotation) or altered: nothing to re-check with.
      await this.#end(c, "its provider tokens cannot be read (was the signing key rotated?); sign in again");
      return undefined;
    }
    const r = await this.provider.revalidate(c.account, a.tokens).catch((e: unknown) => {
      throw e instanceof BackendError ? e : new BackendError(this.provider.key, `re-checking ${c.account}: ${(e as Error).message}`, { cause: e });
    });
    if (!r.ok) {
      await this.#end(c, r.reason);
      return undefined;
    }
    const labels: Labels = r.labels;
    const next: StoredCredential = { ...c, labels, attachment: this.#seal(r.tokens, this.provider.revalidateAt({ account: c.account, labels, tokens: r.tokens }, now)) };
    // Revoked (or replaced by a new sign-in) while the provider was asked: it stays gone.
    if (!(await this.store.amend(c.id, next.labels, next.attachment))) return undefined;
    this.log.info({ backend: this.provider.key, account: c.account }, "web sign-in re-checked with the provider");
    return next;
  }

  async #end(c: StoredCredential, reason: string): Promise<void> {
    await this.store.revoke({ id: c.id });
    this.log.info({ backend: this.provider.key, account: c.account, reason }, "web sign-in password ended: the provider no longer vouches for the account");
  }

  #seal(tokens: ProviderTokens, revalidateAt: number): string {
    return this.sealer.seal({ tokens, revalidateAt } satisfies Attachment);
  }

  #open(c: StoredCredential): Attachment | undefined {
    const v = this.sealer.open(c.attachment) as Attachment | undefined;
    return v && typeof v.revalidateAt === "number" && v.tokens && typeof v.tokens.accessToken === "string" ? v : undefined;
  }
}
