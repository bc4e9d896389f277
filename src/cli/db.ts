import { parseArgs } from "node:util";
import { ConnStringError, DATABASE_TYPES, parseConnString, type DatabaseType } from "../backends/xorm/conn-string.js";
import { openXorm } from "../backends/xorm/index.js";
import { XORM_DEFAULTS, type XormConfig } from "../backends/xorm/section.js";
import { createTables, schemaFile } from "../backends/xorm/tables.js";
import { loadConfigFile } from "../config/load.js";
import { ConfigError, RegauthError } from "../errors.js";
import { createLogger } from "../log.js";

const USAGE = `usage: regauth db init CONFIG
       regauth db init --database-type mysql|postgres|sqlite3 --conn-string STRING
       regauth db schema mysql|postgres|sqlite3
`;

/**
 * `regauth db init`: create docker_auth's xorm tables (xorm_user, xorm_acl_entry) where the
 * config's xorm_auth and acl_xorm sections point, or where the flags say. Only when asked:
 * the server never creates or changes a table. `db schema` prints the SQL instead.
 */
export async function db(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "schema") {
    const type = rest[0] as DatabaseType;
    if (!(DATABASE_TYPES as readonly string[]).includes(type)) {
      process.stderr.write(USAGE);
      return 2;
    }
    const { readFile } = await import("node:fs/promises");
    process.stdout.write(await readFile(schemaFile(type), "utf8"));
    return 0;
  }
  if (sub !== "init") {
    process.stderr.write(USAGE);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { "database-type": { type: "string" }, "conn-string": { type: "string" } } });
  const targets: XormConfig[] = [];
  try {
    if (values["database-type"] !== undefined || values["conn-string"] !== undefined) {
      const type = values["database-type"] as DatabaseType;
      if (!(DATABASE_TYPES as readonly string[]).includes(type) || values["conn-string"] === undefined || positionals.length) {
        process.stderr.write(USAGE);
        return 2;
      }
      const target = parseConnString(type, values["conn-string"]);
      targets.push({ databaseType: type, target, description: "", queryTimeoutMs: XORM_DEFAULTS.queryTimeoutMs, connectTimeoutMs: XORM_DEFAULTS.connectTimeoutMs, maxConnections: 1 });
    } else {
      if (positionals.length !== 1) {
        process.stderr.write(USAGE);
        return 2;
      }
      const config = await loadConfigFile(positionals[0]!);
      for (const key of ["xorm_auth", "acl_xorm"]) {
        const c = config.sections.get(key) as XormConfig | undefined;
        if (c && !targets.some((t) => JSON.stringify(t.target) === JSON.stringify(c.target))) targets.push(c);
      }
      if (targets.length === 0) {
        process.stderr.write(`regauth db init: ${positionals[0]} has no xorm_auth or acl_xorm section; nothing to create\n`);
        return 1;
      }
    }
    const log = createLogger("warn");
    for (const t of targets) {
      const client = openXorm(t, { log }, true);
      try {
        await createTables(client, t.databaseType);
        process.stdout.write(`${client.description}: tables xorm_user and xorm_acl_entry are there (created where missing)\n`);
      } finally {
        await client.close();
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RegauthError || e instanceof ConnStringError) {
      process.stderr.write(`regauth db init: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
