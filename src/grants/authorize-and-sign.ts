import type { App } from "../app.js";
import type { Labels } from "../config/types.js";
import { formatScope } from "../request/scope.js";
import type { TokenRequest } from "../request/token-request.js";
import type { AccessEntry } from "../token/sign.js";
import type { IssueResult } from "./grant.js";

/**
 * What every grant ends with once it knows who is asking: authorize each scope, then
 * sign. A denied scope stays in the token with no actions (docker_auth).
 */
export async function authorizeAndSign(app: App, req: TokenRequest, who: { account: string; labels: Labels; method: string; cached: boolean }): Promise<IssueResult> {
  const access: AccessEntry[] = [];
  const rules: string[] = [];
  for (const scope of req.scopes) {
    const decision = await app.authz.authorize({
      account: who.account,
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
  const token = await app.signer.sign({
    issuer: app.config.token.issuer,
    subject: who.account,
    audience: req.service,
    lifetimeSeconds: app.config.token.expiration,
    access,
  });
  return { account: who.account, token, access, method: who.method, cached: who.cached, rules };
}
