import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Labels } from "../../config/types.js";
import type { CredentialKind, CredentialSelector, StoredCredential } from "../token-store.js";

const SCHEMA_VERSION = 3;

interface Row {
  id: string;
  kind: CredentialKind;
  secret_hash: string;
  account: string;
  method: string;
  proof: string;
  labels: string;
  client_id: string;
  service: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_until: number | null;
  attachment: string;
}

const fromRow = (r: Row): StoredCredential => ({
  id: r.id,
  kind: r.kind,
  secretHash: r.secret_hash,
  account: r.account,
  method: r.method,
  proof: r.proof,
  labels: JSON.parse(r.labels),
  clientId: r.client_id,
  service: r.service,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at,
  idleUntil: r.idle_until,
  attachment: r.attachment,
});

const LIVE = "expires_at > @now AND (idle_until IS NULL OR idle_until > @now)";

/**
 * The SQLite file, synchronously (better-sqlite3): used only from the store's worker
 * thread. WAL mode and a busy timeout let several worker processes and the CLI use the
 * same file at once; every statement is prepared once.
 */
export class SqliteCredentials {
  readonly #db: Database.Database;
  readonly #s;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const db = new Database(path, { timeout: 5000 });
    try {
      db.pragma("journal_mode = WAL");
      // WAL with NORMAL loses at most the last commits on power loss, never consistency: a lost refresh token means one more login.
      db.pragma("synchronous = NORMAL");
      const version = db.pragma("user_version", { simple: true }) as number;
      // Schema 1 had no proof column: its tokens carry none (as if issued by a method with nothing to say).
      if (version === 1) db.exec("ALTER TABLE credentials ADD COLUMN proof TEXT NOT NULL DEFAULT ''");
      // Schema 2 had no attachment column: nothing was attached to its credentials.
      if (version === 1 || version === 2) db.exec("ALTER TABLE credentials ADD COLUMN attachment TEXT NOT NULL DEFAULT ''");
      if (version > SCHEMA_VERSION) throw new Error(`${path} was written by a newer regauth (schema ${version}; this one knows ${SCHEMA_VERSION})`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS credentials (
          id TEXT PRIMARY KEY, kind TEXT NOT NULL, secret_hash TEXT NOT NULL, account TEXT NOT NULL,
          method TEXT NOT NULL, labels TEXT NOT NULL, client_id TEXT NOT NULL, service TEXT NOT NULL,
          created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, idle_until INTEGER,
          proof TEXT NOT NULL DEFAULT '', attachment TEXT NOT NULL DEFAULT ''
        ) STRICT;
        CREATE INDEX IF NOT EXISTS credentials_account ON credentials (account);
        CREATE INDEX IF NOT EXISTS credentials_expires ON credentials (expires_at);
        CREATE TABLE IF NOT EXISTS counters (key TEXT NOT NULL, window INTEGER NOT NULL, count INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (key, window)) STRICT;
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
    } catch (e) {
      db.close();
      throw e;
    }
    this.#db = db;
    this.#s = {
      put: db.prepare(
        `INSERT OR REPLACE INTO credentials (id, kind, secret_hash, account, method, labels, client_id, service, created_at, last_used_at, expires_at, idle_until, proof, attachment)
         VALUES (@id, @kind, @secret_hash, @account, @method, @labels, @client_id, @service, @created_at, @last_used_at, @expires_at, @idle_until, @proof, @attachment)`,
      ),
      get: db.prepare(`SELECT * FROM credentials WHERE id = @id AND ${LIVE}`),
      touch: db.prepare(`UPDATE credentials SET last_used_at = @last, idle_until = @idle WHERE id = @id`),
      amend: db.prepare(`UPDATE credentials SET labels = @labels, attachment = @attachment WHERE id = @id`),
      listAll: db.prepare(`SELECT * FROM credentials WHERE ${LIVE} ORDER BY created_at, id`),
      listAccount: db.prepare(`SELECT * FROM credentials WHERE account = @account AND ${LIVE} ORDER BY created_at, id`),
      revokeId: db.prepare(`DELETE FROM credentials WHERE id = @id`),
      revokeAccount: db.prepare(`DELETE FROM credentials WHERE account = @account`),
      revokeAll: db.prepare(`DELETE FROM credentials`),
      purge: db.prepare(`DELETE FROM credentials WHERE NOT (${LIVE})`),
      purgeCounters: db.prepare(`DELETE FROM counters WHERE expires_at <= @now`),
      hit: db.prepare(`INSERT INTO counters VALUES (@key, @window, 1, @expires) ON CONFLICT (key, window) DO UPDATE SET count = count + 1 RETURNING count`),
      resetHits: db.prepare(`DELETE FROM counters WHERE key = @key AND window = @window`),
      ping: db.prepare(`SELECT 1`),
    };
  }

  put(c: StoredCredential): void {
    this.#s.put.run({
      id: c.id,
      kind: c.kind,
      secret_hash: c.secretHash,
      account: c.account,
      method: c.method,
      proof: c.proof,
      labels: JSON.stringify(c.labels),
      client_id: c.clientId,
      service: c.service,
      created_at: c.createdAt,
      last_used_at: c.lastUsedAt,
      expires_at: c.expiresAt,
      idle_until: c.idleUntil,
      attachment: c.attachment,
    });
  }

  get(id: string, now: number): StoredCredential | undefined {
    const r = this.#s.get.get({ id, now }) as Row | undefined;
    return r && fromRow(r);
  }

  touch(id: string, lastUsedAt: number, idleUntil: number | null): void {
    this.#s.touch.run({ id, last: lastUsedAt, idle: idleUntil });
  }

  amend(id: string, labels: Labels, attachment: string): boolean {
    return this.#s.amend.run({ id, labels: JSON.stringify(labels), attachment }).changes > 0;
  }

  list(now: number, filter: { account?: string; kind?: CredentialKind } = {}): StoredCredential[] {
    const rows = (filter.account === undefined ? this.#s.listAll.all({ now }) : this.#s.listAccount.all({ now, account: filter.account })) as Row[];
    return rows.map(fromRow).filter((c) => filter.kind === undefined || c.kind === filter.kind);
  }

  revoke(sel: CredentialSelector): number {
    if ("id" in sel) return this.#s.revokeId.run({ id: sel.id }).changes;
    if ("account" in sel) return this.#s.revokeAccount.run({ account: sel.account }).changes;
    return this.#s.revokeAll.run().changes;
  }

  purge(now: number): number {
    const n = this.#s.purge.run({ now }).changes;
    this.#s.purgeCounters.run({ now });
    return n;
  }

  /** Windows are numbered from the epoch in `windowMs` steps, so every replica counts in the same one. */
  hit(key: string, windowMs: number, now: number): number {
    const window = Math.floor(now / windowMs);
    return (this.#s.hit.get({ key, window, expires: (window + 1) * windowMs }) as { count: number }).count;
  }

  resetHits(key: string, windowMs: number, now: number): void {
    this.#s.resetHits.run({ key, window: Math.floor(now / windowMs) });
  }

  ping(): void {
    this.#s.ping.get();
  }

  close(): void {
    this.#db.close();
  }
}
