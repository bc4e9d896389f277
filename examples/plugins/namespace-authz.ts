/**
 * Example plugin_authz: every user owns the namespace named after them, and members of
 * an admin group may do anything; everything else is left to the next authorizer
 * (no-match), so it combines with the static ACL (which is asked first).
 *
 *   plugin_authz:
 *     plugin_path: "dist/examples/plugins/namespace-authz.js"   # compiled by `npx tsc -p .`
 *     options:
 *       admin_group: "admins"     # label group value that may do anything (optional)
 *
 * The default export here is the Authorizer object itself (no factory), which also
 * works; a factory is the way to read `options`, as this one does.
 */
import type { AuthorizerFactory, Authorizer, AuthzRequest, AuthzResult } from "../../src/plugins/api.js";

function create(adminGroup: string | undefined): Authorizer {
  return {
    name: "namespaces",
    async authorize(req: AuthzRequest): Promise<AuthzResult> {
      if (adminGroup !== undefined && req.labels.group?.includes(adminGroup))
        return { kind: "match", actions: req.actions, rule: { source: "admin group", comment: adminGroup } };
      if (req.type === "repository" && req.account !== "" && req.name.startsWith(`${req.account}/`))
        // Grant only what was asked for (regauth drops anything else anyway).
        return { kind: "match", actions: req.actions.filter((a) => a === "pull" || a === "push"), rule: { source: "own namespace" } };
      return { kind: "no-match" };
    },
    async stop() {},
  };
}

const factory: AuthorizerFactory = (ctx) => {
  const g = ctx.options.admin_group;
  if (g !== undefined && typeof g !== "string") throw new Error("options.admin_group must be a string");
  return create(g);
};
export default factory;
