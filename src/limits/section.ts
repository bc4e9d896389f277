import { durationMs } from "../config/duration.js";
import { optBool, optDuration, optInt } from "../config/fields.js";
import type { SectionContext } from "../config/section.js";
import type { FailureLimit } from "./login-limiter.js";

/** regauth addition: failed-login limits per account and per client address. */
export const loginLimitsShape = {
  /** Default true. */
  enabled: optBool,
  /** Failed logins of one account within `window` that lock it (default 10). */
  account_failures: optInt,
  /** Failed logins from one client address within `window` that lock it (default 100). */
  address_failures: optInt,
  /** The sliding window (default 5m). */
  window: optDuration,
  /** The first lockout (default 30s); each next one doubles, up to max_lockout. */
  lockout: optDuration,
  max_lockout: optDuration,
  /** Most accounts and addresses tracked at once, each (default 100000). */
  max_tracked: optInt,
};

export interface LoginLimitsConfig {
  enabled: boolean;
  account: FailureLimit;
  address: FailureLimit;
  maxTracked: number;
}

type Raw = { enabled?: boolean; account_failures?: number; address_failures?: number; window?: string | number; lockout?: string | number; max_lockout?: string | number; max_tracked?: number };

export function buildLoginLimits(raw: Raw | undefined, ctx: SectionContext): LoginLimitsConfig {
  const at = (k: string) => ["login_limits", k];
  const windowMs = durationMs(ctx, at("window"), raw?.window, 5 * 60_000);
  const lockoutMs = durationMs(ctx, at("lockout"), raw?.lockout, 30_000);
  const maxLockoutMs = durationMs(ctx, at("max_lockout"), raw?.max_lockout, 15 * 60_000);
  const accountFailures = raw?.account_failures ?? 10;
  const addressFailures = raw?.address_failures ?? 100;
  const maxTracked = raw?.max_tracked ?? 100_000;
  for (const [k, v] of [["account_failures", accountFailures], ["address_failures", addressFailures]] as const) if (v < 1 || v > 1_000_000) ctx.add(at(k), "must be between 1 and 1000000");
  if (maxLockoutMs < lockoutMs) ctx.add(at("max_lockout"), "must be at least lockout");
  if (maxTracked < 100 || maxTracked > 10_000_000) ctx.add(at("max_tracked"), "must be between 100 and 10000000");
  const limit = (maxFailures: number): FailureLimit => ({ maxFailures, windowMs, lockoutMs, maxLockoutMs });
  return { enabled: raw?.enabled ?? true, account: limit(accountFailures), address: limit(addressFailures), maxTracked };
}
