// What a section builder sees of the config loader, for testing a section on its own: it
// records the problems the builder reports instead of collecting them into a ConfigError.
import { readFile } from "node:fs/promises";
import type { SectionContext } from "../../src/config/section.js";

export interface Issue {
  path: (string | number)[];
  message: string;
}

/** The part of the config loader a section builder sees, recording the problems it reports. */
export function fakeContext(): SectionContext & { issues: Issue[] } {
  const issues: Issue[] = [];
  return {
    issues,
    add: (path, message) => void issues.push({ path: [...path], message }),
    where: (path) => ({ file: "config.yml", key: path.join(".") }),
    resolvePath: (p) => p,
    dataPath: (p) => p,
    async readSecret(path, file, env) {
      if (file !== undefined) {
        try {
          return (await readFile(file, "utf8")).trim();
        } catch (e) {
          issues.push({ path: [...path], message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code}` });
          return undefined;
        }
      }
      if (env === undefined) return undefined;
      const v = process.env[env];
      if (v === undefined) issues.push({ path: [...path], message: `environment variable ${env} is not set` });
      return v?.trim();
    },
    warn: () => {},
  };
}
