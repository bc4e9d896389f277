// oidc_auth: sign in with any OpenID Connect provider (docker_auth's section and behaviour),
// and the provider half that google_auth shares.
import * as oidc from "openid-client";
import type { z } from "zod";
import { optText, optTextList } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import type { Labels } from "../../config/types.js";
import { BackendError, SignInRefusedError } from "../../errors.js";
import type { BackendModule } from "../backend.js";
import { webSignInBackend } from "./backend.js";
import { buildCommonSignIn, commonSignInShape, type CommonSignInConfig } from "./common-section.js";
import { isLoopback } from "./forge-http.js";
import type { FlowSecrets, ProviderTokens, Revalidation, SignedInUser, WebSignInProvider } from "./provider.js";

/** What the OIDC provider half needs: the OIDC section, and Google's (an OIDC provider with rules of its own). */
export interface OidcProviderConfig {
  key: string;
  title: string;
  path: string;
  issuer: string;
  common: CommonSignInConfig;
  redirectUrl?: string;
  userClaim: string;
  labelClaims: readonly string[];
  scopes: readonly string[];
  /** Extra authorization parameters (Google: `access_type=offline`, `hd`). */
  authParams?: Readonly<Record<string, string>>;
  /** Refuses a user by their ID token's claims (Google's domain); answers why, or undefined. */
  refuse?(claims: Readonly<Record<string, unknown>>): string | undefined;
}

/** An access token is re-checked this long before the provider says it expires (docker_auth: 30 s). */
const EARLY_MS = 30_000;
/** When the provider gives no expiry. */
const DEFAULT_RECHECK_MS = 3_600_000;

/** The labels named by `labels_claims`: string-array claims (a lone string counts too), as in docker_auth. */
function labelsFrom(claims: Readonly<Record<string, unknown>>, names: readonly string[]): Labels {
  const out: Record<string, string[]> = {};
  for (const name of names) {
    const v = claims[name];
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string" && x !== "");
    if (values.length) out[name] = values;
  }
  return out;
}

/** The OAuth error code of a provider's refusal (`invalid_grant`...), or undefined for anything else. */
function oauthError(e: unknown): string | undefined {
  if (e instanceof oidc.ResponseBodyError || e instanceof oidc.AuthorizationResponseError) return e.error;
  if (e instanceof oidc.WWWAuthenticateChallengeError) return "invalid_token";
  return undefined;
}

/** A failure to reach the provider, or an answer that is not OAuth. */
function unreachable(key: string, what: string, e: unknown): BackendError {
  const cause = (e as Error & { cause?: Error }).cause;
  return new BackendError(key, `${what}: ${(e as Error).message}${cause?.message ? ` (${cause.message})` : ""}`, { cause: e, publicMessage: "the sign-in provider could not be reached; try again shortly" });
}

export class OidcProvider implements WebSignInProvider {
  readonly key: string;
  readonly title: string;
  readonly path: string;
  readonly registryUrl?: string;
  readonly redirectUri?: string;
  #discovered: Promise<oidc.Configuration> | undefined;

  constructor(private readonly c: OidcProviderConfig) {
    this.key = c.key;
    this.title = c.title;
    this.path = c.path;
    this.registryUrl = c.common.registryUrl;
    this.redirectUri = c.redirectUrl;
  }

