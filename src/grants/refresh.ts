import type { App } from "../app.js";
import { BadRequestError, InvalidGrantError } from "../errors.js";
import { issueRefreshToken } from "../refresh/issue.js";
import { parseRefreshToken, sameHash, sameProof } from "../refresh/refresh-token.js";
import type { TokenRequest } from "../request/token-request.js";
import { authorizeAndSign } from "./authorize-and-sign.js";
import type { Grant, IssueResult } from "./grant.js";

/** One answer for an unknown id, a wrong secret, a revoked or expired token: a guesser learns nothing. */
const NOT_VALID = "the refresh token is not valid (unknown, revoked or expired); log in again";

/**
 * `grant_type=refresh_token` (distribution's oauth.md): the docker engine's identity token
 * after `docker login`. Every use runs the authorization again with the labels the token
 * was issued with, and asks the authentication method whether the account still exists.
 */
export const refreshGrant: Grant = {
  type: "refresh_token",
  async issue(app: App, req: TokenRequest): Promise<IssueResult> {
    if (!req.refreshToken || req.refreshToken.isEmpty) throw new BadRequestError("grant_type=refresh_token needs a refresh_token parameter", "INVALID_REQUEST");
    if (!app.config.refreshTokens.enabled) throw new InvalidGrantError("this server does not accept refresh tokens (refresh_tokens.enabled is false); log in again");
    const now = Date.now();
    const parsed = parseRefreshToken(req.refreshToken.reveal());
    if (!parsed) throw new InvalidGrantError(NOT_VALID);
    const c = await app.store.get(parsed.id, now);
    if (!c || c.kind !== "refresh_token" || !sameHash(c.secretHash, parsed.secretHash)) throw new InvalidGrantError(NOT_VALID);
    const clientId = req.clientId ?? "";
    const shared = app.config.refreshTokens.sharedClientIds;
    if (clientId !== c.clientId && !(shared.has(clientId) && shared.has(c.clientId))) throw new InvalidGrantError(`the refresh token was issued to client_id ${JSON.stringify(c.clientId)}, not ${JSON.stringify(clientId)}`);
    if (req.service !== c.service) throw new InvalidGrantError(`the refresh token was issued for service ${JSON.stringify(c.service)}, not ${JSON.stringify(req.service)}`);
    const method = app.authn.method(c.method);
    if (!method) throw new InvalidGrantError(`the account was signed in by ${c.method}, which this server no longer uses; log in again`);
    if ((await method.stillExists?.(c.account)) === false) throw new InvalidGrantError(`the account ${JSON.stringify(c.account)} no longer exists in ${c.method}; log in again`);
    // A proof kept at issue that no longer matches: the password was changed since.
    if (c.proof !== "" && method.credentialProof && !sameProof(c.proof, (await method.credentialProof(c.account)) ?? ""))
      throw new InvalidGrantError(`the password of ${JSON.stringify(c.account)} was changed since this refresh token was issued; log in again`);
    const idle = app.config.refreshTokens.idleTimeoutMs;
    const result = await authorizeAndSign(app, req, { account: c.account, labels: c.labels, method: c.method, cached: false });
    if (app.config.refreshTokens.rotateClientIds.has(c.clientId)) {
      // Opt-in per client: the docker engine keeps the token from login and would be locked out (moby #39718).
      // The same binding, proof and hard expiry: a rotated token stands for the same login.
      result.refreshToken = await issueRefreshToken(app, c, now);
      if (result.refreshToken) await app.store.revoke({ id: c.id });
    } else {
      // The grant is already decided: a store that fails now costs the idle deadline its move, not the client its token.
      await app.store.touch(c.id, now, idle === null ? null : Math.min(c.expiresAt, now + idle)).catch((e: Error) =>
        app.log.warn({ event: "refresh_token_touch_failed", store: app.store.backend, reason: e.message }, "could not record a refresh token's use"),
      );
    }
    return result;
  },
};
