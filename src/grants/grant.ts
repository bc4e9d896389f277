import type { App } from "../app.js";
import type { TokenRequest } from "../request/token-request.js";
import type { AccessEntry, SignedToken } from "../token/sign.js";

export interface IssueResult {
  /** Who the token is for (a refresh grant learns it from the stored token, not the request). */
  account: string;
  token: SignedToken;
  /** A refresh token, when offline access was asked and the store could keep one. */
  refreshToken?: string;
  access: AccessEntry[];
  method: string;
  cached: boolean;
  /** For the request log: which rule decided each scope. */
  rules: string[];
}

/**
 * One way to get a token (OAuth2's grant_type): `password` covers docker's GET with
 * Basic credentials and the OAuth2 password form; refresh tokens and web sign-in
 * add theirs to the dispatcher.
 */
export interface Grant {
  readonly type: string;
  issue(app: App, req: TokenRequest): Promise<IssueResult>;
}