  /** Discovery on first use, again after a failure: a provider down at start is used once it is back. */
  #config(): Promise<oidc.Configuration> {
    this.#discovered ??= (async () => {
      const issuer = new URL(this.c.issuer);
      const insecure = issuer.protocol === "http:" ? [oidc.allowInsecureRequests] : [];
      const secret = this.c.common.clientSecret.reveal();
      const found = await oidc.discovery(issuer, this.c.common.clientId, secret, undefined, { execute: insecure, timeout: this.c.common.httpTimeoutMs / 1000 });
      // HTTP Basic is OAuth's default client authentication (and golang's oauth2 tries it first); the form post only where Basic is not offered.
      const methods = found.serverMetadata().token_endpoint_auth_methods_supported;
      const auth = !methods || methods.includes("client_secret_basic") ? oidc.ClientSecretBasic(secret) : oidc.ClientSecretPost(secret);
      const cfg = new oidc.Configuration(found.serverMetadata(), this.c.common.clientId, secret, auth);
      for (const f of insecure) f(cfg);
      cfg.timeout = this.c.common.httpTimeoutMs / 1000;
      return cfg;
    })().catch((e: unknown) => {
      this.#discovered = undefined;
      throw unreachable(this.key, `reading ${this.c.issuer}/.well-known/openid-configuration`, e);
    });
    return this.#discovered;
  }

  async authorizationUrl(flow: FlowSecrets): Promise<URL> {
    return oidc.buildAuthorizationUrl(await this.#config(), {
      redirect_uri: flow.redirectUri,
      scope: this.c.scopes.join(" "),
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: flow.codeChallenge,
      code_challenge_method: "S256",
      ...this.c.authParams,
    });
  }

  async complete(callback: URLSearchParams, flow: FlowSecrets): Promise<SignedInUser> {
    const cfg = await this.#config();
    const here = new URL(flow.redirectUri);
    here.search = callback.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(cfg, here, { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
    } catch (e) {
      const code = oauthError(e);
      if (code) throw new SignInRefusedError(`${this.title} refused the sign-in (${code}): the code was already used or has expired. Start again.`);
      if (e instanceof oidc.ClientError) throw new SignInRefusedError(`${this.title}'s answer did not pass the checks (${e.message}). Start again.`);
      throw unreachable(this.key, "exchanging the authorization code", e);
    }
    const claims: Readonly<Record<string, unknown>> = tokens.claims() ?? {};
    const why = this.c.refuse?.(claims);
    if (why) throw new SignInRefusedError(why);
    const account = claims[this.c.userClaim];
    if (typeof account !== "string" || account === "") throw new SignInRefusedError(`${this.title} did not say who you are: the ID token has no ${JSON.stringify(this.c.userClaim)} claim (user_claim).`);
    return { account, labels: labelsFrom(claims, this.c.labelClaims), tokens: this.#tokens(tokens, claims["sub"]) };
  }

  revalidateAt(user: SignedInUser, now: number): number {
    const end = user.tokens.expiresAt;
    return end === undefined ? now + DEFAULT_RECHECK_MS : Math.max(now, end - EARLY_MS);
  }

  /**
   * docker_auth's re-check: refresh the access token, then ask the userinfo endpoint whether it
   * still names the same user. Without a refresh token the session cannot be renewed.
   */
  async revalidate(account: string, tokens: ProviderTokens): Promise<Revalidation> {
    if (!tokens.refreshToken) return { ok: false, reason: `${this.title} gave no refresh token, so the sign-in cannot be renewed; sign in again` };
    const cfg = await this.#config();
    let fresh: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      fresh = await oidc.refreshTokenGrant(cfg, tokens.refreshToken);
    } catch (e) {
      const code = oauthError(e);
      if (code || e instanceof oidc.ClientError) return { ok: false, reason: `${this.title} refused to renew the sign-in (${code ?? (e as Error).message})` };
      throw unreachable(this.key, "renewing the sign-in", e);
    }
    const idClaims = fresh.claims();
    let claims: Readonly<Record<string, unknown>>;
    try {
      claims = { ...(await oidc.fetchUserInfo(cfg, fresh.access_token, tokens.subject ?? idClaims?.sub ?? oidc.skipSubjectCheck)), ...idClaims };
    } catch (e) {
      const code = oauthError(e);
      if (code || e instanceof oidc.ClientError) return { ok: false, reason: `${this.title} no longer accepts the sign-in (${code ?? (e as Error).message})` };
      throw unreachable(this.key, "asking for the user's claims", e);
    }
    if (claims[this.c.userClaim] !== account) return { ok: false, reason: `${this.title} now names another user` };
    const why = this.c.refuse?.(claims);
    if (why) return { ok: false, reason: why };
    const next = this.#tokens(fresh, tokens.subject ?? (typeof claims["sub"] === "string" ? claims["sub"] : undefined));
    // Providers that do not rotate refresh tokens send none back: the old one stays good.
    next.refreshToken ??= tokens.refreshToken;
    return { ok: true, labels: labelsFrom(claims, this.c.labelClaims), tokens: next };
  }

  #tokens(t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, subject: unknown): ProviderTokens {
    const expiresIn = t.expiresIn();
    return {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      tokenType: t.token_type,
      expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000,
      subject: typeof subject === "string" ? subject : undefined,
    };
  }
}

