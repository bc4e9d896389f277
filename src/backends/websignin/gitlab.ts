// gitlab_auth: sign in with GitLab (gitlab.com or self-managed), docker_auth's section and behaviour.
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

export const GITLAB_DEFAULTS = { webUri: "https://gitlab.com", apiUri: "https://gitlab.com/api/v4", grantType: "authorization_code" } as const;

export const gitlabAuthShape = {
  organization: optText,
  ...commonSignInShape,
  revalidate_after: optDuration,
  gitlab_web_uri: optText,
  gitlab_api_uri: optText,
  registry_url: optText,
  grant_type: optText,
  redirect_uri: optText,
};

export type RawGitLabAuth = z.infer<z.ZodObject<typeof gitlabAuthShape>>;

/** gitlab_auth, as docker_auth configures it, plus regauth's additions. */
export interface GitLabAuthConfig {
  common: CommonSignInConfig;
  /** A group's full path (`acme`, `acme/platform`): only its members may sign in. Absent: anyone with a GitLab account. */
  organization?: string;
  /** `revalidate_after` (default 1h). */
  revalidateAfterMs: number;
  /** `gitlab_web_uri` without a trailing slash (authorize, token, userinfo and revoke endpoints). */
  webUri: string;
  /** `gitlab_api_uri` without a trailing slash (the REST API, `.../api/v4`). */
  apiUri: string;
  /** `grant_type`: always authorization_code (the only grant this sign-in is). */
  grantType: "authorization_code";
  /** `redirect_uri` (docker_auth: required; regauth: derived from the request when absent). */
  redirectUri?: string;
}

/** A group's full path: path segments of letters, digits, `_`, `-`, `.`, joined by `/`. */
const GROUP_PATH = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;

export async function buildGitLabAuth(raw: RawGitLabAuth, ctx: SectionContext): Promise<GitLabAuthConfig> {
  const key = "gitlab_auth";
  const common = await buildCommonSignIn(key, raw, ctx, { registryUrl: raw.registry_url || undefined });
  let organization: string | undefined = raw.organization?.replace(/^\/+|\/+$/g, "") || undefined;
  if (organization !== undefined && !GROUP_PATH.test(organization)) {
    ctx.add([key, "organization"], `${JSON.stringify(raw.organization)} is not a GitLab group path (as in https://gitlab.com/<path>, e.g. acme or acme/platform)`);
    organization = undefined;
  } else if (organization === undefined) {
    const w = ctx.where([key]);
    ctx.warn(`${w.file}${w.line !== undefined ? `:${w.line}` : ""}: gitlab_auth has no organization: anyone with an account on ${raw.gitlab_web_uri ?? GITLAB_DEFAULTS.webUri} can sign in and get a docker login password (as in docker_auth); the ACL alone decides what they may do`);
  }
  if (raw.grant_type !== undefined && raw.grant_type !== "authorization_code")
    ctx.add([key, "grant_type"], `must be authorization_code (or left out): sign-in on the web page is an authorization-code grant, not ${JSON.stringify(raw.grant_type)}`);
  return {
    common,
    organization,
    revalidateAfterMs: revalidateAfterMs(ctx, [key, "revalidate_after"], raw.revalidate_after),
    webUri: baseUri(ctx, [key, "gitlab_web_uri"], raw.gitlab_web_uri, GITLAB_DEFAULTS.webUri),
    apiUri: baseUri(ctx, [key, "gitlab_api_uri"], raw.gitlab_api_uri, GITLAB_DEFAULTS.apiUri),
    grantType: "authorization_code",
    redirectUri: callbackUrl(ctx, [key, "redirect_uri"], raw.redirect_uri, "/gitlab_auth"),
  };
}

// ---------------------------------------------------------------------------
// Provider.

const SERVICE = "GitLab";

/**
 * GitLab sign-in: the account is the GitLab username (`GET /user`, as in docker_auth). With
 * `organization` (a group's full path), the user must be a member of that group, directly or
 * through an ancestor group, as GitLab's OpenID Connect `groups` claim says (`/oauth/userinfo`);
 * the label `groups` then lists the full paths of that group and of its subgroups the user is
 * in. Revalidation asks again with the stored token, refreshing it first when it has expired.
 *
 * Where regauth differs from docker_auth, on purpose:
 * - `organization` is enforced. docker_auth reads the key but never checks it (its check is
 *   written against GitHub's API and never called), so anyone with a GitLab account got in.
 *   Checking needs the `openid` scope, asked for only when an organization is set; the GitLab
 *   application must allow it. Without an organization the scope is docker_auth's `read_user`.
 * - docker_auth gives GitLab users no labels; regauth gives `groups` (only with an organization).
 * - The defaults are the documented ones (web https://gitlab.com, API
 *   https://gitlab.com/api/v4); docker_auth's code has the two swapped, so it worked only with
 *   both keys written out.
 * - GitLab's access tokens expire (2 h); regauth renews them with the refresh token at
 *   revalidation, so a sign-in lasts until revoked or `password_lifetime`. docker_auth's
 *   revalidation fails for good once the token has expired.
 * - A blocked or deactivated user (`state` other than active) is refused.
 * - `state` and PKCE S256 are sent (docker_auth sends an empty `state` and no PKCE);
 *   `grant_type` other than authorization_code is refused at load; `redirect_uri` is
 *   optional (derived from the request) and must end with /gitlab_auth.
 * - Redirects are never followed, answers over 1 MiB are refused unread, every call has
 *   http_timeout, and tokens never appear in logs or errors (docker_auth logs them).
 *
 * If GitLab cannot be reached right after a refresh succeeded, the renewed tokens are not
 * kept (the revalidation fails with a BackendError), and since GitLab rotates refresh tokens
 * the user will have to sign in again once it is back.
 */
