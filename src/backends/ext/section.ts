import type { z } from "zod";
import { checkInterpreter, parseEnvEntry, programEnv, resolveCommand, type EnvEntry } from "../../exec/command.js";
import { optNumber, optText, optTextList } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";

/** What ext_auth and ext_authz share: the program and how it is run. */
export interface ExtProgramConfig {
  /** `command` as written. */
  command: string;
  /** The executable, resolved at load (absolute). */
  path: string;
  args: readonly string[];
  /** `timeout_seconds` (default 5) in milliseconds. */
  timeoutMs: number;
  /** `max_output_bytes` (default 1 MiB): more stdout kills the run. */
  maxOutputBytes: number;
  /** `env`: variables passed on top of the base set (PATH, HOME, LANG, LC_*, TZ, TMPDIR). */
  env: readonly EnvEntry[];
}

/** ext_auth: an external program decides logins (docker_auth's contract). */
export interface ExtAuthConfig extends ExtProgramConfig {
  /** `cache_ttl_seconds` (default 0, off): how long the program's answer for a user+password is reused. */
  cacheTtlMs: number;
}

/** ext_authz: an external program decides access. */
export interface ExtAuthzConfig extends ExtProgramConfig {}

export const DEFAULT_TIMEOUT_SECONDS = 5;
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

const programShape = {
  command: optText,
  args: optTextList,
  /** regauth addition: kill the program after this many seconds (default 5). */
  timeout_seconds: optNumber,
  /** regauth addition: the most stdout accepted, in bytes (default 1 MiB). */
  max_output_bytes: optNumber,
  /** regauth addition: environment variables passed to the program (`NAME` or `NAME=value`). */
  env: optTextList,
};

export const extAuthShape = {
  ...programShape,
  /** regauth addition: reuse the program's answer (allow, deny, no match) for this many seconds (default 0: off). */
  cache_ttl_seconds: optNumber,
};

export const extAuthzShape = programShape;

export type RawProgram = z.infer<z.ZodObject<typeof programShape>>;
export type RawExtAuth = z.infer<z.ZodObject<typeof extAuthShape>>;

export async function buildProgram(key: string, raw: RawProgram, ctx: SectionContext): Promise<ExtProgramConfig> {
  const at = (...p: (string | number)[]) => [key, ...p];
  const env: EnvEntry[] = [];
  (raw.env ?? []).forEach((written, i) => {
    const e = parseEnvEntry(written);
    if (!e) ctx.add(at("env", i), `${JSON.stringify(written)} is not NAME or NAME=value (a name is letters, digits and _, not starting with a digit)`);
    else {
      if (e.value === undefined && process.env[e.name] === undefined) ctx.warn(`${key}.env: ${e.name} is not set in regauth's environment; the program will not get it`);
      env.push(e);
    }
  });

  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  if (raw.timeout_seconds !== undefined) {
    if (!(raw.timeout_seconds > 0) || raw.timeout_seconds > 3600) ctx.add(at("timeout_seconds"), "must be more than 0 and at most 3600 (seconds; fractions allowed)");
    else timeoutSeconds = raw.timeout_seconds;
  }
  let maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES;
  if (raw.max_output_bytes !== undefined) {
    if (!Number.isInteger(raw.max_output_bytes) || raw.max_output_bytes < 1 || raw.max_output_bytes > 64 * 1024 * 1024)
      ctx.add(at("max_output_bytes"), "must be a whole number of bytes from 1 to 67108864 (64 MiB)");
    else maxOutputBytes = raw.max_output_bytes;
  }

  // docker_auth: "command is not set" / exec.LookPath at validation. Resolved once here,
  // so `regauth check` refuses a program that is missing or not executable.
  let path = "";
  if (raw.command === undefined || raw.command === "") ctx.add(raw.command === undefined ? [key] : at("command"), "command is not set: name the program to run (a path, or a name found in PATH)");
  else {
    const r = await resolveCommand(raw.command, ctx.resolvePath, process.env.PATH);
    if ("error" in r) ctx.add(at("command"), `invalid command: ${r.error}`);
    else {
      path = r.path;
      const bad = await checkInterpreter(path, programEnv(env).PATH);
      if (bad) ctx.add(at("command"), `${raw.command} cannot run: ${bad}`);
    }
  }
  return { command: raw.command ?? "", path, args: raw.args ?? [], timeoutMs: Math.round(timeoutSeconds * 1000), maxOutputBytes, env };
}

export async function buildExtAuth(raw: RawExtAuth, ctx: SectionContext): Promise<ExtAuthConfig> {
  const program = await buildProgram("ext_auth", raw, ctx);
  let cacheTtlMs = 0;
  if (raw.cache_ttl_seconds !== undefined) {
    if (!(raw.cache_ttl_seconds >= 0) || raw.cache_ttl_seconds > 3600) ctx.add(["ext_auth", "cache_ttl_seconds"], "must be 0 (off) to 3600 seconds");
    else cacheTtlMs = Math.round(raw.cache_ttl_seconds * 1000);
  }
  return { ...program, cacheTtlMs };
}
