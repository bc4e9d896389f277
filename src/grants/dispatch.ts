import type { App } from "../app.js";
import { BadRequestError } from "../errors.js";
import type { TokenRequest } from "../request/token-request.js";
import type { Grant, IssueResult } from "./grant.js";
import { passwordGrant } from "./password.js";

const GRANTS: ReadonlyMap<string, Grant> = new Map([[passwordGrant.type, passwordGrant]]);

/** Hands a token request to its grant; one that no grant serves is a clear 400. */
export function issueToken(app: App, req: TokenRequest): Promise<IssueResult> {
  const grant = GRANTS.get(req.grant);
  if (grant) return grant.issue(app, req);
  if (req.grant === "refresh_token")
    throw new BadRequestError("grant_type=refresh_token is not supported: this server does not issue refresh tokens; send grant_type=password or Basic credentials", "UNSUPPORTED_GRANT_TYPE");
  throw new BadRequestError(`grant_type ${JSON.stringify(req.grant.slice(0, 40))} is not supported; use ${[...GRANTS.keys()].join(" or ")}`, "UNSUPPORTED_GRANT_TYPE");
}
