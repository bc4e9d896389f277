import type { Enforcer } from "casbin";
import type { AuthzRequest, AuthzResult, Authorizer } from "../../authz/authorizer.js";
import { BackendError } from "../../errors.js";
import { labelsJson } from "./labels.js";

/**
 * casbin_authz: one enforce per requested action with docker_auth's request tuple
 * (account, type, name, service, ip, action, labels as JSON). Its answer is final, as in
 * docker_auth: the actions it allows, possibly none, never "no match".
 */
export class CasbinAuthorizer implements Authorizer {
  readonly name = "casbin_authz";

  constructor(
    private readonly enforcer: Enforcer,
    private readonly policyPath: string,
  ) {}

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    return this.decide(req);
  }

  decide(req: AuthzRequest): AuthzResult {
    const labels = labelsJson(req.labels);
    const ip = req.ip ?? "";
    const allowed: string[] = [];
    for (const action of req.actions) {
      let ok: boolean;
      try {
        ok = this.enforcer.enforceSync(req.account, req.type, req.name, req.service, ip, action, labels);
      } catch (e) {
        // docker_auth drops this error and denies; a policy that cannot be evaluated is the operator's to know.
        throw new BackendError(this.name, `cannot evaluate ${this.policyPath} for ${req.type}:${req.name}:${action}: ${(e as Error).message}`, {
          cause: e,
          publicMessage: `${this.name}: the access policy cannot be evaluated for this request; ask an administrator`,
        });
      }
      if (ok) allowed.push(action);
    }
    return { kind: "match", actions: allowed, rule: { source: this.name, where: { file: this.policyPath } } };
  }

  async stop(): Promise<void> {}
}
