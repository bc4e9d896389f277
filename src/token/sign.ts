import { randomBytes } from "node:crypto";
import { CompactSign } from "jose";
import type { SigningKey } from "./signing-key.js";

/** One entry of the `access` claim: what the token lets its bearer do on one resource. */
export interface AccessEntry {
  type: string;
  class?: string;
  name: string;
  actions: readonly string[];
}

export interface TokenClaims {
  issuer: string;
  subject: string;
  audience: string;
  lifetimeSeconds: number;
  access: readonly AccessEntry[];
}

export interface SignedToken {
  token: string;
  issuedAt: Date;
  expiresIn: number;
}

/** Tolerance for clocks of replicas and registries that run slightly ahead, as docker_auth uses. */
const NOT_BEFORE_SKEW = 10;
const encoder = new TextEncoder();

/**
 * Sign a registry token (docs/spec/auth/jwt.md): `aud` a string, integer times,
 * a random `jti`, `access` with sorted actions. The header carries `x5c` (the one
 * form registry 2.x and 3.x both accept) and `kid`.
 */
export async function signToken(key: SigningKey, claims: TokenClaims, now = new Date()): Promise<SignedToken> {
  const iat = Math.floor(now.getTime() / 1000);
  const payload = {
    iss: claims.issuer,
    sub: claims.subject,
    aud: claims.audience,
    exp: iat + claims.lifetimeSeconds,
    nbf: iat - NOT_BEFORE_SKEW,
    iat,
    jti: randomBytes(16).toString("base64url"),
    access: claims.access.map((a) => ({
      type: a.type,
      ...(a.class ? { class: a.class } : {}),
      name: a.name,
      actions: [...a.actions].sort(),
    })),
  };
  const token = await new CompactSign(encoder.encode(JSON.stringify(payload)))
    .setProtectedHeader({ typ: "JWT", alg: key.alg, kid: key.kid, x5c: [...key.x5c] })
    .sign(key.privateKey);
  return { token, issuedAt: new Date(iat * 1000), expiresIn: claims.lifetimeSeconds };
}
