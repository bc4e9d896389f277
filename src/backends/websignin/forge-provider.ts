// What the GitHub and GitLab providers share beyond HTTP: the authorization-code flow of an
// OAuth app on a forge (authorize URL, callback, code exchange, refresh, revalidation). Each
// provider adds who the token is for and whether its config lets them in (`inspect`).
import type { Labels } from "../../config/types.js";
import { BackendError, SignInRefusedError } from "../../errors.js";
import type { CommonSignInConfig } from "./common-section.js";
import { errorCode, field, forgeCall, nonsense, tokensFrom, type ForgeResponse } from "./forge-http.js";
import type { FlowSecrets, ProviderTokens, Revalidation, SignedInUser, WebSignInProvider } from "./provider.js";

/** An access token this close to its expiry is refreshed before it is used. */
const EXPIRY_MARGIN_MS = 60_000;

/** The keys of github_auth and gitlab_auth the shared flow reads. */
export interface ForgeConfig {
  common: CommonSignInConfig;
  /** `revalidate_after`: how long a sign-in is trusted before the forge is asked again. */
  revalidateAfterMs: number;
  /** The web base URL (authorize and token endpoints). */
  webUri: string;
}

/** Who a token is for, as the forge says, and whether the config lets them in. */
export type Inspection =
  /** The forge does not accept the token (401): refreshing may help. */
  | { kind: "unauthorized" }
  /** The forge refuses this account's token outright (GitLab's 403 for a blocked user). */
  | { kind: "denied"; why: string }
  | { kind: "refused"; account: string; subject?: string; why: string }
  | { kind: "allowed"; account: string; subject?: string; labels: Labels };

/** What a token endpoint's error answer means: regauth's setup is wrong, the grant itself was refused, or nonsense. */
export type TokenRefusal = "misconfigured" | "rejected" | "unexpected";

/**
 * An OAuth app on a forge as a web sign-in provider. The `title` is also the service name in
 * errors and messages ("GitHub", "GitLab").
 */
export abstract class ForgeProvider<C extends ForgeConfig> implements WebSignInProvider {
  abstract readonly key: string;
  abstract readonly title: string;
  abstract readonly path: string;
  readonly registryUrl?: string;
  readonly redirectUri?: string;

  /** The authorize endpoint's path under the web URI. */
  protected abstract readonly authorizePath: string;
  /** The token endpoint's path under the web URI. */
  protected abstract readonly tokenPath: string;
  /** The revalidation's reason when an expired token could not be renewed. */
  protected abstract readonly expiredReason: string;
  /** The keys to check when the token endpoint refuses regauth's own request. */
  protected abstract readonly tokenMisconfigurationHint: string;
  /** Callback `error` codes that mean this server's setup is wrong, with what the administrator is told. */
  protected abstract readonly callbackMisconfigurations: Readonly<Record<string, string>>;

  protected constructor(
    protected readonly config: C,
    redirectUri: string | undefined,
  ) {
    this.registryUrl = config.common.registryUrl;
    this.redirectUri = redirectUri;
  }

  /** The authorize URL's parameters between redirect_uri and state (scope, response_type). */
  protected abstract authorizeParams(): Record<string, string>;
  /** How an answer of the token endpoint is an error, if it is one (undefined: not an error answer). */
  protected abstract tokenRefusal(status: number, error: string | undefined): TokenRefusal | undefined;
  /** Who the token is for, and whether the config lets them in (with their labels). */
  protected abstract inspect(token: string): Promise<Inspection>;

  /** Parameters a grant needs beyond the standard ones (none by default; GitLab's grant_type and redirect_uri). */
  protected extraTokenParams(_grant: "authorization_code" | "refresh_token"): Record<string, string> {
    return {};
  }

  authorizationUrl(flow: FlowSecrets): URL {
    const u = new URL(`${this.config.webUri}${this.authorizePath}`);
    u.searchParams.set("client_id", this.config.common.clientId);
    u.searchParams.set("redirect_uri", flow.redirectUri);
    for (const [k, v] of Object.entries(this.authorizeParams())) u.searchParams.set(k, v);
    u.searchParams.set("state", flow.state);
    u.searchParams.set("code_challenge", flow.codeChallenge);
    u.searchParams.set("code_challenge_method", "S256");
    return u;
  }

