import { createHash, type KeyObject } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The libtrust key ID that registry 2.x expects in `kid`: SHA-256 of the DER
 * SubjectPublicKeyInfo, cut to 240 bits, base32, 12 groups of 4 joined by `:`.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const b32 = base32(createHash("sha256").update(der).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(":");
}

function stripLeadingZeros(b64url: string): string {
  const buf = Buffer.from(b64url, "base64url");
  let i = 0;
  while (i < buf.length - 1 && buf[i] === 0) i++;
  return buf.subarray(i).toString("base64url");
}

/**
 * The JWK thumbprint exactly as registry 3.1+ computes it (`GetJWKThumbprint`):
 * RFC 7638 members in lexicographic order, SHA-256, base64url — except that EC
 * coordinates lose their leading zero bytes (Go's big.Int.Bytes()), which differs
 * from strict RFC 7638 for about one P-256 key in 128. Registry 3.0's variant,
 * which hashed the curve's generator point, is deliberately not reproduced.
 */
export function registryJwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  let payload: string;
  if (jwk.kty === "RSA") payload = `{"e":"${stripLeadingZeros(jwk.e!)}","kty":"RSA","n":"${stripLeadingZeros(jwk.n!)}"}`;
  else if (jwk.kty === "EC") payload = `{"crv":"${jwk.crv}","kty":"EC","x":"${stripLeadingZeros(jwk.x!)}","y":"${stripLeadingZeros(jwk.y!)}"}`;
  else throw new TypeError(`unsupported key type ${jwk.kty}`);
  return createHash("sha256").update(payload).digest("base64url");
}

/** Strict RFC 7638 thumbprint (fixed-length coordinates), for JWKS consumers other than the registry. */
export function rfc7638Thumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  const payload = jwk.kty === "RSA" ? `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}` : `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
  return createHash("sha256").update(payload).digest("base64url");
}
