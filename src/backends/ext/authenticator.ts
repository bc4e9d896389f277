import type { BackendServices } from "../backend.js";
import type { ExtAuthConfig } from "./section.js";
import type { Labels } from "../../config/types.js";
import { BackendError } from "../../errors.js";
import { CredentialKeys, SingleFlight, TtlCache } from "../../cache/ttl-cache.js";
import { programEnv } from "../../exec/command.js";
import { decodeOutput, excerpt, logStderr } from "../../exec/report.js";
import { ProgramFailure, ProgramRunner, type ProgramResult } from "../../exec/run-program.js";
import type { Logger } from "../../log.js";
import type { Secret } from "../../secret.js";
import type { Authenticator, AuthnResult } from "../../authn/authenticator.js";

const BACKEND = "ext_auth";

/** Exit statuses of docker_auth's ext_auth contract. */
export const EXT_AUTH_ALLOWED = 0;
export const EXT_AUTH_DENIED = 1;
export const EXT_AUTH_NO_MATCH = 2;

/** Why a program's stdout on exit 0 cannot be used; the message is safe to show a client. */
class BadOutput extends Error {}

/**
 * Read the program's stdout after exit 0: nothing, or a JSON object whose `labels`
 * maps a label name to a list of strings (docker_auth's ExtAuthResponse). Other
 * keys are ignored, as Go's json.Unmarshal ignores them.
 */
export function parseExtAuthOutput(stdout: Buffer): Labels {
  const text = decodeOutput(stdout);
  if (text === undefined) throw new BadOutput("the program's output is not valid UTF-8");
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BadOutput('the program\'s output is not valid JSON (print nothing, or an object like {"labels": {"group": ["CICD"]}})');
  }
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new BadOutput('the program\'s output is JSON but not an object (expected {"labels": {...}})');
  const labels = (v as Record<string, unknown>).labels;
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== "object" || Array.isArray(labels)) throw new BadOutput('"labels" in the program\'s output must be an object of label name to list of strings');
  const out: [string, string[]][] = [];
  for (const [name, values] of Object.entries(labels)) {
    if (values === null) out.push([name, []]);
    else if (Array.isArray(values) && values.every((x) => typeof x === "string")) out.push([name, values as string[]]);
    else throw new BadOutput(`label ${JSON.stringify(name.slice(0, 100))} in the program's output must be a list of strings`);
  }
  // fromEntries defines own properties: a label named "__proto__" stays a label.
  return Object.fromEntries(out);
}

/**
 * docker_auth's stdin line is `USER PASSWORD`, with no newline. A user name with
 * whitespace, or a newline or NUL anywhere, would make that line mean something
 * else to a script that splits it (`read u p`); such credentials are not the
 * program's to judge and are left to the next method.
 */
function unambiguous(user: string, password: string): boolean {
  return !/[\s\0]/.test(user) && !/[\r\n\0]/.test(password);
}

/**
 * ext_auth: a program gets `USER PASSWORD` on stdin and answers by its exit
 * status: 0 allows (stdout may carry labels as JSON), 1 denies, 2 is no match
 * (next method), anything else is an error (503). Runs concurrently, each run
 * bounded by the timeout; identical concurrent logins share one run; answers
 * may be cached for `cache_ttl_seconds` (keyed by a digest under a per-process secret, never the password).
 */
export class ExtAuthenticator implements Authenticator {
  readonly name = BACKEND;
  readonly #runner: ProgramRunner;
  readonly #cache: TtlCache<AuthnResult>;
  readonly #flight = new SingleFlight<AuthnResult>();
  readonly #keys = new CredentialKeys();
  readonly #log: Logger;

  constructor(
    readonly cfg: ExtAuthConfig,
    log: Logger,
    maxCacheEntries: number,
    env: Record<string, string> = programEnv(cfg.env),
  ) {
    this.#runner = new ProgramRunner({ path: cfg.path, args: cfg.args, env, timeoutMs: cfg.timeoutMs, maxOutputBytes: cfg.maxOutputBytes });
    this.#cache = new TtlCache(cfg.cacheTtlMs, maxCacheEntries);
    this.#log = log;
  }

  /** Runs in flight now (for tests). */
  get running(): number {
    return this.#runner.running;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    if (!unambiguous(user, password.reveal())) {
      this.#log.debug({ backend: BACKEND, account: user }, "user name with whitespace or credentials with a newline/NUL: not passed to the program");
      return { kind: "no-match" };
    }
    const id = this.#keys.of(user, password);
    const hit = this.#cache.get(id);
    if (hit) return hit;
    return this.#flight.do(id, async () => {
      const r = await this.#ask(user, password);
      this.#cache.set(id, r);
      return r;
    });
  }

  async #ask(user: string, password: Secret): Promise<AuthnResult> {
    const secrets = [password.reveal()];
    const fields = { backend: BACKEND, command: this.cfg.path, account: user };
    let r: ProgramResult;
    try {
      r = await this.#runner.run(`${user} ${password.reveal()}`);
    } catch (e) {
      if (!(e instanceof ProgramFailure)) throw e;
      logStderr(this.#log, fields, e, secrets, true);
      this.#log.error({ ...fields, reason: e.reason, error: e.message }, "ext_auth program failed");
      throw new BackendError(BACKEND, e.message);
    }
    const failed = r.code !== EXT_AUTH_ALLOWED && r.code !== EXT_AUTH_DENIED && r.code !== EXT_AUTH_NO_MATCH;
    logStderr(this.#log, { ...fields, exit: r.code }, r, secrets, failed);
    switch (r.code) {
      case EXT_AUTH_ALLOWED:
        try {
          const labels = parseExtAuthOutput(r.stdout);
          this.#log.debug({ ...fields, exit: r.code, labels }, "ext_auth allowed");
          return { kind: "match", labels };
        } catch (e) {
          if (!(e instanceof BadOutput)) throw e;
          this.#log.error({ ...fields, exit: r.code, error: e.message, stdout: excerpt(r.stdout.toString("utf8"), secrets) }, "ext_auth program printed unusable output");
          throw new BackendError(BACKEND, e.message);
        }
      case EXT_AUTH_DENIED:
        this.#log.debug({ ...fields, exit: r.code }, "ext_auth denied");
        return { kind: "denied" };
      case EXT_AUTH_NO_MATCH:
        this.#log.debug({ ...fields, exit: r.code }, "ext_auth: no match");
        return { kind: "no-match" };
      default:
        this.#log.error({ ...fields, exit: r.code }, "ext_auth program exited with an error status");
        throw new BackendError(BACKEND, `the program exited with status ${r.code} (0 allows, 1 denies, 2 passes to the next method)`);
    }
  }

  async stop(): Promise<void> {
    this.#cache.clear();
    await this.#runner.stop();
  }
}

export async function createExtAuthenticator(cfg: ExtAuthConfig, services: BackendServices): Promise<Authenticator> {
  services.log.info({ backend: BACKEND, command: cfg.path, args: cfg.args, timeout_ms: cfg.timeoutMs, cache_ttl_ms: cfg.cacheTtlMs, env: cfg.env.map((e) => e.name) }, "external authenticator");
  return new ExtAuthenticator(cfg, services.log, services.maxCacheEntries);
}
