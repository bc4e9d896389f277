// google_auth: sign in with Google. Google is an OpenID Connect provider, so this is the OIDC
// flow with Google's rules: the e-mail is the user name, it must be verified, and `domain`
// keeps out everyone outside one Google Workspace domain.
import type { z } from "zod";
import { optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import type { BackendModule } from "../backend.js";
import { webSignInBackend } from "./backend.js";
import { buildCommonSignIn, commonSignInShape } from "./common-section.js";
import { checkProviderUrl, OidcProvider, type OidcProviderConfig } from "./oidc.js";

export const GOOGLE_ISSUER = "https://accounts.google.com";

export const googleAuthShape = {
  domain: optText,
  ...commonSignInShape,
  /** regauth addition: the `docker login` command on the result page names this registry. */
  registry_url: optText,
  /** regauth addition: the callback registered with Google (ending in /google_auth); absent, derived from the request. */
  redirect_url: optText,
  /** regauth addition: the OpenID issuer (default https://accounts.google.com), for tests and proxies. */
  issuer: optText,
};

export type RawGoogleAuth = z.infer<z.ZodObject<typeof googleAuthShape>>;

export async function buildGoogleAuth(raw: RawGoogleAuth, ctx: SectionContext): Promise<OidcProviderConfig> {
  const key = "google_auth";
  const common = await buildCommonSignIn(key, raw, ctx, { registryUrl: raw.registry_url || undefined });
  if (raw.issuer === "") ctx.add([key, "issuer"], "is empty; leave it out for Google's own (https://accounts.google.com)");
  const issuer = raw.issuer === undefined ? GOOGLE_ISSUER : checkProviderUrl(ctx, [key, "issuer"], raw.issuer, "Google's OpenID issuer");
  const redirectUrl = checkProviderUrl(ctx, [key, "redirect_url"], raw.redirect_url, "the callback registered with Google, ending in /google_auth");
  if (redirectUrl && !new URL(redirectUrl).pathname.endsWith("/google_auth")) ctx.add([key, "redirect_url"], "must end with /google_auth, where regauth takes Google's answer");
  const domain = raw.domain?.toLowerCase() || undefined;
  if (domain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(domain)) ctx.add([key, "domain"], `${JSON.stringify(raw.domain)} is not a domain name (example.com)`);
  return {
    key,
    title: "Google",
    path: "/google_auth",
    issuer: issuer ?? "",
    common,
    redirectUrl,
    userClaim: "email",
    labelClaims: [],
    scopes: ["openid", "email"],
    // A refresh token (offline access, asked for again at each consent) is what lets regauth re-check the user later.
    authParams: { access_type: "offline", prompt: "consent", ...(domain ? { hd: domain } : {}) },
    refuse(claims) {
      const email = typeof claims["email"] === "string" ? claims["email"].toLowerCase() : "";
      if (claims["email_verified"] !== true) return "Google has not verified this account's e-mail address.";
      // `hd` is only a hint to Google's chooser: the ID token's own e-mail and hd decide (docker_auth checks the e-mail's domain).
      if (domain && !(email.endsWith(`@${domain}`) && (claims["hd"] === undefined || String(claims["hd"]).toLowerCase() === domain)))
        return `Only accounts of ${domain} may sign in here.`;
      return undefined;
    },
  };
}

export const googleAuthBackend: BackendModule<RawGoogleAuth, OidcProviderConfig> = {
  key: "google_auth",
  role: "authn",
  shape: googleAuthShape,
  build: buildGoogleAuth,
  create: (config, services) => webSignInBackend(new OidcProvider(config), config.common, services),
};
