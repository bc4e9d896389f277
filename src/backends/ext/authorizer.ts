import type { BackendServices } from "../backend.js";
import type { ExtAuthzConfig } from "./section.js";
import { BackendError } from "../../errors.js";
import { programEnv } from "../../exec/command.js";
import { decodeOutput, excerpt, logStderr } from "../../exec/report.js";
import { ProgramFailure, ProgramRunner, type ProgramResult } from "../../exec/run-program.js";
import type { Logger } from "../../log.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "../../authz/authorizer.js";

const BACKEND = "ext_authz";

export const EXT_AUTHZ_ALLOWED = 0;
export const EXT_AUTHZ_DENIED = 1;

import { grantedSubset } from "../../authz/granted-subset.js";

/**
 * The request as docker_auth's ext_authz writes it to stdin: Go's JSON of
 * api.AuthRequestInfo, so field names are capitalised; IP is "" when unknown
 * (a unix socket). Labels are `{}` rather than Go's `null` when there are none.
 */
export function extAuthzInput(req: AuthzRequest): string {
  return JSON.stringify({
    Account: req.account,
    Type: req.type,
    Name: req.name,
    Service: req.service,
    IP: req.ip ?? "",
    Actions: req.actions,
    Labels: req.labels,
  });
}

class BadOutput extends Error {}

/** stdout after exit 0: nothing (grant what was requested) or a JSON list of actions (grant those). */
export function parseExtAuthzOutput(stdout: Buffer): readonly string[] | undefined {
  const text = decodeOutput(stdout);
  if (text === undefined) throw new BadOutput("the program's output is not valid UTF-8");
  if (text.trim() === "") return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BadOutput('the program\'s output is not valid JSON (print nothing to grant what was requested, or a list like ["pull"])');
  }
  if (!Array.isArray(v) || !v.every((a) => typeof a === "string")) throw new BadOutput('the program\'s output must be a JSON list of actions, like ["pull", "push"]');
  return v as string[];
}

/**
 * ext_authz: a program gets the request as JSON on stdin, per scope. Exit 0
 * grants the requested actions, or exactly the actions it prints as a JSON list
 * (those requested); exit 1 denies; anything else is an error (503).
 */
export class ExtAuthorizer implements Authorizer {
  readonly name = BACKEND;
  readonly #runner: ProgramRunner;
  readonly #log: Logger;

  constructor(
    readonly cfg: ExtAuthzConfig,
    log: Logger,
    env: Record<string, string> = programEnv(cfg.env),
  ) {
    this.#runner = new ProgramRunner({ path: cfg.path, args: cfg.args, env, timeoutMs: cfg.timeoutMs, maxOutputBytes: cfg.maxOutputBytes });
    this.#log = log;
  }

  get running(): number {
    return this.#runner.running;
  }

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    const fields = { backend: BACKEND, command: this.cfg.path, account: req.account, scope: `${req.type}:${req.name}:${req.actions.join(",")}` };
    let r: ProgramResult;
    try {
      r = await this.#runner.run(extAuthzInput(req));
    } catch (e) {
      if (!(e instanceof ProgramFailure)) throw e;
      logStderr(this.#log, fields, e, [], true);
      this.#log.error({ ...fields, reason: e.reason, error: e.message }, "ext_authz program failed");
      throw new BackendError(BACKEND, e.message);
    }
    const failed = r.code !== EXT_AUTHZ_ALLOWED && r.code !== EXT_AUTHZ_DENIED;
    logStderr(this.#log, { ...fields, exit: r.code }, r, [], failed);
    switch (r.code) {
      case EXT_AUTHZ_ALLOWED: {
        let listed: readonly string[] | undefined;
        try {
          listed = parseExtAuthzOutput(r.stdout);
        } catch (e) {
          if (!(e instanceof BadOutput)) throw e;
          this.#log.error({ ...fields, exit: r.code, error: e.message, stdout: excerpt(r.stdout.toString("utf8"), []) }, "ext_authz program printed unusable output");
          throw new BackendError(BACKEND, e.message);
        }
        const actions = listed === undefined ? [...req.actions] : grantedSubset(req.actions, listed);
        const ignored = listed?.filter((a) => a !== "*" && !req.actions.includes(a)) ?? [];
        this.#log.debug({ ...fields, exit: r.code, granted: actions, ...(ignored.length ? { not_requested: ignored } : {}) }, "ext_authz allowed");
        return { kind: "match", actions, rule: { source: listed === undefined ? BACKEND : `${BACKEND} (listed actions)` } };
      }
      case EXT_AUTHZ_DENIED:
        this.#log.debug({ ...fields, exit: r.code }, "ext_authz denied");
        return { kind: "match", actions: [], rule: { source: BACKEND } };
      default:
        this.#log.error({ ...fields, exit: r.code }, "ext_authz program exited with an error status");
        throw new BackendError(BACKEND, `the program exited with status ${r.code} (0 allows, 1 denies)`);
    }
  }

  async stop(): Promise<void> {
    await this.#runner.stop();
  }
}

export async function createExtAuthorizer(cfg: ExtAuthzConfig, services: BackendServices): Promise<Authorizer> {
  services.log.info({ backend: BACKEND, command: cfg.path, args: cfg.args, timeout_ms: cfg.timeoutMs, env: cfg.env.map((e) => e.name) }, "external authorizer");
  return new ExtAuthorizer(cfg, services.log);
}
