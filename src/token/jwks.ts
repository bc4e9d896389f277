import type { SigningKey } from "./signing-key.js";

/**
 * The public signing key as a JWKS document: served at /.well-known/jwks.json
 * and written by `keygen` for registry 3's `auth.token.jwks`. The `kid` is the
 * one tokens carry, so a registry that looks keys up by `kid` finds it.
 */
export function jwksDocument(key: SigningKey): { keys: Record<string, unknown>[] } {
  const jwk = key.publicKey.export({ format: "jwk" });
  return { keys: [{ ...jwk, use: "sig", alg: key.alg, kid: key.kid, x5c: key.x5c }] };
}
