import { parseArgs } from "node:util";
import { backendServices } from "../app.js";
import { RefusalCost } from "../authn/refusal-cost.js";
import { AclAuthorizer } from "../authz/acl.js";
import type { Authorizer, AuthzRule } from "../authz/authorizer.js";
import { AuthzChain } from "../authz/chain.js";
import { BACKENDS } from "../backends/registry.js";
import type { Config } from "../config/types.js";
import { loadConfigFile } from "../config/load.js";
import { ConfigError, RegauthError } from "../errors.js";
import { parseScope, formatScope } from "../request/scope.js";
import { normalizeIp } from "../server/client-ip.js";
import { createLogger } from "../log.js";

/**
 * `regauth explain CONFIG --account NAME [--label k=v ...] [--ip IP] [--service S] SCOPE...`:
 * which ACL entry decides each scope, and what it grants — without authenticating anyone.
 * The whole authorization chain is asked, in the server's order: the static ACL, then the
 * database ACLs (read now), ext_authz, plugins and casbin.
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
    const started = await startAuthorizers(config);
    try {
      if (started.authorizers.length === 0) {
        process.stdout.write(`${file} has no acl or other authorization section; nothing to explain\n`);
        return 0;
      }
      return await explainScopes(config, new AuthzChain(started.authorizers), { ...values, account: values.account }, scopes);
    } finally {
      await started.stop();
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RegauthError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** The authorizers of the config, started as the server starts them (a database ACL is read). */
async function startAuthorizers(config: Config): Promise<{ authorizers: Authorizer[]; stop(): Promise<void> }> {
  const authorizers: Authorizer[] = [];
  // What holds connections and threads is stopped: the backends (their authorizers with them) and the static ACL.
  const running: { stop(): Promise<void> }[] = [];
  const stop = async () => void (await Promise.allSettled(running.map((r) => r.stop())));
  if (config.acl) {
    const acl = new AclAuthorizer(config.acl, config.where, { literalLabelValues: config.literalLabelValues });
    running.push(acl);
    authorizers.push(acl);
  }
  const servicesFor = backendServices(config, createLogger("warn"), new RefusalCost([]));
  try {
    for (const module of BACKENDS) {
      if (module.role !== "authz" || !config.sections.has(module.key)) continue;
      const backend = await module.create(config.sections.get(module.key), servicesFor(module));
      running.push(backend);
      if (backend.authorizer) authorizers.push(backend.authorizer);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { authorizers, stop };
}

/** Where a rule is, in words: `acl[1] at FILE:LINE`, `acl_xorm seq 30 in DB`, `casbin_authz (POLICY)`. */
function describeRule(rule: AuthzRule | undefined): string {
  if (!rule) return "an authorizer";
  const w = rule.where;
  if (rule.source === "static ACL") return `acl[${rule.index}] at ${w?.file}:${w?.line}`;
  if (rule.index !== undefined) return `${rule.source} seq ${rule.index} in ${w?.file}`;
  return w?.file ? `${rule.source} (${w.file})` : rule.source;
}

interface ExplainFlags {
  account: string;
  label?: string[];
  ip?: string;
  service?: string;
  "no-user-labels"?: boolean;
}

async function explainScopes(config: Config, chain: AuthzChain, values: ExplainFlags, scopes: string[]): Promise<number> {
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
    const r = await chain.authorize({
      account: values.account,
      type: scope.type,
      name: scope.name,
      service: values.service ?? "",
      ip: values.ip ? normalizeIp(values.ip) : undefined,
      actions: scope.actions,
      labels,
    });
    if (r.rule?.source === "default deny") {
      process.stdout.write(`${formatScope(scope, scope.actions)}\n  no ACL entry matched: denied (deny by default)\n`);
    } else {
      process.stdout.write(
        `${formatScope(scope, scope.actions)}\n  matched ${describeRule(r.rule)}${r.rule?.comment ? ` (${r.rule.comment})` : ""}\n` +
          `  granted: ${r.actions.length ? r.actions.join(",") : "nothing (the entry allows none of the requested actions)"}\n`,
      );
    }
  }
  return 0;
}
