import { optBool, optText } from "../config/fields.js";
import type { SectionContext } from "../config/section.js";

/** regauth addition: the audit trail, one JSON record per token decision. */
export const auditShape = {
  /** Default false. */
  enabled: optBool,
  /** Where the records go: a file (appended to; every worker writes whole lines) or `-` for stdout (the default). */
  file: optText,
};

export interface AuditConfig {
  enabled: boolean;
  /** Resolved path; undefined: stdout. */
  file?: string;
}

export function buildAudit(raw: { enabled?: boolean; file?: string } | undefined, ctx: SectionContext): AuditConfig {
  const enabled = raw?.enabled ?? false;
  if (!enabled && raw?.file !== undefined) ctx.warn("audit.file is set but audit.enabled is not true: no audit records are written");
  const file = raw?.file === undefined || raw.file === "-" || raw.file === "" ? undefined : ctx.dataPath(raw.file);
  return { enabled, file };
}
