import { optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";
import { ConfigError } from "../../errors.js";
import { authorizerBackend, type BackendModule } from "../backend.js";
import { CasbinAuthorizer } from "./authorizer.js";
import { CasbinLoadError, loadEnforcer } from "./enforcer.js";

const shape = {
  /** The casbin model (.conf); docker_auth's example is examples/casbin/model.conf. */
  model_path: optText,
  /** The policy (.csv), read whole at start and at every reload. */
  policy_path: optText,
};

interface RawCasbin {
  model_path?: string;
  policy_path?: string;
}

export interface CasbinConfig {
  modelPath: string;
  policyPath: string;
}

async function build(raw: RawCasbin, ctx: SectionContext): Promise<CasbinConfig> {
  const config = { modelPath: "", policyPath: "" };
  if (raw.model_path === undefined) ctx.add(["casbin_authz"], "model_path is required (a casbin model file, such as examples/casbin/model.conf)");
  else config.modelPath = ctx.resolvePath(raw.model_path);
  if (raw.policy_path === undefined) ctx.add(["casbin_authz"], "policy_path is required (a casbin policy CSV file)");
  else config.policyPath = ctx.resolvePath(raw.policy_path);
  if (config.modelPath && config.policyPath) {
    // Loaded here too, so that a broken file is refused at load (and at reload, keeping the running config).
    try {
      await loadEnforcer(config.modelPath, config.policyPath);
    } catch (e) {
      if (!(e instanceof CasbinLoadError)) throw e;
      ctx.add(["casbin_authz", e.file], e.message);
    }
  }
  return config;
}

/** casbin_authz: docker_auth's casbin authorizer (model + CSV policy files). */
export const casbinAuthzBackend: BackendModule<RawCasbin, CasbinConfig> = {
  key: "casbin_authz",
  role: "authz",
  shape,
  build,
  async create(config, services) {
    let enforcer;
    try {
      enforcer = await loadEnforcer(config.modelPath, config.policyPath);
    } catch (e) {
      if (!(e instanceof CasbinLoadError)) throw e;
      throw new ConfigError([{ ...services.where(["casbin_authz", e.file]), message: e.message }]);
    }
    services.log.info({ backend: "casbin_authz", model: config.modelPath, policy: config.policyPath, rules: (await enforcer.getPolicy()).length }, "casbin policy");
    return authorizerBackend(new CasbinAuthorizer(enforcer, config.policyPath));
  },
};
