import type { App } from "../app.js";
import { BadRequestError } from "../errors.js";
import type { TokenRequest } from "../request/token-request.js";
import type { Grant, IssueResult } from "./grant.js";
import { passwordGrant } from "./password.js";
import { refreshGrant } from "./refresh.js";

const GRANTS: ReadonlyMap<string, Grant> = new Map([passwordGrant, refreshGrant].map((g) => [g.type, g]));

/** Whether a grant_type is one regauth serves (metrics label only those: clients send anything). */
export const isServedGrant = (type: string): boolean => GRANTS.has(type);

/** Hands a token request to its grant; one that no grant serves is a clear 400. */
export function issueToken(app: App, req: TokenRequest): Promise<IssueResult> {
  const grant = GRANTS.get(req.grant);
  if (grant) return grant.issue(app, req);
  throw new BadRequestError(`grant_type ${JSON.stringify(req.grant.slice(0, 40))} is not supported; use ${[...GRANTS.keys()].join(" or ")}`, "UNSUPPORTED_GRANT_TYPE");
}
