import { optText } from "../../config/fields.js";
import type { SectionContext } from "../../config/section.js";

export const sqliteShape = {
  /** The database file; default `regauth.db` in the data directory. */
  path: optText,
};

export interface SqliteStoreConfig {
  path: string;
}

/**
 * The data directory: `$REGAUTH_DATA_DIR`, else `regauth-data` under the working directory (as for the embedded default config) (the
 * container image sets REGAUTH_DATA_DIR=/var/lib/regauth, a volume).
 */
export const dataDir = () => process.env.REGAUTH_DATA_DIR || "regauth-data";

export function buildSqlite(raw: { path?: string } | undefined, ctx: SectionContext): SqliteStoreConfig {
  const path = raw?.path ?? `${dataDir()}/regauth.db`;
  if (path.trim() === "") ctx.add(["token_store", "sqlite", "path"], "must name a file (or leave it out for regauth.db in the data directory)");
  return { path: ctx.dataPath(path) };
}
