import type { TlsVersion } from "./types.js";

/** Go crypto/tls version names (and their hex ids) → Node's names. SSL 3.0 has no Node equivalent. */
export const TLS_VERSIONS: Record<string, TlsVersion> = {
  TLS10: "TLSv1",
  TLS11: "TLSv1.1",
  TLS12: "TLSv1.2",
  TLS13: "TLSv1.3",
  "0x0301": "TLSv1",
  "0x0302": "TLSv1.1",
  "0x0303": "TLSv1.2",
  "0x0304": "TLSv1.3",
  "769": "TLSv1",
  "770": "TLSv1.1",
  "771": "TLSv1.2",
  "772": "TLSv1.3",
};

/**
 * Go cipher suite names → OpenSSL names, for the suites Node's OpenSSL can offer.
 * RC4 and 3DES suites are missing on purpose: they are refused with a message.
 */
export const CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
};

/** Suites Go knows that Node cannot (or must not) offer, with the reason given to the user. */
export const REFUSED_CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_RC4_128_SHA: "RC4 is broken and not available in Node's OpenSSL",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: "RC4 is broken and not available in Node's OpenSSL",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: "RC4 is broken and not available in Node's OpenSSL",
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: "3DES is weak and not available in Node's OpenSSL",
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "3DES is weak and not available in Node's OpenSSL",
  TLS_FALLBACK_SCSV: "TLS_FALLBACK_SCSV is a signalling value, not a cipher suite; OpenSSL handles it itself",
  TLS_AES_128_GCM_SHA256: "TLS 1.3 cipher suites are not configurable (as in docker_auth); Node enables them all",
  TLS_AES_256_GCM_SHA384: "TLS 1.3 cipher suites are not configurable (as in docker_auth); Node enables them all",
  TLS_CHACHA20_POLY1305_SHA256: "TLS 1.3 cipher suites are not configurable (as in docker_auth); Node enables them all",
};

/** Go curve names (and their ids) → OpenSSL group names. */
export const CURVES: Record<string, string> = {
  P256: "prime256v1",
  P384: "secp384r1",
  P521: "secp521r1",
  X25519: "X25519",
  "23": "prime256v1",
  "24": "secp384r1",
  "25": "secp521r1",
  "29": "X25519",
};

/**
 * docker_auth also takes numeric ids for versions, curves and cipher suites (`24`,
 * `0xc014`): a name it does not know goes through Go's strconv.ParseUint(s, 0, 16).
 * This is that parse (decimal, 0x, 0o, 0b, or a leading 0 for octal); undefined if not a uint16.
 */
export function goUint16(s: string): number | undefined {
  const m = /^0[xX]([0-9A-Fa-f]+)$|^0[oO]([0-7]+)$|^0[bB]([01]+)$|^0([0-7]+)$|^([1-9][0-9]*|0)$/.exec(s);
  if (!m) return undefined;
  const n = m[1] ? parseInt(m[1], 16) : m[2] ? parseInt(m[2], 8) : m[3] ? parseInt(m[3], 2) : m[4] ? parseInt(m[4], 8) : Number(m[5]);
  return n <= 0xffff ? n : undefined;
}

/** Go's cipher suite ids (crypto/tls constants, the IANA values) → Go's names, for numeric entries. */
export const CIPHER_SUITE_IDS: Record<number, string> = {
  0x0005: "TLS_RSA_WITH_RC4_128_SHA",
  0x000a: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
  0x002f: "TLS_RSA_WITH_AES_128_CBC_SHA",
  0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
  0x003c: "TLS_RSA_WITH_AES_128_CBC_SHA256",
  0x009c: "TLS_RSA_WITH_AES_128_GCM_SHA256",
  0x009d: "TLS_RSA_WITH_AES_256_GCM_SHA384",
  0xc007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
  0xc009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  0xc00a: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
  0xc011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
  0xc012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
  0xc013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
  0xc014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  0xc023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
  0xc027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
  0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
  0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  0x1301: "TLS_AES_128_GCM_SHA256",
  0x1302: "TLS_AES_256_GCM_SHA384",
  0x1303: "TLS_CHACHA20_POLY1305_SHA256",
  0x5600: "TLS_FALLBACK_SCSV",
};
