import { parseArgs } from "node:util";
import { AclAuthorizer } from "../authz/acl.js";
import { loadConfigFile } from "../config/load.js";
import { ConfigError, RegauthError } from "../errors.js";
import { parseScope, formatScope } from "../request/scope.js";
import { normalizeIp } from "../server/client-ip.js";

/**
 * `regauth explain CONFIG --account NAME [--label k=v ...] [--ip IP] [--service S] SCOPE...`:
 * which ACL entry decides each scope, and what it grants — without authenticating anyone.
 */
export async function explain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      account: { type: "string" },
      label: { type: "string", multiple: true },
      ip: { type: "string" },
      service: { type: "string", default: "" },
      "no-user-labels": { type: "boolean", default: false },
    },
  });
  const [file, ...scopes] = positionals;
  if (!file || values.account === undefined || scopes.length === 0) {
    process.stderr.write("usage: regauth explain CONFIG --account NAME [--label k=v ...] [--ip IP] [--service S] SCOPE...\n");
    return 2;
  }
  try {
    const config = await loadConfigFile(file);
    if (!config.acl) {
      process.stdout.write(`${file} has no static acl section; nothing to explain\n`);
      return 0;
    }
    const acl = new AclAuthorizer(config.acl, config.where, { literalLabelValues: config.literalLabelValues });
    const labels: Record<string, string[]> = {};
    const user = config.users?.get(values.account);
    if (user && !values["no-user-labels"]) for (const [k, v] of Object.entries(user.labels)) labels[k] = [...v];
    for (const l of values.label ?? []) {
      const eq = l.indexOf("=");
      if (eq <= 0) {
        process.stderr.write(`regauth explain: --label ${l}: expected NAME=VALUE\n`);
        return 2;
      }
      (labels[l.slice(0, eq)] ??= []).push(l.slice(eq + 1));
    }
    process.stdout.write(
      `account ${JSON.stringify(values.account)}${user ? " (a static user)" : ""}, labels ${JSON.stringify(labels)}, ip ${values.ip ?? "(none)"}, service ${JSON.stringify(values.service)}\n`,
    );
    for (const text of scopes) {
      const scope = parseScope(text);
      const r = acl.decide({
        account: values.account,
        type: scope.type,
        name: scope.name,
        service: values.service,
        ip: values.ip ? normalizeIp(values.ip) : undefined,
        actions: scope.actions,
        labels,
      });
      if (r.kind === "match") {
        const w = r.rule?.where;
        process.stdout.write(
          `${formatScope(scope, scope.actions)}\n  matched acl[${r.rule?.index}] at ${w?.file}:${w?.line}${r.rule?.comment ? ` (${r.rule.comment})` : ""}\n` +
            `  granted: ${r.actions.length ? r.actions.join(",") : "nothing (the entry allows none of the requested actions)"}\n`,
        );
      } else {
        process.stdout.write(`${formatScope(scope, scope.actions)}\n  no ACL entry matched: denied (deny by default)\n`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RegauthError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
