import { observed, type BackendCallObserver } from "../events/backend-call.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "./authorizer.js";

/**
 * The authorizers in config order. The first decisive answer wins; when none
 * decides, the scope is denied (empty actions), as in docker_auth.
 */
export class AuthzChain {
  constructor(
    readonly authorizers: readonly Authorizer[],
    private readonly observe?: BackendCallObserver,
  ) {}

  async authorize(req: AuthzRequest): Promise<AuthzResult & { kind: "match" }> {
    for (const a of this.authorizers) {
      const r = await observed(this.observe, a.name, () => a.authorize(req), (x) => (x.kind === "match" ? "ok" : "no_match"));
      if (r.kind === "match") return r;
    }
    return { kind: "match", actions: [], rule: { source: "default deny" } };
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.authorizers.map((a) => a.stop()));
  }
}
