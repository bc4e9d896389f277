import { createPrivateKey, createPublicKey, generateKeyPair as genKeyPairCb, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";

const generateKeyPair = promisify(genKeyPairCb);

// A minimal DER writer: just what a self-signed X.509 v3 certificate needs.
function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, body: Buffer) => tlv(0xa0 + n, body);
const octets = (b: Buffer) => tlv(0x04, b);
const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const NULL = Buffer.from([0x05, 0x00]);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let body = b.subarray(i);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let k = 0; k < chunk.length - 1; k++) chunk[k]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  // UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))));

function signatureAlgorithm(key: KeyObject): { der: Buffer; hash: string } {
  if (key.asymmetricKeyType === "rsa") return { der: seq(oid("1.2.840.113549.1.1.11"), NULL), hash: "sha256" };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === "prime256v1") return { der: seq(oid("1.2.840.10045.4.3.2")), hash: "sha256" };
  if (curve === "secp384r1") return { der: seq(oid("1.2.840.10045.4.3.3")), hash: "sha384" };
  if (curve === "secp521r1") return { der: seq(oid("1.2.840.10045.4.3.4")), hash: "sha512" };
  throw new TypeError(`unsupported key for a certificate: ${key.asymmetricKeyType} ${curve ?? ""}`);
}

function subjectAltNames(hosts: readonly string[]): Buffer {
  const names = hosts.map((h) => {
    if (isIP(h) === 4) return tlv(0x87, Buffer.from(h.split(".").map(Number)));
    if (isIP(h) === 6) {
      const url = new URL(`http://[${h}]/`);
      const groups = url.hostname.slice(1, -1);
      const [head, tail] = groups.split("::") as [string, string | undefined];
      const h16 = (s: string | undefined) => (s ? s.split(":").map((x) => parseInt(x, 16)) : []);
      const a = h16(head);
      const b = h16(tail);
      const all = tail === undefined ? a : [...a, ...Array(8 - a.length - b.length).fill(0), ...b];
      return tlv(0x87, Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff])));
    }
    return tlv(0x82, Buffer.from(h, "ascii"));
  });
  return seq(...names);
}

export interface CertificateOptions {
  commonName: string;
  /** DNS names and IP addresses for the subjectAltName (for a TLS server certificate). */
  hosts?: readonly string[];
  days?: number;
}

/** A self-signed X.509 v3 certificate for `privateKey`, as PEM. */
export function selfSignedCertificate(privateKey: KeyObject, opts: CertificateOptions): string {
  const publicKey = createPublicKey(privateKey);
  const alg = signatureAlgorithm(privateKey);
  const now = Date.now();
  const notBefore = new Date(now - 5 * 60_000);
  const notAfter = new Date(now + (opts.days ?? 3650) * 86_400_000);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const extensions = [
    seq(oid("2.5.29.19"), bool(true), octets(seq(bool(true)))), // basicConstraints CA:TRUE: it can anchor the registry's bundle
    seq(oid("2.5.29.15"), bool(true), octets(tlv(0x03, Buffer.from([0x01, 0x86])))), // keyUsage: digitalSignature, keyCertSign, cRLSign
  ];
  if (opts.hosts?.length) extensions.push(seq(oid("2.5.29.17"), octets(subjectAltNames(opts.hosts))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    alg.der,
    name(opts.commonName),
    seq(time(notBefore), time(notAfter)),
    name(opts.commonName),
    publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...extensions)),
  );
  const signature = sign(alg.hash, tbs, privateKey);
  const der = seq(tbs, alg.der, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

export type KeyType = "rsa" | "ec";

/** A new signing key: RSA 2048 (RS256) or EC P-256 (ES256), as PKCS#8 PEM. */
export async function generateSigningKey(type: KeyType): Promise<{ privateKey: KeyObject; pem: string }> {
  const { privateKey } =
    type === "rsa" ? await generateKeyPair("rsa", { modulusLength: 2048 }) : await generateKeyPair("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { privateKey: createPrivateKey(pem), pem };
}
