import type { CredentialKind, StoredCredential } from "../token-store.js";

// How credentials and counters sit in Redis. Every command regauth sends touches one key,
// or several keys of one hash slot, so the same layout works on one server and on a
// Redis Cluster: the part in {...} (the hash tag) picks the slot.

export class RedisLayout {
  constructor(readonly prefix: string) {}

  /** One hash per credential, expiring by itself at its deadline. */
  cred(id: string): string {
    return `${this.prefix}cred:{${id}}`;
  }
  /** The ids of an account's credentials (a set; ids whose credential is gone are removed lazily). */
  account(account: string): string {
    return `${this.prefix}account:{${account}}`;
  }
  hit(key: string, window: number): string {
    return `${this.prefix}hit:{${key}}:${window}`;
  }
  /** SCAN MATCH patterns: built from the configured prefix only (escaped), never from an account or id. */
  get credPattern(): string {
    return `${globEscape(this.prefix)}cred:{*}`;
  }
  get accountPattern(): string {
    return `${globEscape(this.prefix)}account:{*}`;
  }
}

const globEscape = (s: string) => s.replace(/[*?[\]\\^-]/g, (c) => `\\${c}`);

/** When Redis may drop the credential on its own: the earlier of its hard end and its idle deadline. */
export const deadline = (expiresAt: number, idleUntil: number | null) => Math.ceil(idleUntil === null ? expiresAt : Math.min(expiresAt, idleUntil));

/**
 * Hash fields. Times are decimal text; `idleUntil` is "" for none. The fields `touch`
 * changes stand alone so that a script can change them without decoding the rest.
 */
export function encode(c: StoredCredential): Record<string, string> {
  return {
    kind: c.kind,
    secretHash: c.secretHash,
    account: c.account,
    method: c.method,
    proof: c.proof,
    labels: JSON.stringify(c.labels),
    clientId: c.clientId,
    service: c.service,
    createdAt: String(c.createdAt),
    lastUsedAt: String(c.lastUsedAt),
    expiresAt: String(c.expiresAt),
    idleUntil: c.idleUntil === null ? "" : String(c.idleUntil),
    attachment: c.attachment,
  };
}

const KINDS: readonly string[] = ["refresh_token", "login_password"] satisfies CredentialKind[];

/** The credential in a hash, or undefined for an empty hash (no such key) or one regauth did not write. */
export function decode(id: string, h: Record<string, string>): StoredCredential | undefined {
  const num = (v: string | undefined) => (v !== undefined && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : undefined);
  const [createdAt, lastUsedAt, expiresAt] = [num(h.createdAt), num(h.lastUsedAt), num(h.expiresAt)];
  const idleUntil = h.idleUntil === "" ? null : num(h.idleUntil);
  if (createdAt === undefined || lastUsedAt === undefined || expiresAt === undefined || idleUntil === undefined) return undefined;
  if (!KINDS.includes(h.kind ?? "") || h.secretHash === undefined || h.account === undefined || h.method === undefined || h.clientId === undefined || h.service === undefined) return undefined;
  let labels: StoredCredential["labels"];
  try {
    labels = JSON.parse(h.labels ?? "");
  } catch {
    return undefined;
  }
  return {
    id,
    kind: h.kind as CredentialKind,
    secretHash: h.secretHash,
    account: h.account,
    method: h.method,
    proof: h.proof ?? "",
    labels,
    clientId: h.clientId,
    service: h.service,
    createdAt,
    lastUsedAt,
    expiresAt,
    idleUntil,
    attachment: h.attachment ?? "",
  };
}

export const isLive = (c: { expiresAt: number; idleUntil: number | null }, now: number) => c.expiresAt > now && (c.idleUntil === null || c.idleUntil > now);

/** The id inside a credential key found by SCAN. */
export function idOfCredKey(layout: RedisLayout, key: string): string | undefined {
  const head = `${layout.prefix}cred:{`;
  return key.startsWith(head) && key.endsWith("}") ? key.slice(head.length, -1) : undefined;
}

/**
 * Lua, one key each (so each runs on the key's own cluster node). Numbers go in and out as
 * the decimal text the client wrote: Lua's doubles are never turned back into text.
 */
export const SCRIPTS = {
  /**
   * touch: KEYS[1] credential; ARGV lastUsedAt, idleUntil ("" for none), the idle deadline
   * as an integer. A credential revoked meanwhile stays gone (a plain HSET would recreate it).
   */
  regauthTouch: `
    local exp = redis.call('HGET', KEYS[1], 'expiresAt')
    if not exp then return 0 end
    redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1], 'idleUntil', ARGV[2])
    local at = exp
    if ARGV[3] ~= '' and tonumber(ARGV[3]) < tonumber(exp) then at = ARGV[3] end
    redis.call('PEXPIREAT', KEYS[1], at)
    return 1`,
  /** amend: KEYS[1] credential; ARGV labels (JSON), attachment. Like touch, never recreates a revoked one. */
  regauthAmend: `
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    redis.call('HSET', KEYS[1], 'labels', ARGV[1], 'attachment', ARGV[2])
    return 1`,
  /**
   * index: KEYS[1] the account's set; ARGV id, the credential's hard end. The set lives as
   * long as its longest-lived credential could (never shortened by a later put).
   */
  regauthIndex: `
    redis.call('SADD', KEYS[1], ARGV[1])
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl >= 0 then
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      if tonumber(ARGV[2]) <= now + ttl then return 1 end
    end
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
    return 1`,
} as const;

export interface ScriptCommands {
  regauthTouch(key: string, lastUsedAt: string, idleUntil: string, idleDeadline: string): Promise<number>;
  regauthIndex(key: string, id: string, expiresAt: string): Promise<number>;
  regauthAmend(key: string, labels: string, attachment: string): Promise<number>;
}
