// github_auth: sign in with GitHub (or GitHub Enterprise), docker_auth's section and behaviour.
import type { z } from "zod";
import { optDuration, optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { BackendError } from "../../errors.js";
import type { BackendModule } from "../backend.js";
import { webSignInBackend } from "./backend.js";
import { buildCommonSignIn, commonSignInShape, type CommonSignInConfig } from "./common-section.js";
import { baseUri, callbackUrl, errorCode, field, nonsense, revalidateAfterMs, usableAccount, userId, type ForgeResponse } from "./forge-http.js";
import { ForgeProvider, type Inspection, type TokenRefusal } from "./forge-provider.js";

// ---------------------------------------------------------------------------
// Section.

export const GITHUB_DEFAULTS = { webUri: "https://github.com", apiUri: "https://api.github.com" } as const;

export const githubAuthShape = {
  organization: optText,
  ...commonSignInShape,
  revalidate_after: optDuration,
  github_web_uri: optText,
  github_api_uri: optText,
  registry_url: optText,
  /**
   * regauth addition: the callback URL GitHub sends the browser back to (it must end with
   * /github_auth). docker_auth sends none, so GitHub uses the app's registered one; regauth
   * derives it from the request when this is absent.
   */
  redirect_url: optText,
};

export type RawGitHubAuth = z.infer<z.ZodObject<typeof githubAuthShape>>;

/** github_auth, as docker_auth configures it, plus regauth's additions. */
export interface GitHubAuthConfig {
  common: CommonSignInConfig;
  /** Only members of this organization may sign in; absent: anyone with a GitHub account. */
  organization?: string;
  /** `revalidate_after` (default 1h): how long a sign-in is trusted before GitHub is asked again. */
  revalidateAfterMs: number;
  /** `github_web_uri` without a trailing slash (authorize and token endpoints). */
  webUri: string;
  /** `github_api_uri` without a trailing slash (the REST API). */
  apiUri: string;
  /** regauth addition `redirect_url`. */
  redirectUrl?: string;
}

/** GitHub logins and organization names: letters, digits, hyphens (Enterprise also allows _ and .). */
const GITHUB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_])?$/;

export async function buildGitHubAuth(raw: RawGitHubAuth, ctx: SectionContext): Promise<GitHubAuthConfig> {
  const key = "github_auth";
  const common = await buildCommonSignIn(key, raw, ctx, { registryUrl: raw.registry_url || undefined });
  let organization: string | undefined = raw.organization || undefined;
  if (organization !== undefined && !GITHUB_NAME.test(organization)) {
    ctx.add([key, "organization"], `${JSON.stringify(organization)} is not a GitHub organization name (its login, as in https://github.com/<login>: letters, digits and hyphens)`);
    organization = undefined;
  } else if (organization === undefined) {
    const w = ctx.where([key]);
    ctx.warn(`${w.file}${w.line !== undefined ? `:${w.line}` : ""}: github_auth has no organization: anyone with a GitHub account can sign in and get a docker login password (as in docker_auth); the ACL alone decides what they may do`);
  }
  return {
    common,
    organization,
    revalidateAfterMs: revalidateAfterMs(ctx, [key, "revalidate_after"], raw.revalidate_after),
    webUri: baseUri(ctx, [key, "github_web_uri"], raw.github_web_uri, GITHUB_DEFAULTS.webUri),
    apiUri: baseUri(ctx, [key, "github_api_uri"], raw.github_api_uri, GITHUB_DEFAULTS.apiUri),
    redirectUrl: callbackUrl(ctx, [key, "redirect_url"], raw.redirect_url, "/github_auth"),
  };
}

// ---------------------------------------------------------------------------
// Provider.

const SERVICE = "GitHub";
/** At most this many pages of 100 teams are read (a user in more than 2000 teams is refused as nonsense). */
const MAX_TEAM_PAGES = 20;
/** Token endpoint errors that are regauth's setup being wrong (GitHub answers them with HTTP 200). */
const MISCONFIGURED_TOKEN_ERRORS = ["incorrect_client_credentials", "redirect_uri_mismatch", "unsupported_grant_type", "invalid_client", "unauthorized_client"];

