import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { libtrustKeyId, registryJwkThumbprint } from "./key-ids.js";

export type SigningAlgorithm = "RS256" | "ES256" | "ES384" | "ES512";

export class KeyLoadError extends Error {
  constructor(
    message: string,
    readonly which: "certificate" | "key",
  ) {
    super(message);
  }
}

/** The token signing key with everything the registry needs to trust it. */
export interface SigningKey {
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64 DER certificates, leaf first: the `x5c` header every registry version accepts. */
  x5c: readonly string[];
  /** The `kid` header: the libtrust ID, or with disable_legacy_key_id the registry-3 JWK thumbprint. */
  kid: string;
  libtrustKid: string;
  thumbprint: string;
  /** PEM of the certificates, for the registry's rootcertbundle. */
  certificatePem: string;
}

function algorithmFor(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new KeyLoadError(`RSA key is ${bits} bits; at least 2048 are required`, "key");
    return "RS256";
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return "ES256";
    if (curve === "secp384r1") return "ES384";
    if (curve === "secp521r1") return "ES512";
    throw new KeyLoadError(`EC curve ${curve} is not one the registry accepts (P-256, P-384, P-521)`, "key");
  }
  throw new KeyLoadError(`${key.asymmetricKeyType} keys cannot sign registry tokens; use RSA or EC (P-256, P-384, P-521)`, "key");
}

function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Build a SigningKey from PEM text: a certificate (chain, leaf first) and its private key. */
export function signingKeyFromPem(certPem: string, keyPem: string, disableLegacyKeyId: boolean): SigningKey {
  const blocks = splitPemCertificates(certPem);
  if (blocks.length === 0) throw new KeyLoadError("no PEM certificate found", "certificate");
  let certs: X509Certificate[];
  try {
    certs = blocks.map((b) => new X509Certificate(b));
  } catch (e) {
    throw new KeyLoadError(`not a valid certificate: ${(e as Error).message}`, "certificate");
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (e) {
    throw new KeyLoadError(`not a valid private key (PEM, PKCS#1, PKCS#8 or SEC1, unencrypted): ${(e as Error).message}`, "key");
  }
  const alg = algorithmFor(privateKey);
  const publicKey = createPublicKey(privateKey);
  const leaf = certs[0]!;
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  if (!spki(leaf.publicKey).equals(spki(publicKey))) throw new KeyLoadError("the certificate does not belong to the private key (public keys differ)", "certificate");
  const libtrustKid = libtrustKeyId(publicKey);
  const thumbprint = registryJwkThumbprint(publicKey);
  return {
    alg,
    privateKey,
    publicKey,
    x5c: certs.map((c) => c.raw.toString("base64")),
    kid: disableLegacyKeyId ? thumbprint : libtrustKid,
    libtrustKid,
    thumbprint,
    certificatePem: blocks.join("\n") + "\n",
  };
}

/** Read the certificate and key files named in the config. */
export async function loadSigningKey(certFile: string, keyFile: string, disableLegacyKeyId: boolean): Promise<SigningKey> {
  const read = async (f: string, which: "certificate" | "key") => {
    try {
      return await readFile(f, "utf8");
    } catch (e) {
      throw new KeyLoadError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, which);
    }
  };
  return signingKeyFromPem(await read(certFile, "certificate"), await read(keyFile, "key"), disableLegacyKeyId);
}
