import { parseArgs } from "node:util";
import { loadConfigFile } from "../config/load.js";
import { ConfigError, RegauthError } from "../errors.js";
import { createLogger } from "../log.js";
import { PASSWORD_PREFIX } from "../backends/websignin/passwords.js";
import { refreshTokenId, secretTokenId } from "../refresh/refresh-token.js";
import { openTokenStore } from "../stores/open.js";
import type { CredentialSelector, StoredCredential } from "../stores/token-store.js";

const USAGE = `usage: regauth tokens list CONFIG [--account NAME] [--json]
       regauth tokens revoke CONFIG (--account NAME | --id ID | --all)
`;

const KIND: Record<StoredCredential["kind"], string> = { refresh_token: "refresh", login_password: "web password" };

const when = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"));

function table(rows: readonly StoredCredential[]): string {
  const head = ["id", "kind", "account", "client", "service", "method", "created", "last used", "expires"];
  const cells = rows.map((c) => [c.id, KIND[c.kind], c.account, c.clientId || "-", c.service || "-", c.method, when(c.createdAt), when(c.lastUsedAt), when(c.idleUntil === null ? c.expiresAt : Math.min(c.expiresAt, c.idleUntil))]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(width[i]!)).join("  ").trimEnd();
  return [line(head), ...cells.map(line)].join("\n") + "\n";
}

/**
 * `regauth tokens list|revoke CONFIG ...`: the refresh tokens and web sign-in passwords in the configured store.
 * It talks to the store itself, not to a server, so a revocation is seen by every server
 * on that store at their next use of the token. Secrets are never shown (only hashes are kept).
 */
export async function tokens(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list" && sub !== "revoke") {
    process.stderr.write(USAGE);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { account: { type: "string" }, id: { type: "string" }, all: { type: "boolean", default: false }, json: { type: "boolean", default: false } },
    });
  } catch (e) {
    process.stderr.write(`regauth tokens: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  let selector: CredentialSelector | undefined;
  if (sub === "revoke") {
    const given = [values.account !== undefined, values.id !== undefined, values.all].filter(Boolean).length;
    if (given !== 1) {
      process.stderr.write(`regauth tokens revoke: name exactly one of --account NAME, --id ID or --all\n${USAGE}`);
      return 2;
    }
    // A pasted token works as well as its id (the id is the part after the prefix).
    const id = values.id === undefined ? undefined : (refreshTokenId(values.id) ?? secretTokenId(PASSWORD_PREFIX, values.id) ?? values.id);
    selector = values.all ? { all: true } : id !== undefined ? { id } : { account: values.account! };
  }
  try {
    const config = await loadConfigFile(file);
    const store = await openTokenStore(config.tokenStore, createLogger("silent"));
    try {
      if (selector) {
        const n = await store.revoke(selector);
        const what = "all" in selector ? "in the store" : "id" in selector ? `with id ${selector.id}` : `of account ${JSON.stringify(selector.account)}`;
        const s = n === 1 ? "" : "s";
        process.stdout.write(`revoked ${n} refresh token${s} or web sign-in password${s} ${what} (${store.backend})\n`);
        return 0;
      }
      const rows = await store.list(Date.now(), { account: values.account });
      if (values.json) process.stdout.write(`${JSON.stringify(rows.map(({ secretHash: _, labels: __, attachment: ___, ...r }) => r))}\n`);
      else process.stdout.write(rows.length ? table(rows) : `no refresh tokens or web sign-in passwords${values.account !== undefined ? ` for ${JSON.stringify(values.account)}` : ""} (${store.backend})\n`);
      return 0;
    } finally {
      await store.close();
    }
  } catch (e) {
    if (e instanceof ConfigError) process.stderr.write(`regauth tokens: the config cannot be used:\n${e.message}\n`);
    else if (e instanceof RegauthError) process.stderr.write(`regauth tokens: ${e.message}\n`);
    else throw e;
    return 1;
  }
}
