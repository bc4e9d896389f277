import { constants } from "node:fs";
import { access, open, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/**
 * Variables every program gets from regauth's environment (when set there): what a
 * script needs to find its tools and read text, and nothing secret. Anything else
 * must be listed in the section's `env`.
 */
export const BASE_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"] as const;

/** One `env` entry: `NAME` (copied from regauth's environment) or `NAME=value` (this value). */
export interface EnvEntry {
  name: string;
  value?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Read an `env` entry as written; undefined when the name is not a valid variable name. */
export function parseEnvEntry(written: string): EnvEntry | undefined {
  const eq = written.indexOf("=");
  const name = eq < 0 ? written : written.slice(0, eq);
  if (!ENV_NAME.test(name)) return undefined;
  return eq < 0 ? { name } : { name, value: written.slice(eq + 1) };
}

/** The whole environment a program runs with: the base set, then the configured entries. */
export function programEnv(entries: readonly EnvEntry[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of BASE_ENV) {
    const v = from[name];
    if (v !== undefined) env[name] = v;
  }
  for (const e of entries) {
    const v = e.value ?? from[e.name];
    if (v !== undefined) env[e.name] = v;
  }
  return env;
}

async function isExecutableFile(p: string): Promise<string | undefined> {
  let st;
  try {
    st = await stat(p);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : `cannot be read: ${(e as NodeJS.ErrnoException).code}`;
  }
  if (st.isDirectory()) return "is a directory";
  if (!st.isFile()) return "is not a regular file";
  try {
    await access(p, constants.X_OK);
  } catch {
    return "is not executable (chmod +x)";
  }
  return undefined;
}

/**
 * Find a command as exec.LookPath does: a name with a slash is a path (relative to
 * the working directory, resolved by `resolvePath`); a bare name is looked up in
 * PATH (relative PATH entries are skipped, as Go 1.19+ does).
 */
export async function resolveCommand(command: string, resolvePath: (p: string) => string, pathVar: string | undefined): Promise<{ path: string } | { error: string }> {
  if (command === "") return { error: "must name a program" };
  if (command.includes("/")) {
    const p = resolve(resolvePath(command));
    const why = await isExecutableFile(p);
    return why ? { error: `${command} ${why}` } : { path: p };
  }
  const dirs = (pathVar ?? "").split(delimiter).filter((d) => d !== "" && isAbsolute(d));
  let found: string | undefined;
  for (const d of dirs) {
    const p = join(d, command);
    const why = await isExecutableFile(p);
    if (!why) return { path: p };
    if (why !== "does not exist" && why !== "is a directory") found ??= `${p} ${why}`;
  }
  return { error: found ?? `"${command}" is not found in PATH (${dirs.join(delimiter) || "empty"})` };
}

/**
 * A script whose `#!` interpreter is missing fails only when run, with a bare
 * ENOENT. Check the interpreter at load instead: an absolute path, or for
 * `#!/usr/bin/env NAME` the name in the program's PATH.
 */
export async function checkInterpreter(program: string, pathVar: string | undefined): Promise<string | undefined> {
  let head: string;
  try {
    const fh = await open(program, "r");
    try {
      const buf = Buffer.alloc(256);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead).toString("latin1");
    } finally {
      await fh.close();
    }
  } catch {
    // Executable but not readable: the kernel may still run it.
    return undefined;
  }
  if (!head.startsWith("#!")) return undefined;
  const line = head.slice(2).split("\n")[0]!.trim();
  const [interp, ...rest] = line.split(/[ \t]+/);
  if (!interp) return "its #! line names no interpreter";
  const why = await isExecutableFile(interp);
  if (why) return `its #! interpreter ${interp} ${why}`;
  if (interp.endsWith("/env")) {
    const name = rest.find((a) => !a.startsWith("-") && !a.includes("="));
    if (name && !name.includes("/")) {
      const r = await resolveCommand(name, (p) => p, pathVar);
      if ("error" in r) return `its #! line runs "${name}" through env, which the program's PATH does not have: ${r.error}`;
    }
  }
  return undefined;
}
