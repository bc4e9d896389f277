import { BlockList, isIP } from "node:net";
import { newEnforcer, type Enforcer } from "casbin";
import { labelMatch, parseLabelsColumn } from "./labels.js";

/** The model or policy cannot be used: which file, and why. */
export class CasbinLoadError extends Error {
  constructor(
    readonly file: "model_path" | "policy_path",
    message: string,
  ) {
    super(message);
  }
}

// Policy label columns are parsed once per distinct text, not once per enforce: the texts
// come from the policy file (bounded), and request texts are parsed fresh (not cached).
function labelMatchFunction(): (req: unknown, pol: unknown) => boolean {
  const policies = new Map<string, ReturnType<typeof parseLabelsColumn>>();
  return (req, pol) => {
    const p = String(pol ?? "");
    let policy = policies.get(p);
    if (policy === undefined && !policies.has(p)) {
      policy = parseLabelsColumn(p);
      policies.set(p, policy);
    }
    if (policy === undefined) throw new Error(`labelMatch: the policy's labels ${JSON.stringify(p.slice(0, 100))} are not a JSON object of lists`);
    const request = parseLabelsColumn(String(req ?? ""));
    if (request === undefined) throw new Error("labelMatch: the request's labels are not a JSON object of lists");
    return labelMatch(request, policy);
  };
}

/**
 * casbin's ipMatch, except that a request without an address (a unix socket) matches no
 * pattern rather than failing, and a bad pattern is an error without casbin's console output.
 */
function ipMatchFunction(): (...args: unknown[]) => boolean {
  const lists = new Map<string, BlockList>();
  return (ipArg, patternArg) => {
    const ip = String(ipArg ?? "");
    const pattern = String(patternArg ?? "");
    const family = isIP(ip);
    if (family === 0) return false;
    let list = lists.get(pattern);
    if (!list) {
      list = new BlockList();
      const [addr, bits, extra] = pattern.split("/");
      const pf = isIP(addr ?? "");
      const type = pf === 6 ? "ipv6" : "ipv4";
      if (pf === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (pf === 6 ? 128 : 32)))) {
        throw new Error(`ipMatch: ${JSON.stringify(pattern.slice(0, 100))} in the policy is not an IP address or CIDR`);
      }
      if (bits === undefined) list.addAddress(addr!, type);
      else list.addSubnet(addr!, Number(bits), type);
      lists.set(pattern, list);
    }
    return list.check(ip, family === 6 ? "ipv6" : "ipv4");
  };
}

/**
 * addFunction keeps a built-in of the same name, so the built-in ipMatch is replaced in the
 * enforcer's function map itself; checked, so that a casbin upgrade that moves it fails at load.
 */
function replaceFunction(e: Enforcer, name: string, f: (...args: unknown[]) => unknown): void {
  const functions = (e as unknown as { fm?: { getFunctions?(): Map<string, unknown> } }).fm?.getFunctions?.();
  if (!functions?.has(name)) throw new Error(`casbin's function map has no ${name} to replace (a casbin version regauth does not know)`);
  functions.set(name, f);
}

/** The position of the `labels` field in the model's policy definition, if it has one. */
function labelsColumn(e: Enforcer): number | undefined {
  const tokens = e.getModel().model.get("p")?.get("p")?.tokens ?? [];
  const i = tokens.indexOf("p_labels");
  return i < 0 ? undefined : i;
}

/**
 * An enforcer for docker_auth's casbin model: the model and policy files loaded and checked,
 * and labelMatch (docker_auth's) and ipMatch registered.
 */
export async function loadEnforcer(modelPath: string, policyPath: string): Promise<Enforcer> {
  let e: Enforcer;
  try {
    e = await newEnforcer(modelPath);
  } catch (err) {
    throw new CasbinLoadError("model_path", `cannot load the casbin model ${modelPath}: ${(err as Error).message}`);
  }
  const tokens = e.getModel().model.get("r")?.get("r")?.tokens;
  if (!tokens) throw new CasbinLoadError("model_path", `${modelPath} has no [request_definition] r = ...`);
  if (tokens.length !== 7) {
    throw new CasbinLoadError("model_path", `${modelPath}: the request is 7 values (account, type, name, service, ip, action, labels), but r = ${tokens.map((t) => t.replace(/^r_/, "")).join(", ")}`);
  }
  try {
    const { FileAdapter } = await import("casbin");
    e.setAdapter(new FileAdapter(policyPath));
    await e.loadPolicy();
  } catch (err) {
    throw new CasbinLoadError("policy_path", `cannot load the casbin policy ${policyPath}: ${(err as Error).message}`);
  }
  await e.addFunction("labelMatch", labelMatchFunction());
  replaceFunction(e, "ipMatch", ipMatchFunction());
  const col = labelsColumn(e);
  if (col !== undefined) {
    for (const rule of await e.getPolicy()) {
      if (parseLabelsColumn(rule[col] ?? "") === undefined) {
        throw new CasbinLoadError("policy_path", `${policyPath}: in "p, ${rule.join(", ").slice(0, 200)}", the labels are not a JSON object of lists; write them as "{""group"":[""dev""]}" (CSV quoting)`);
      }
    }
  }
  return e;
}
