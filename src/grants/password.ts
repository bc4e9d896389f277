import type { App } from "../app.js";
import { UnauthorizedError } from "../errors.js";
import type { TokenRequest } from "../request/token-request.js";
import { authorizeAndSign } from "./authorize-and-sign.js";
import type { Grant, IssueResult } from "./grant.js";

/** A user name and password (Basic, or the OAuth2 form), checked by the authentication chain. */
export const passwordGrant: Grant = {
  type: "password",
  async issue(app: App, req: TokenRequest): Promise<IssueResult> {
    const who = await app.authn.authenticate(req.account, req.password, req.hasCredentials);
    if (!who.ok) throw new UnauthorizedError();
    return authorizeAndSign(app, req, { account: req.account, labels: who.labels, method: who.method, cached: who.cached });
  },
};
