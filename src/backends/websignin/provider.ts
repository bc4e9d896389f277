import type { Labels } from "../../config/types.js";

/**
 * What a provider handed back at sign-in and needs again to re-check the user later.
 * Kept in the token store sealed (encrypted with a key derived from the signing key), never
 * in a log.
 */
export interface ProviderTokens {
  accessToken: string;
  refreshToken?: string;
  tokenType?: string;
  /** When the access token expires (ms since the epoch), when the provider says. */
  expiresAt?: number;
  /** The provider's stable id for the user (OIDC's `sub`), when it has one. */
  subject?: string;
}

/** Who signed in, as the provider vouches for them. */
export interface SignedInUser {
  /** The `docker login` user name (an e-mail, a GitHub login, a claim's value). */
  account: string;
  /** ACL labels: GitHub teams, GitLab groups, OIDC label claims. */
  labels: Labels;
  tokens: ProviderTokens;
}

/** The per-attempt secrets of one authorization-code flow, kept in a sealed cookie meanwhile. */
export interface FlowSecrets {
  /** Compared with the callback's `state`. */
  state: string;
  /** PKCE (RFC 7636, S256): the challenge goes out, the verifier with the code exchange. */
  codeVerifier: string;
  codeChallenge: string;
  /** OIDC's `nonce`, checked in the ID token. Providers without ID tokens ignore it. */
  nonce: string;
  /** The absolute callback URL used in this attempt (sent again with the code exchange). */
  redirectUri: string;
}

/** A re-check's answer: still allowed (with fresh labels and tokens) or not any more. */
export type Revalidation = { ok: true; labels: Labels; tokens: ProviderTokens } | { ok: false; reason: string };

/**
 * One sign-in provider (Google, GitHub, GitLab, OIDC): the provider-specific half of web
 * sign-in. The shared half (websignin/backend.ts) runs the pages, the state cookie, the
 * generated passwords and their store; a provider only talks to its service.
 *
 * Errors: a user the config does not let in (outside the domain or organisation, a denied
 * consent, a bad code) is a SignInRefusedError, shown to the user; a provider that cannot be
 * reached or answers nonsense is a BackendError (a 502/503 page, a 503 at `docker login`).
 */
export interface WebSignInProvider {
  /** The section key: `google_auth`, `github_auth`, `gitlab_auth`, `oidc_auth`. */
  readonly key: string;
  /** Shown on the button: "Google", "GitHub", "GitLab", or the OIDC section's `name`. */
  readonly title: string;
  /** Under `server.path_prefix`: docker_auth's callback path (`/github_auth`, ...). */
  readonly path: string;
  /** For the `docker login` command on the result page (docker_auth's `registry_url`). */
  readonly registryUrl?: string;
  /**
   * The configured callback URL, if any (`redirect_url`, `redirect_uri`). Absent: the shared
   * half derives it from the request (scheme, host, prefix, path).
   */
  readonly redirectUri?: string;
  /** The provider's authorization URL for this attempt (state, PKCE challenge, nonce, scopes). */
  authorizationUrl(flow: FlowSecrets): Promise<URL> | URL;
  /** The callback's query (`code`, `state` already checked) → who signed in. */
  complete(callback: URLSearchParams, flow: FlowSecrets): Promise<SignedInUser>;
  /**
   * When this sign-in must be checked again with the provider (ms since the epoch): GitHub
   * and GitLab after `revalidate_after`, OIDC when the access token expires.
   */
  revalidateAt(user: SignedInUser, now: number): number;
  /** Asks the provider whether `account` may still sign in; refreshes tokens where it can. */
  revalidate(account: string, tokens: ProviderTokens): Promise<Revalidation>;
  stop?(): Promise<void>;
}
