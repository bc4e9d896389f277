import { BadRequestError } from "../errors.js";
import { Secret } from "../secret.js";
import { parseBasicAuth } from "./credentials.js";
import { parseScopes, type Scope } from "./scope.js";

/** A parsed token request: who asks, for what, from where. */
export interface TokenRequest {
  clientIp?: string;
  account: string;
  password: Secret;
  /** True when the client sent credentials (Basic, or the OAuth2 password form). */
  hasCredentials: boolean;
  service: string;
  scopes: Scope[];
  clientId?: string;
  offlineToken: boolean;
  /** The OAuth2 form (POST) rather than the classic GET; the response differs slightly. */
  oauth: boolean;
  /** OAuth2's grant_type; `password` for docker's GET with Basic credentials. */
  grant: string;
  /** The `refresh_token` of a refresh grant (a secret: never logged). */
  refreshToken?: Secret;
}

const first = (params: Map<string, string[]>, key: string) => params.get(key)?.[0];

/**
 * Build a TokenRequest from the query (GET) or query + form (POST) parameters
 * and the Authorization header, with docker_auth's rules: `account` must equal
 * the Basic user when both are given; without `account` the user is the account.
 */
export function parseTokenRequest(params: Map<string, string[]>, authorization: string | undefined, oauth: boolean, clientIp: string | undefined): TokenRequest {
  const basic = parseBasicAuth(authorization);
  let user = basic?.user;
  let password = basic?.password;
  const grant = (oauth && first(params, "grant_type")) || "password";
  if (oauth && grant === "password") {
    const formUser = first(params, "username");
    const formPass = first(params, "password");
    if (!basic && formUser && formPass) {
      user = formUser;
      password = new Secret(formPass);
    }
  }
  let account = first(params, "account") ?? "";
  if (account === "") account = user ?? "";
  else if (basic && account !== basic.user) throw new BadRequestError(`user and account are not the same (${JSON.stringify(basic.user)} vs ${JSON.stringify(account)})`);
  const offline = first(params, "offline_token") ?? first(params, "access_type");
  return {
    clientIp,
    account,
    password: password ?? new Secret("", false),
    hasCredentials: user !== undefined,
    service: first(params, "service") ?? "",
    scopes: parseScopes(params.get("scope") ?? []),
    clientId: first(params, "client_id"),
    offlineToken: offline === "true" || offline === "offline",
    oauth,
    grant,
    refreshToken: grant === "refresh_token" && first(params, "refresh_token") !== undefined ? new Secret(first(params, "refresh_token")!) : undefined,
  };
}
