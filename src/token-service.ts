import type { App } from "./app.js";
import { UnauthorizedError } from "./errors.js";
import { formatScope } from "./request/scope.js";
import type { TokenRequest } from "./request/token-request.js";
import { signToken, type AccessEntry, type SignedToken } from "./token/sign.js";

export interface IssueResult {
  token: SignedToken;
  access: AccessEntry[];
  method: string;
  cached: boolean;
  /** For the request log: which rule decided each scope. */
  rules: string[];
}

/**
 * A token request's path, top to bottom: authenticate, authorize each scope,
 * sign. A denied scope stays in the token with no actions.
 */
export async function issueToken(app: App, req: TokenRequest): Promise<IssueResult> {
  const who = await app.authn.authenticate(req.account, req.password);
  if (!who.ok) throw new UnauthorizedError();
  const access: AccessEntry[] = [];
  const rules: string[] = [];
  for (const scope of req.scopes) {
    const decision = await app.authz.authorize({
      account: req.account,
      type: scope.type,
      name: scope.name,
      service: req.service,
      ip: req.clientIp,
      actions: scope.actions,
      labels: who.labels,
    });
    access.push({ type: scope.type, class: scope.class, name: scope.name, actions: decision.actions });
    const r = decision.rule;
    rules.push(`${formatScope(scope, scope.actions)} <- ${r?.source ?? "?"}${r?.index !== undefined ? ` #${r.index}` : ""}`);
  }
  const token = await signToken(app.key, {
    issuer: app.config.token.issuer,
    subject: req.account,
    audience: req.service,
    lifetimeSeconds: app.config.token.expiration,
    access,
  });
  return { token, access, method: who.method, cached: who.cached, rules };
}
