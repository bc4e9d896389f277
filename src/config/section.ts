import type { z } from "zod";
import type { ConfigLocation } from "../errors.js";

/** What a section's builder may use: report problems at a key, read secrets, resolve paths. */
export interface SectionContext {
  /** Report a problem at `path` (relative to the config's top, e.g. ["ldap_auth", "addr"]). */
  add(path: readonly (string | number)[], message: string): void;
  where(path: readonly (string | number)[]): ConfigLocation;
  /** Resolve a path written in the config (relative to the working directory, as in docker_auth). */
  resolvePath(p: string): string;
  /** Read a secret from a file or an environment variable; reports a problem at `path` when it cannot. */
  readSecret(path: readonly (string | number)[], file: string | undefined, env: string | undefined): Promise<string | undefined>;
  warn(message: string): void;
}

/**
 * One optional top-level config section for a backend (`ldap_auth`, `ext_auth`, ...):
 * its schema, and how the validated YAML becomes a typed object. Registered in
 * sections/index.ts; its backend is registered in src/backends.ts.
 */
export interface SectionDef<Raw = any, T = unknown> {
  key: string;
  /** False until the backend lands: the section is then refused with a message, never ignored. */
  implemented: boolean;
  /** What the section provides, for docker_auth's "no auth methods" / "ACL is empty" checks. */
  provides: "authn" | "authz";
  /** The zod shape of the section's mapping (read strictly: unknown keys are errors). */
  shape: z.ZodRawShape;
  /** Shapes of nested mappings, by path inside the section (e.g. "labels.*"), for typo suggestions. */
  nestedShapes?: Record<string, z.ZodRawShape>;
  build(raw: Raw, ctx: SectionContext): Promise<T> | T;
}