  async complete(callback: URLSearchParams, flow: FlowSecrets): Promise<SignedInUser> {
    const s = this.title;
    const error = callback.get("error");
    if (error !== null) {
      if (error === "access_denied") throw new SignInRefusedError(`${s} sign-in was cancelled: access to your ${s} account was not granted`);
      if (Object.hasOwn(this.callbackMisconfigurations, error)) throw this.misconfigured(this.callbackMisconfigurations[error]!);
      throw new SignInRefusedError(`${s} refused the sign-in (${errorCode(error)})`);
    }
    const code = callback.get("code");
    if (!code) throw new SignInRefusedError(`${s} sent no authorization code back; sign in again`);
    const tokens = await this.token({ ...this.extraTokenParams("authorization_code"), code, redirect_uri: flow.redirectUri, code_verifier: flow.codeVerifier });
    if (tokens === "rejected") throw new SignInRefusedError(`${s} did not accept the sign-in code (it was used already, has expired, or belongs to another attempt); sign in again`);
    const seen = await this.inspect(tokens.accessToken);
    if (seen.kind === "unauthorized") throw nonsense(s, `${s} refused the token it had just issued (401)`);
    if (seen.kind === "refused" || seen.kind === "denied") throw new SignInRefusedError(seen.why);
    return { account: seen.account, labels: seen.labels, tokens: { ...tokens, subject: seen.subject } };
  }

  revalidateAt(_user: SignedInUser, now: number): number {
    return now + this.config.revalidateAfterMs;
  }

  async revalidate(account: string, tokens: ProviderTokens): Promise<Revalidation> {
    const s = this.title;
    let current = tokens;
    let refreshed = false;
    const refresh = async (): Promise<boolean> => {
      if (!current.refreshToken || refreshed) return false;
      refreshed = true;
      const r = await this.token({ grant_type: "refresh_token", refresh_token: current.refreshToken, ...this.extraTokenParams("refresh_token") });
      if (r === "rejected") return false;
      current = { ...r, refreshToken: r.refreshToken ?? current.refreshToken, subject: current.subject };
      return true;
    };
    if (current.expiresAt !== undefined && current.expiresAt - EXPIRY_MARGIN_MS <= Date.now() && !(await refresh())) return { ok: false, reason: this.expiredReason };
    let seen = await this.inspect(current.accessToken);
    if (seen.kind === "unauthorized" && (await refresh())) seen = await this.inspect(current.accessToken);
    if (seen.kind === "unauthorized") return { ok: false, reason: `${s} no longer accepts the sign-in's token (it was revoked or has expired)` };
    if (seen.kind === "denied") return { ok: false, reason: seen.why };
    // The user id is stable across renames: a token whose user id changed is not this sign-in's.
    if (tokens.subject !== undefined && seen.subject !== undefined && seen.subject !== tokens.subject) return { ok: false, reason: `the stored ${s} token is for another ${s} user now` };
    if (seen.account !== account) return { ok: false, reason: `the stored ${s} token is now for ${seen.account}, not ${account}` };
    if (seen.kind === "refused") return { ok: false, reason: seen.why };
    return { ok: true, labels: seen.labels, tokens: current };
  }

  /** The token endpoint: a code (or a refresh token) for tokens; "rejected" when the forge refuses the grant itself. */
  private async token(params: Record<string, string>): Promise<ProviderTokens | "rejected"> {
    const body = new URLSearchParams({ client_id: this.config.common.clientId, client_secret: this.config.common.clientSecret.reveal(), ...params });
    const res = await forgeCall(this.title, `${this.config.webUri}${this.tokenPath}`, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "regauth" },
      body: body.toString(),
      timeoutMs: this.config.common.httpTimeoutMs,
    });
    const error = field(res.json, "error");
    const refusal = this.tokenRefusal(res.status, error);
    if (refusal === "misconfigured") throw this.misconfigured(`the token endpoint refused regauth's request: ${errorCode(error)} (${this.tokenMisconfigurationHint})`);
    if (refusal === "rejected") return "rejected";
    if (refusal === "unexpected" || res.status !== 200) throw nonsense(this.title, `the token endpoint answered ${res.status}`);
    const tokens = tokensFrom(res.json, Date.now());
    if (!tokens) throw nonsense(this.title, "the token endpoint's answer has no access_token");
    return tokens;
  }

  /** A GET with the user's token (`headers`: the forge's Accept and the like). */
  protected async bearerGet(token: string, url: string, headers: Record<string, string>): Promise<ForgeResponse> {
    return forgeCall(this.title, url, { headers: { Authorization: `Bearer ${token}`, ...headers, "User-Agent": "regauth" }, timeoutMs: this.config.common.httpTimeoutMs });
  }

  /** A BackendError for this server's setup being wrong: the administrator's to fix, not the user's. */
  protected misconfigured(message: string): BackendError {
    return new BackendError(this.title, message, { publicMessage: `${this.title} sign-in is misconfigured on this server; tell its administrator` });
  }
}
