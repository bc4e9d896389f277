import type { App } from "../app.js";
import { TooManyRequestsError, UnauthorizedError } from "../errors.js";
import { issueRefreshToken, wantsRefreshToken } from "../refresh/issue.js";
import type { TokenRequest } from "../request/token-request.js";
import { authorizeAndSign } from "./authorize-and-sign.js";
import type { Grant, IssueResult } from "./grant.js";
import type { SharedCounts } from "../limits/login-limiter.js";
import type { TokenStore } from "../stores/token-store.js";

const sharedCounts = (store: TokenStore): SharedCounts => ({
  hit: (key, windowMs) => store.hit(key, windowMs, Date.now()),
  reset: (key, windowMs) => store.resetHits(key, windowMs, Date.now()),
});

/**
 * A user name and password (Basic, or the OAuth2 form), checked by the authentication
 * chain; with `offline_token=true` (docker login) or `access_type=offline`, a refresh
 * token besides.
 */
export const passwordGrant: Grant = {
  type: "password",
  async issue(app: App, req: TokenRequest): Promise<IssueResult> {
    // Anonymous requests are not logins; a locked account or address gets no password check at all.
    const limiter = req.account !== "" ? app.limiter : undefined;
    const wait = limiter?.retryAfter(req.account, req.clientIp) ?? 0;
    if (wait > 0) throw new TooManyRequestsError(wait);
    const who = await app.authn.authenticate(req.account, req.password);
    // Replicas on a shared store (Redis, PostgreSQL) count together, and so do a node's workers on its SQLite file.
    const shared = limiter && sharedCounts(app.store);
    if (!who.ok) {
      await limiter?.failure(req.account, req.clientIp, shared);
      throw new UnauthorizedError();
    }
    // Proven: a password was sent and really checked (not a cache hit). `?account=NAME` for a user
    // without a password proves nothing and costs the shared store nothing.
    const reset = limiter?.success(req.account, shared, req.hasCredentials && !who.cached);
    if (reset) await reset;
    const result = await authorizeAndSign(app, req, { account: req.account, labels: who.labels, method: who.method, cached: who.cached });
    // The anonymous user has nothing to refresh: it can always get a token without one.
    if (wantsRefreshToken(app, req) && req.account !== "")
      result.refreshToken = await issueRefreshToken(app, { account: req.account, method: who.method, labels: who.labels, clientId: req.clientId ?? "", service: req.service });
    return result;
  },
};
