import type { ConfigLocation } from "../errors.js";

/** What a section's builder (each backend's section.ts) may use: report problems at a key, read secrets, resolve paths. */
export interface SectionContext {
  /** Report a problem at `path` (relative to the config's top, e.g. ["ldap_auth", "addr"]). */
  add(path: readonly (string | number)[], message: string): void;
  where(path: readonly (string | number)[]): ConfigLocation;
  /** Resolve a path written in the config (relative to the working directory, as in docker_auth). */
  resolvePath(p: string): string;
  /** Resolve a path the server writes to (a database file): like resolvePath, but not a reload trigger. */
  dataPath(p: string): string;
  /** Read a secret from a file or an environment variable; reports a problem at `path` when it cannot. */
  readSecret(path: readonly (string | number)[], file: string | undefined, env: string | undefined): Promise<string | undefined>;
  warn(message: string): void;
}