export class GitLabProvider extends ForgeProvider<GitLabAuthConfig> {
  readonly key = "gitlab_auth";
  readonly title = SERVICE;
  readonly path = "/gitlab_auth";
  protected readonly authorizePath = "/oauth/authorize";
  protected readonly tokenPath = "/oauth/token";
  protected readonly expiredReason = "the GitLab authorization has expired and could not be renewed (it was revoked, or the refresh token has expired)";
  protected readonly tokenMisconfigurationHint = "check gitlab_auth.client_id, client_secret and the application's redirect URI";
  protected readonly callbackMisconfigurations = {
    invalid_scope: "GitLab refused the requested scopes: the GitLab application must allow read_user (and openid when gitlab_auth.organization is set)",
  };

  constructor(config: GitLabAuthConfig) {
    super(config, config.redirectUri);
  }

  protected authorizeParams(): Record<string, string> {
    return { response_type: "code", scope: this.config.organization ? "read_user openid" : "read_user" };
  }

  /** The code exchange names its grant type; a refresh repeats the configured redirect URI. */
  protected override extraTokenParams(grant: "authorization_code" | "refresh_token"): Record<string, string> {
    if (grant === "authorization_code") return { grant_type: this.config.grantType };
    return this.config.redirectUri ? { redirect_uri: this.config.redirectUri } : {};
  }

  /** GitLab answers token errors as OAuth 2 has it: 400, or 401 for the client's own credentials. */
  protected tokenRefusal(status: number, error: string | undefined): TokenRefusal | undefined {
    if (error === undefined && status !== 400 && status !== 401) return undefined;
    const code = errorCode(error);
    if (code === "invalid_client" || code === "unauthorized_client" || code === "unsupported_grant_type" || (status === 401 && error === undefined)) return "misconfigured";
    if (status >= 500) return "unexpected";
    return "rejected";
  }

  // --- GitLab's API -------------------------------------------------------

  private async call(token: string, url: string): Promise<ForgeResponse> {
    return this.bearerGet(token, url, { Accept: "application/json" });
  }

  protected async inspect(token: string): Promise<Inspection> {
    const me = await this.call(token, `${this.config.apiUri}/user`);
    if (me.status === 401) return { kind: "unauthorized" };
    failOnLimit(me, "/user");
    // GitLab answers 403 for a blocked or deactivated user's token.
    if (me.status === 403) return { kind: "denied", why: "GitLab refused access to the account (403): it is blocked or deactivated" };
    if (me.status !== 200) throw nonsense(SERVICE, `GET /user answered ${me.status}`);
    const username = field(me.json, "username");
    if (!usableAccount(username)) throw nonsense(SERVICE, "GET /user gave no usable username");
    const subject = userId(me.json);
    const state = field(me.json, "state");
    if (state !== undefined && state !== "active") return { kind: "refused", account: username, subject, why: `the GitLab account ${username} is ${state.replace(/[^a-z_ ]/gi, "").slice(0, 40)}` };
    const org = this.config.organization;
    if (!org) return { kind: "allowed", account: username, subject, labels: {} };

    const info = await this.call(token, `${this.config.webUri}/oauth/userinfo`);
    if (info.status === 401) return { kind: "unauthorized" };
    failOnLimit(info, "/oauth/userinfo");
    if (info.status === 403) throw this.misconfigured("GET /oauth/userinfo answered 403: the token lacks the openid scope; the GitLab application must allow openid for gitlab_auth.organization");
    if (info.status !== 200) throw nonsense(SERVICE, `GET /oauth/userinfo answered ${info.status}`);
    const sub = (info.json as Record<string, unknown> | undefined)?.["sub"];
    if (sub !== undefined && subject !== undefined && String(sub) !== subject) throw nonsense(SERVICE, "/oauth/userinfo and /user describe different users");
    const groups = (info.json as Record<string, unknown> | undefined)?.["groups"];
    if (groups !== undefined && !Array.isArray(groups)) throw nonsense(SERVICE, "/oauth/userinfo's groups is not a list");
    const lower = org.toLowerCase();
    const inOrg = ((groups ?? []) as unknown[]).filter((g): g is string => typeof g === "string" && (g.toLowerCase() === lower || g.toLowerCase().startsWith(`${lower}/`)));
    if (!inOrg.some((g) => g.toLowerCase() === lower)) return { kind: "refused", account: username, subject, why: `${username} is not a member of the GitLab group ${org}` };
    return { kind: "allowed", account: username, subject, labels: { groups: [...new Set(inOrg)].sort() } };
  }
}

function failOnLimit(res: ForgeResponse, path: string): void {
  if (res.status === 429) throw new BackendError(SERVICE, `GET ${path}: rate limited (429)`, { publicMessage: "GitLab is limiting requests; try again in a few minutes" });
}

// ---------------------------------------------------------------------------
// Module.

/** gitlab_auth: sign in on regauth's page with GitLab; `docker login` with the password shown. */
export const gitlabAuthBackend: BackendModule<RawGitLabAuth, GitLabAuthConfig> = {
  key: "gitlab_auth",
  role: "authn",
  shape: gitlabAuthShape,
  build: buildGitLabAuth,
  create: (config, services) => webSignInBackend(new GitLabProvider(config), config.common, services),
};