/**
 * GitHub sign-in as docker_auth does it: the account is the GitHub login (`GET /user`); with
 * `organization`, the user must be a member (`GET /orgs/{org}/members/{login}`: 204 member,
 * 404 not; 302 "you are not a member" leads to the public-members check, as Go's client
 * following the redirect does in docker_auth), and the label `teams` lists the slugs of the
 * user's teams in that organization together with each one's parent team's slug
 * (`GET /user/teams`). Revalidation repeats the same checks with the stored token.
 *
 * Where regauth differs from docker_auth, on purpose:
 * - The authorization request carries `state` and a PKCE S256 challenge, the code exchange
 *   the verifier and the callback URL (docker_auth sends neither: a sign-in could be forced
 *   on a victim's browser, or a leaked code redeemed).
 * - The scope is `read:org` only when an organization is set, and nothing otherwise
 *   (docker_auth asks for `user:email read:org` but never reads an e-mail).
 * - Revalidation also reads the teams again, so labels follow GitHub (docker_auth keeps the
 *   teams of the first sign-in until the user signs in again).
 * - A failure to list the teams fails the sign-in (a BackendError) instead of signing in
 *   with no teams: an ACL may deny by team, and a silently missing label would then let in.
 * - The organization in team answers is compared case-insensitively (GitHub logins are).
 * - Redirects are never followed and pagination links only within `github_api_uri`, so the
 *   token is sent to GitHub's API and nowhere else; answers over 1 MiB are refused unread;
 *   every call has http_timeout (docker_auth's team listing has a fixed 10 s).
 * - A 403 from a membership check that is not a rate limit (an organization enforcing SAML
 *   single sign-on the token was not authorized for) refuses the sign-in with that reason;
 *   a rate limit is a BackendError (try again later).
 * - Expiring user tokens (a GitHub App's) are refreshed with their refresh token when they
 *   expire; docker_auth's revalidation fails once the token has expired.
 * - Tokens never appear in a log line or an error message (docker_auth logs them).
 */
export class GitHubProvider extends ForgeProvider<GitHubAuthConfig> {
  readonly key = "github_auth";
  readonly title = SERVICE;
  readonly path = "/github_auth";
  protected readonly authorizePath = "/login/oauth/authorize";
  protected readonly tokenPath = "/login/oauth/access_token";
  protected readonly expiredReason = "the GitHub authorization has expired and could not be renewed";
  protected readonly tokenMisconfigurationHint = "check github_auth.client_id, client_secret and the OAuth app's callback URL";
  protected readonly callbackMisconfigurations = {
    redirect_uri_mismatch: "GitHub refused the callback URL: it must be under the OAuth app's registered callback URL (set github_auth.redirect_url, or register this server's /github_auth URL)",
  };

  constructor(config: GitHubAuthConfig) {
    super(config, config.redirectUrl);
  }

  protected authorizeParams(): Record<string, string> {
    return this.config.organization ? { scope: "read:org" } : {};
  }

  /** GitHub answers token errors with HTTP 200 and an `error` field. */
  protected tokenRefusal(_status: number, error: string | undefined): TokenRefusal | undefined {
    if (error === undefined) return undefined;
    return MISCONFIGURED_TOKEN_ERRORS.includes(errorCode(error)) ? "misconfigured" : "rejected";
  }

  // --- GitHub's API -------------------------------------------------------

