import type { Pool } from "pg";

/**
 * The store's table names. The prefix is checked against ^[a-z_][a-z0-9_]{0,30}$ when
 * the config is read, so it can be part of an identifier; values are always parameters.
 */
export class PostgresTables {
  readonly credentials: string;
  readonly counters: string;
  constructor(readonly prefix: string) {
    if (!/^[a-z_][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`bad table prefix ${JSON.stringify(prefix)}`);
    this.credentials = `"${prefix}credentials"`;
    this.counters = `"${prefix}counters"`;
  }

  get ddl(): string[] {
    const p = this.prefix;
    return [
      `CREATE TABLE IF NOT EXISTS ${this.credentials} (
         id text PRIMARY KEY, kind text NOT NULL, secret_hash text NOT NULL, account text NOT NULL,
         method text NOT NULL, labels jsonb NOT NULL, client_id text NOT NULL, service text NOT NULL,
         created_at bigint NOT NULL, last_used_at bigint NOT NULL, expires_at bigint NOT NULL, idle_until bigint,
         proof text NOT NULL DEFAULT '', attachment text NOT NULL DEFAULT '')`,
      `CREATE INDEX IF NOT EXISTS "${p}credentials_account" ON ${this.credentials} (account)`,
      `CREATE INDEX IF NOT EXISTS "${p}credentials_expires" ON ${this.credentials} (expires_at)`,
      // expires_at: when the window ends, so that purge can drop old windows without knowing their length.
      `CREATE TABLE IF NOT EXISTS ${this.counters} (
         key text NOT NULL, "window" bigint NOT NULL, count bigint NOT NULL, expires_at bigint NOT NULL,
         PRIMARY KEY (key, "window"))`,
    ];
  }
}

/**
 * Tables made by an earlier regauth lack later columns: each is added, with a default that
 * means what the old rows meant (nothing attached). Only what is missing is altered, so a
 * role without ALTER rights keeps working on tables an administrator brought up to date.
 */
async function addMissingColumns(pool: Pool, t: PostgresTables): Promise<void> {
  const r = await pool.query<{ attname: string }>("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped", [t.credentials]);
  const have = new Set(r.rows.map((x) => x.attname));
  if (!have.has("attachment")) await pool.query(`ALTER TABLE ${t.credentials} ADD COLUMN IF NOT EXISTS attachment text NOT NULL DEFAULT ''`);
}

/**
 * Creates the tables unless they are there. Two replicas starting together would race
 * in CREATE TABLE IF NOT EXISTS (one fails on the catalog's unique index), so the DDL runs
 * under a transaction-scoped advisory lock. Tables that exist are left alone, so a role
 * without CREATE rights works on tables an administrator made.
 */
export async function ensureSchema(pool: Pool, t: PostgresTables): Promise<void> {
  const exists = async () => {
    const r = await pool.query<{ c: string | null; n: string | null }>("SELECT to_regclass($1) AS c, to_regclass($2) AS n", [t.credentials, t.counters]);
    return r.rows[0]!.c !== null && r.rows[0]!.n !== null;
  };
  if (await exists()) return addMissingColumns(pool, t);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`regauth schema ${t.prefix}`]);
    for (const statement of t.ddl) await client.query(statement);
    await client.query("COMMIT");
    client.release();
  } catch (e) {
    // A connection in an unknown state is not given back to the pool.
    client.release(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}
