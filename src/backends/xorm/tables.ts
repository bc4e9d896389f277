import { readFile } from "node:fs/promises";
import type { AclDocument } from "../../authz/acl-documents.js";
import type { DbUserRecord } from "../db-users.js";
import type { DatabaseType } from "./conn-string.js";
import type { SqlClient } from "./sql-client.js";

// The tables of docker_auth's xorm models (see schema/xorm/*.sql), read as they are.
export const USER_TABLE = "xorm_user";
export const ACL_TABLE = "xorm_acl_entry";

// A few rows, not one: MySQL's usual collations compare case- and trailing-space-insensitively,
// so `Alice ` finds `alice`; only the row spelled exactly like the request is used.
const FIND_USER = `SELECT username, password_hash, labels FROM ${USER_TABLE} WHERE username = ? ORDER BY id DESC LIMIT 20`;
const READ_ACL = `SELECT seq, acl_entry FROM ${ACL_TABLE} ORDER BY seq`;

/** The newest row with exactly this username (docker_auth: `Where("username = ?").Desc("id")`). */
export async function findUser(db: SqlClient, user: string): Promise<DbUserRecord | undefined> {
  const row = (await db.query(FIND_USER, [user])).find((r) => r["username"] === user);
  return row && { passwordHash: row["password_hash"], labels: row["labels"] };
}

export async function readAcl(db: SqlClient): Promise<AclDocument[]> {
  const rows = await db.query(READ_ACL);
  return rows.map((r) => {
    const raw = r["acl_entry"];
    let entry: unknown = raw;
    if (typeof raw === "string" || Buffer.isBuffer(raw)) {
      try {
        entry = JSON.parse(String(raw));
      } catch {
        entry = `not JSON: ${String(raw).slice(0, 80)}`;
      }
    }
    return { seq: r["seq"], entry };
  });
}

export async function ping(db: SqlClient): Promise<void> {
  await db.query("SELECT 1");
}

/** schema/xorm/<type>.sql, the documented schema `regauth db init` runs. */
export function schemaFile(type: DatabaseType): URL {
  // From dist/src/backends/xorm/ (or the image's /app/dist/src/backends/xorm/) to the package root.
  return new URL(`../../../../schema/xorm/${type}.sql`, import.meta.url);
}

export async function createTables(db: SqlClient, type: DatabaseType): Promise<void> {
  await db.script(await readFile(schemaFile(type), "utf8"));
}
