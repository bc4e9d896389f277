import type { Logger } from "../log.js";
import { ProgramFailure, type ProgramResult } from "./run-program.js";

/** Replace every occurrence of each secret by `***` (program output may echo a password). */
export function redact(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join("***");
  return out;
}

/** The start of some text for a log line, secrets removed. */
export function excerpt(s: string, secrets: readonly string[], max = 512): string {
  const r = redact(s, secrets);
  return r.length > max ? `${r.slice(0, max)}… (${r.length - max} more characters)` : r;
}

/**
 * Log what a program wrote on stderr: at `info` after a normal answer, at
 * `warn` when the answer was an error (the error itself is logged by the caller).
 * The program's stderr never reaches regauth's stdout.
 */
export function logStderr(log: Logger, fields: Record<string, unknown>, r: Pick<ProgramResult, "stderr" | "stderrDropped"> | ProgramFailure, secrets: readonly string[], failed: boolean): void {
  const stderr = r.stderr;
  if (stderr.length === 0) return;
  const entry = { ...fields, stderr: redact(stderr, secrets), ...("stderrDropped" in r && r.stderrDropped ? { stderr_dropped_bytes: r.stderrDropped } : {}) };
  if (failed) log.warn(entry, "program stderr");
  else log.info(entry, "program stderr");
}

/** UTF-8 text of a program's stdout, or undefined when it is not valid UTF-8. */
export function decodeOutput(b: Buffer): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}
