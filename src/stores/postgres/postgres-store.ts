import type { Labels } from "../../config/types.js";
import pg from "pg";
import type { PoolConfig, QueryResultRow } from "pg";
import { StoreUnavailableError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { CredentialKind, CredentialSelector, StoredCredential, StoreHealth, TokenStore } from "../token-store.js";
import { ensureSchema, PostgresTables } from "./schema.js";
import type { PostgresStoreConfig } from "./section.js";

/** A server that does not accept a connection within this long counts as down. */
const CONNECT_TIMEOUT_MS = 2000;
/** Every statement is a point query or a small delete; past this something is wrong. */
const STATEMENT_TIMEOUT_MS = 5000;

interface Row {
  id: string;
  kind: CredentialKind;
  secret_hash: string;
  proof: string;
  account: string;
  method: string;
  labels: StoredCredential["labels"];
  client_id: string;
  service: string;
  // bigint columns arrive as text (pg keeps int8 exact); times fit a double.
  created_at: string;
  last_used_at: string;
  expires_at: string;
  idle_until: string | null;
  attachment: string;
}

const fromRow = (r: Row): StoredCredential => ({
  id: r.id,
  kind: r.kind,
  secretHash: r.secret_hash,
  proof: r.proof,
  account: r.account,
  method: r.method,
  labels: r.labels,
  clientId: r.client_id,
  service: r.service,
  createdAt: Number(r.created_at),
  lastUsedAt: Number(r.last_used_at),
  expiresAt: Number(r.expires_at),
  idleUntil: r.idle_until === null ? null : Number(r.idle_until),
  attachment: r.attachment,
});

const COLUMNS = "id, kind, secret_hash, account, method, labels, client_id, service, created_at, last_used_at, expires_at, idle_until, proof, attachment";
/** Live at the parameter `$n`. */
const live = (n: number) => `expires_at > $${n} AND (idle_until IS NULL OR idle_until > $${n})`;

/**
 * Credentials and counters in PostgreSQL tables, shared by every replica. A pool of
 * connections opened on demand: while the server is down each call fails within about
 * CONNECT_TIMEOUT_MS, and the next one after it is back just works.
 */
export class PostgresTokenStore implements TokenStore {
  readonly backend = "postgres";
  readonly #pool: pg.Pool;
  readonly #t: PostgresTables;
  readonly #address: string;
  readonly #redact: (s: string) => string;
  #schema: Promise<void> | undefined;
  #down = false;

  constructor(
    config: PostgresStoreConfig,
    private readonly log: Logger,
  ) {
    this.#t = new PostgresTables(config.tablePrefix);
    this.#address = config.address;
    const password = config.password?.reveal();
    this.#redact = password ? (s) => s.replaceAll(password, "***") : (s) => s;
    const options: PoolConfig = {
      host: config.host,
      port: config.port,
      user: config.user,
      database: config.database,
      ...(password !== undefined ? { password } : {}),
      max: config.poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      // The server-side limit cannot fire when the server is frozen or the link is dead.
      query_timeout: STATEMENT_TIMEOUT_MS + 1000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: "regauth",
      ...(config.tls ? { ssl: tlsOptions(config) } : {}),
    };
    this.#pool = new pg.Pool(options);
    // An idle connection the server drops (a restart, a failover) surfaces here; unheard, it would crash the process.
    this.#pool.on("error", (e) => this.log.warn({ store: "postgres", address: this.#address, err: this.#describe(e) }, "token store connection lost; the next call opens another"));
  }

  async #query<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      // Retried on the next call when it failed (the server was down when regauth started).
      await (this.#schema ??= ensureSchema(this.#pool, this.#t).catch((e: unknown) => {
        this.#schema = undefined;
        throw e;
      }));
      const r = await this.#pool.query<R>(text, values);
      if (this.#down) this.log.info({ store: "postgres", address: this.#address }, "token store reachable again");
      this.#down = false;
      return r;
    } catch (e) {
      const why = this.#describe(e);
      if (!this.#down) this.log.warn({ store: "postgres", address: this.#address, err: why }, "token store call failed");
      this.#down = true;
      throw new StoreUnavailableError("postgres", `${this.#address}: ${why}`);
    }
  }

  async put(c: StoredCredential): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#t.credentials} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)
       ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, secret_hash = EXCLUDED.secret_hash, account = EXCLUDED.account,
         method = EXCLUDED.method, labels = EXCLUDED.labels, client_id = EXCLUDED.client_id, service = EXCLUDED.service,
         created_at = EXCLUDED.created_at, last_used_at = EXCLUDED.last_used_at, expires_at = EXCLUDED.expires_at, idle_until = EXCLUDED.idle_until, proof = EXCLUDED.proof, attachment = EXCLUDED.attachment`,
      [c.id, c.kind, c.secretHash, c.account, c.method, JSON.stringify(c.labels), c.clientId, c.service, c.createdAt, c.lastUsedAt, c.expiresAt, c.idleUntil, c.proof, c.attachment],
    );
  }

  async get(id: string, now: number): Promise<StoredCredential | undefined> {
    const r = await this.#query<Row>(`SELECT ${COLUMNS} FROM ${this.#t.credentials} WHERE id = $1 AND ${live(2)}`, [id, now]);
    return r.rows[0] && fromRow(r.rows[0]);
  }

  async touch(id: string, lastUsedAt: number, idleUntil: number | null): Promise<void> {
    await this.#query(`UPDATE ${this.#t.credentials} SET last_used_at = $2, idle_until = $3 WHERE id = $1`, [id, lastUsedAt, idleUntil]);
  }

  async amend(id: string, labels: Labels, attachment: string): Promise<boolean> {
    const r = await this.#query(`UPDATE ${this.#t.credentials} SET labels = $2::jsonb, attachment = $3 WHERE id = $1`, [id, JSON.stringify(labels), attachment]);
    return (r.rowCount ?? 0) > 0;
  }

  async list(now: number, filter: { account?: string; kind?: CredentialKind } = {}): Promise<StoredCredential[]> {
    const values: unknown[] = [now];
    const where = [live(1)];
    if (filter.account !== undefined) where.push(`account = $${values.push(filter.account)}`);
    if (filter.kind !== undefined) where.push(`kind = $${values.push(filter.kind)}`);
    const r = await this.#query<Row>(`SELECT ${COLUMNS} FROM ${this.#t.credentials} WHERE ${where.join(" AND ")} ORDER BY created_at, id`, values);
    return r.rows.map(fromRow);
  }

  async revoke(sel: CredentialSelector): Promise<number> {
    const r =
      "id" in sel
        ? await this.#query(`DELETE FROM ${this.#t.credentials} WHERE id = $1`, [sel.id])
        : "account" in sel
          ? await this.#query(`DELETE FROM ${this.#t.credentials} WHERE account = $1`, [sel.account])
          : await this.#query(`DELETE FROM ${this.#t.credentials}`);
    return r.rowCount ?? 0;
  }

  async purge(now: number): Promise<number> {
    const r = await this.#query(`DELETE FROM ${this.#t.credentials} WHERE NOT (${live(1)})`, [now]);
    await this.#query(`DELETE FROM ${this.#t.counters} WHERE expires_at <= $1`, [now]);
    return r.rowCount ?? 0;
  }

  /** Windows are numbered from the epoch in `windowMs` steps, so every replica counts in the same one. */
  async hit(key: string, windowMs: number, now: number): Promise<number> {
    const window = Math.floor(now / windowMs);
    const r = await this.#query<{ count: string }>(
      `INSERT INTO ${this.#t.counters} AS c (key, "window", count, expires_at) VALUES ($1, $2, 1, $3)
       ON CONFLICT (key, "window") DO UPDATE SET count = c.count + 1 RETURNING count`,
      [key, window, (window + 1) * windowMs],
    );
    return Number(r.rows[0]!.count);
  }

  async resetHits(key: string, windowMs: number, now: number): Promise<void> {
    await this.#query(`DELETE FROM ${this.#t.counters} WHERE key = $1 AND "window" = $2`, [key, Math.floor(now / windowMs)]);
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.#query("SELECT 1");
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  #describe(e: unknown): string {
    return this.#redact(describe(e));
  }
}

function tlsOptions(config: PostgresStoreConfig) {
  const tls = config.tls!;
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    rejectUnauthorized: tls.verifyChain,
    ...(tls.verifyHost ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** An error's text with PostgreSQL's code; Node's errors for a name with several addresses have an empty message. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  const inner = (e as Error & { errors?: unknown[] }).errors;
  const text = e.message || (Array.isArray(inner) && inner.length ? inner.map(describe).join("; ") : "") || e.name;
  // SQLSTATEs are five characters (57P01, 28P01); Node's codes (ECONNREFUSED) are already in the message.
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !text.includes(code) ? `${text} (SQLSTATE ${code})` : text;
}
