import type { ConfigLocation } from "../errors.js";
import type { Labels } from "../config/types.js";

/** What an authorizer decides about: one scope of one authenticated request. */
export interface AuthzRequest {
  account: string;
  type: string;
  name: string;
  service: string;
  /** Client address, IPv4-mapped IPv6 already reduced to IPv4; undefined on a unix socket. */
  ip?: string;
  /** Requested actions, sorted. */
  actions: readonly string[];
  labels: Labels;
}

/** Which rule decided, for the request log and for `regauth explain`. */
export interface AuthzRule {
  source: string;
  index?: number;
  comment?: string;
  where?: ConfigLocation;
}

export type AuthzResult =
  | { kind: "match"; actions: readonly string[]; rule?: AuthzRule }
  | { kind: "no-match" };

/**
 * An authorization backend. Answers for one scope: the granted subset of the
 * requested actions (possibly empty), or no-match to let the next backend decide.
 * Throws a BackendError when it cannot decide at all.
 */
export interface Authorizer {
  readonly name: string;
  authorize(req: AuthzRequest): Promise<AuthzResult>;
  stop(): Promise<void>;
}
