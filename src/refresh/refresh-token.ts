import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A refresh token as clients hold it: `regauth_rt_<id>_<secret>`. The prefix lets secret
 * scanners (GitHub's, gitleaks) recognise a leaked one; the id (64 bits, hex) finds the
 * record and is what `regauth tokens` lists and revokes; the secret is 256 random bits,
 * of which the store keeps only the SHA-256.
 */
export const REFRESH_PREFIX = "regauth_rt_";
const ID_HEX = 16;
const SECRET_CHARS = 43; // 32 bytes in base64url without padding
const shapes = new Map<string, RegExp>();
const shapeOf = (prefix: string) => {
  let re = shapes.get(prefix);
  if (!re) shapes.set(prefix, (re = new RegExp(`^${prefix}([0-9a-f]{${ID_HEX}})_([A-Za-z0-9_-]{${SECRET_CHARS}})$`)));
  return re;
};

export interface MintedToken {
  token: string;
  id: string;
  secretHash: string;
}

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

/**
 * A credential shaped `<prefix><id>_<secret>`: refresh tokens (`regauth_rt_`), and web
 * sign-in's generated `docker login` passwords (`regauth_pw_`).
 */
export function mintSecretToken(prefix: string): MintedToken {
  const id = randomBytes(ID_HEX / 2).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { token: `${prefix}${id}_${secret}`, id, secretHash: hashSecret(secret) };
}

/** The id and the secret's hash of a well-formed credential with this prefix; undefined for anything else. */
export function parseSecretToken(prefix: string, token: string): { id: string; secretHash: string } | undefined {
  const m = shapeOf(prefix).exec(token);
  return m ? { id: m[1]!, secretHash: hashSecret(m[2]!) } : undefined;
}

export const mintRefreshToken = (): MintedToken => mintSecretToken(REFRESH_PREFIX);

/** The id part of a credential-shaped text with this prefix (for `tokens revoke --id` with a pasted one); undefined if it has none. */
export function secretTokenId(prefix: string, text: string): string | undefined {
  return text.startsWith(prefix) ? text.slice(prefix.length, prefix.length + ID_HEX) : undefined;
}

export const refreshTokenId = (text: string) => secretTokenId(REFRESH_PREFIX, text);

/** The id and the secret's hash of a well-formed token; undefined for anything else. */
export const parseRefreshToken = (token: string) => parseSecretToken(REFRESH_PREFIX, token);

/** Compares two short secrets as text (credential proofs, a sign-in's state) in constant time. */
export function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Compares two hex SHA-256 digests in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