/** Checks an issuer or callback URL: https, or http on loopback only (a provider run for tests or on the same host). */
export function checkProviderUrl(ctx: SectionContext, path: (string | number)[], text: string | undefined, what: string): string | undefined {
  if (text === undefined || text === "") return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    ctx.add(path, `${JSON.stringify(text)} is not a URL (${what})`);
    return undefined;
  }
  if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopback(u.hostname))) {
    ctx.add(path, `must be an https:// URL (http:// only on loopback): ${what}`);
    return undefined;
  }
  return text.replace(/\/+$/, "");
}

// ---------------------------------------------------------------------------
// oidc_auth section.

export const oidcAuthShape = {
  issuer: optText,
  redirect_url: optText,
  ...commonSignInShape,
  registry_url: optText,
  user_claim: optText,
  /** docker_auth's key in its code (`labels_claims`); its reference file says `label_claims`: both are read. */
  labels_claims: optTextList,
  label_claims: optTextList,
  scopes: optTextList,
  /** regauth addition: the provider's name on the sign-in button (default "OpenID Connect"). */
  name: optText,
};

export type RawOidcAuth = z.infer<z.ZodObject<typeof oidcAuthShape>>;

export async function buildOidcAuth(raw: RawOidcAuth, ctx: SectionContext): Promise<OidcProviderConfig> {
  const key = "oidc_auth";
  const common = await buildCommonSignIn(key, raw, ctx, { registryUrl: raw.registry_url || undefined });
  if (!raw.issuer) ctx.add([key, "issuer"], "is required: the provider's issuer URL (its /.well-known/openid-configuration is read)");
  const issuer = checkProviderUrl(ctx, [key, "issuer"], raw.issuer, "the provider's issuer");
  const redirectUrl = checkProviderUrl(ctx, [key, "redirect_url"], raw.redirect_url, "the callback registered with the provider, ending in /oidc_auth");
  if (redirectUrl && !new URL(redirectUrl).pathname.endsWith("/oidc_auth")) ctx.add([key, "redirect_url"], "must end with /oidc_auth, where regauth takes the provider's answer");
  if (raw.labels_claims && raw.label_claims) ctx.add([key, "label_claims"], "set only one of labels_claims and label_claims (the same setting)");
  const scopes = raw.scopes ?? ["openid", "email"];
  if (!scopes.includes("openid")) ctx.add([key, "scopes"], "must include openid: without it the provider sends no ID token");
  return {
    key,
    title: raw.name || "OpenID Connect",
    path: "/oidc_auth",
    issuer: issuer ?? "",
    common,
    redirectUrl,
    userClaim: raw.user_claim || "email",
    labelClaims: raw.labels_claims ?? raw.label_claims ?? [],
    scopes,
  };
}

export const oidcAuthBackend: BackendModule<RawOidcAuth, OidcProviderConfig> = {
  key: "oidc_auth",
  role: "authn",
  shape: oidcAuthShape,
  build: buildOidcAuth,
  create: (config, services) => webSignInBackend(new OidcProvider(config), config.common, services),
};
