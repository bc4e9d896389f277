import { stat } from "node:fs/promises";
import { extname } from "node:path";
import { z } from "zod";
import type { SectionContext } from "../../config/section.js";
import { nullIsAbsent, optNumber, optText, plainValue } from "../../config/fields.js";
import { DEFAULT_TIMEOUT_SECONDS } from "../ext/section.js";

/** plugin_authn / plugin_authz: a JS module exporting an authenticator or authorizer. */
export interface PluginConfig {
  /** The section key (plugin_authn or plugin_authz). */
  key: string;
  /** `plugin_path` as written. */
  written: string;
  /** The module, resolved at load (absolute). */
  pluginPath: string;
  /** `options`: handed to the plugin's factory as plain values. */
  options: Readonly<Record<string, unknown>>;
  /** `timeout_seconds` (default 5): a call that takes longer fails with a 503. */
  timeoutMs: number;
}

export const pluginShape = {
  /** docker_auth's key; here it names a JavaScript module (a Go .so is refused). */
  plugin_path: optText,
  /** regauth addition: settings for the plugin, passed to its factory. */
  options: z.preprocess(nullIsAbsent(), z.record(z.string(), z.unknown()).optional()),
  /** regauth addition: the longest a call into the plugin may take. */
  timeout_seconds: optNumber,
};

export type RawPlugin = z.infer<z.ZodObject<typeof pluginShape>>;

const JS_EXTENSIONS = new Set([".js", ".mjs", ".cjs"]);
const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts"]);

/** True when this Node loads TypeScript by itself (type stripping: Node 22.18+, 23.6+, or with --experimental-strip-types). */
export function nodeLoadsTypeScript(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript);
}

export async function buildPlugin(key: string, raw: RawPlugin, ctx: SectionContext): Promise<PluginConfig> {
  const at = [key, "plugin_path"];
  const written = raw.plugin_path ?? "";
  let pluginPath = "";
  let timeoutMs = DEFAULT_TIMEOUT_SECONDS * 1000;
  if (raw.timeout_seconds !== undefined) {
    if (!(raw.timeout_seconds > 0) || raw.timeout_seconds > 3600) ctx.add([key, "timeout_seconds"], "must be more than 0 and at most 3600 (seconds; fractions allowed)");
    else timeoutMs = Math.round(raw.timeout_seconds * 1000);
  }
  if (written === "") ctx.add(raw.plugin_path === undefined ? [key] : at, "plugin_path is not set: name a JavaScript module that exports the plugin");
  else {
    const ext = extname(written).toLowerCase();
    if (ext === ".so")
      ctx.add(at, `${written} is a Go plugin (.so); regauth plugins are JavaScript modules (.js, .mjs, .cjs, or .ts where Node loads TypeScript) exporting the same interface as the built-in backends: see examples/plugins/`);
    else if (TS_EXTENSIONS.has(ext) && !nodeLoadsTypeScript())
      ctx.add(at, `${written} is TypeScript, which Node ${process.version} cannot load by itself: compile it to JavaScript (tsc) and name the .js file, or run Node 22.18 or later`);
    else if (!JS_EXTENSIONS.has(ext) && !TS_EXTENSIONS.has(ext)) ctx.add(at, `${written} is not a JavaScript module: name a .js, .mjs or .cjs file (or .ts where Node loads TypeScript)`);
    else {
      const p = ctx.resolvePath(written);
      const st = await stat(p).catch((e: NodeJS.ErrnoException) => e.code ?? e.message);
      if (typeof st === "string") ctx.add(at, `${written} ${st === "ENOENT" ? "does not exist" : `cannot be read: ${st}`}`);
      else if (!st.isFile()) ctx.add(at, `${written} is not a file`);
      else pluginPath = p;
    }
  }
  return { key, written, pluginPath, options: plainValue(raw.options ?? {}) as Record<string, unknown>, timeoutMs };
}
