import type { App } from "../app.js";
import type { Labels } from "../config/types.js";
import type { TokenRequest } from "../request/token-request.js";
import type { StoredCredential } from "../stores/token-store.js";
import { mintRefreshToken } from "./refresh-token.js";

/** What a refresh token is bound to, besides its own times. */
export interface RefreshBinding {
  account: string;
  method: string;
  labels: Labels;
  clientId: string;
  service: string;
  /** Keep this proof (a rotated token stands for the same login). */
  proof?: string;
  /** Keep this hard expiry (a rotated token lives no longer than the one it replaces). */
  expiresAt?: number;
}

/**
 * Mints and stores a refresh token. A store that is down costs the client its refresh
 * token, not its login: the access token is still answered, and the log says why.
 */
export async function issueRefreshToken(app: App, b: RefreshBinding, now = Date.now()): Promise<string | undefined> {
  const cfg = app.config.refreshTokens;
  const minted = mintRefreshToken();
  const expiresAt = b.expiresAt ?? now + cfg.lifetimeMs;
  const record: StoredCredential = {
    id: minted.id,
    proof: b.proof ?? (await app.authn.method(b.method)?.credentialProof?.(b.account)) ?? "",
    kind: "refresh_token",
    secretHash: minted.secretHash,
    account: b.account,
    method: b.method,
    labels: b.labels,
    clientId: b.clientId,
    service: b.service,
    createdAt: now,
    lastUsedAt: now,
    expiresAt,
    idleUntil: cfg.idleTimeoutMs === null ? null : Math.min(expiresAt, now + cfg.idleTimeoutMs),
    attachment: "",
  };
  try {
    await app.store.put(record);
  } catch (e) {
    app.log.warn({ event: "refresh_token_not_issued", account: b.account, store: app.store.backend, reason: (e as Error).message }, "token store unavailable: answering without a refresh token");
    return undefined;
  }
  // The token is kept: a store that fails now only delays the clean-up to the next login.
  await retireOldest(app, b.account, now).catch((e: Error) => app.log.warn({ event: "refresh_token_retire_failed", account: b.account, reason: e.message }, "could not retire old refresh tokens"));
  return minted.token;
}

/**
 * Logins in a loop must not grow the store without bound: past `max_per_account` live tokens,
 * the oldest are revoked (a client that still holds one logs in again).
 */
async function retireOldest(app: App, account: string, now: number): Promise<void> {
  const max = app.config.refreshTokens.maxPerAccount;
  const live = await app.store.list(now, { account, kind: "refresh_token" });
  for (const old of live.slice(0, Math.max(0, live.length - max))) await app.store.revoke({ id: old.id });
}

/** Whether this request asked for offline access and this server hands refresh tokens out. */
export function wantsRefreshToken(app: App, req: TokenRequest): boolean {
  return req.offlineToken && app.config.refreshTokens.enabled;
}