  private async api(token: string, url: string): Promise<ForgeResponse> {
    return this.bearerGet(token, url, { Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28" });
  }

  /** Who the token is for, and whether the config lets them in (with their teams). */
  protected async inspect(token: string): Promise<Inspection> {
    const me = await this.api(token, `${this.config.apiUri}/user`);
    if (me.status === 401) return { kind: "unauthorized" };
    this.failOnLimit(me, "/user");
    if (me.status !== 200) throw nonsense(SERVICE, `GET /user answered ${me.status}`);
    const login = field(me.json, "login");
    if (!usableAccount(login)) throw nonsense(SERVICE, "GET /user gave no usable login");
    const subject = userId(me.json);
    const org = this.config.organization;
    if (!org) return { kind: "allowed", account: login, subject, labels: {} };

    const member = await this.membership(token, `/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(login)}`, true);
    if (member === "unauthorized") return { kind: "unauthorized" };
    if (member !== "member") return { kind: "refused", account: login, subject, why: member === "outsider" ? `${login} is not a member of the GitHub organization ${org}` : member.forbidden };
    const teams = await this.teams(token);
    if (teams === "unauthorized") return { kind: "unauthorized" };
    return { kind: "allowed", account: login, subject, labels: { teams } };
  }

  private async membership(token: string, path: string, followToPublic: boolean): Promise<"member" | "outsider" | "unauthorized" | { forbidden: string }> {
    const res = await this.api(token, `${this.config.apiUri}${path}`);
    switch (res.status) {
      case 204:
        return "member";
      case 404:
        return "outsider";
      case 401:
        return "unauthorized";
      case 302:
        // "The requester is not an organization member": only public membership can be seen.
        // docker_auth's client follows the redirect; regauth asks the same question itself,
        // so the token never goes where a Location header points.
        if (!followToPublic) throw nonsense(SERVICE, `GET ${path} redirected`);
        return this.membership(token, path.replace(/\/members\//, "/public_members/"), false);
    }
    this.failOnLimit(res, path);
    if (res.status === 403)
      return { forbidden: `GitHub would not show membership of ${this.config.organization} (403${field(res.json, "message") ? `: ${field(res.json, "message")!.slice(0, 200)}` : ""}); if the organization enforces SAML single sign-on, authorize the app for it and sign in again` };
    throw nonsense(SERVICE, `GET ${path.replace(/\/members\/.*/, "/members/...")} answered ${res.status}`);
  }

  /** The `teams` label: slugs of the user's teams in the organization, and their parents'. */
  private async teams(token: string): Promise<string[] | "unauthorized"> {
    const org = this.config.organization!.toLowerCase();
    const api = new URL(this.config.apiUri);
    const slugs = new Set<string>();
    let url: string | undefined = `${this.config.apiUri}/user/teams?per_page=100`;
    for (let page = 1; url !== undefined; page++) {
      if (page > MAX_TEAM_PAGES) throw nonsense(SERVICE, `GET /user/teams has more than ${MAX_TEAM_PAGES} pages`);
      const res = await this.api(token, url);
      if (res.status === 401) return "unauthorized";
      this.failOnLimit(res, "/user/teams");
      if (res.status !== 200 || !Array.isArray(res.json)) throw nonsense(SERVICE, `GET /user/teams answered ${res.status}${res.status === 200 ? " without a list" : ""}`);
      for (const t of res.json) {
        const slug = field(t, "slug");
        const teamOrg = field((t as Record<string, unknown>)?.["organization"], "login");
        if (!slug || teamOrg?.toLowerCase() !== org) continue;
        slugs.add(slug);
        const parent = field((t as Record<string, unknown>)["parent"], "slug");
        if (parent) slugs.add(parent);
      }
      url = nextLink(res.headers.get("link"));
      if (url !== undefined) {
        const next = new URL(url);
        if (next.origin !== api.origin || !next.pathname.startsWith(`${api.pathname.replace(/\/+$/, "")}/`)) throw nonsense(SERVICE, "GET /user/teams pointed its next page outside github_api_uri");
      }
    }
    return [...slugs].sort();
  }

  /** A rate limit is GitHub being unavailable for now, not a verdict on the user. */
  private failOnLimit(res: ForgeResponse, path: string): void {
    if (res.status === 429 || (res.status === 403 && res.headers.get("x-ratelimit-remaining") === "0"))
      throw new BackendError(SERVICE, `GET ${path.replace(/\/members\/.*/, "/members/...")}: rate limited (${res.status})`, { publicMessage: "GitHub is limiting requests; try again in a few minutes" });
  }
}

/** The `rel="next"` URL of a Link header (RFC 8288), if any. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?\s*(?:;|$)/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Module.

/** github_auth: sign in on regauth's page with GitHub; `docker login` with the password shown. */
export const githubAuthBackend: BackendModule<RawGitHubAuth, GitHubAuthConfig> = {
  key: "github_auth",
  role: "authn",
  shape: githubAuthShape,
  build: buildGitHubAuth,
  create: (config, services) => webSignInBackend(new GitHubProvider(config), config.common, services),
};
