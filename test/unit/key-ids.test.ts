// Key IDs and certificates the registry must accept: libtrust's kid (registry 2.x),
// the JWK thumbprint as registry 3.1+ computes it, and self-signed certificates.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { selfSignedCertificate } from "../../src/token/certificate.js";
import { libtrustKeyId, registryJwkThumbprint, rfc7638Thumbprint } from "../../src/token/key-ids.js";

const execFileAsync = promisify(execFile);

// The distribution token spec's example (docs/spec/auth/jwt.md): a P-256 key and its libtrust kid.
const SPEC_JWK = { kty: "EC", crv: "P-256", x: "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q", y: "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc" };
/** The private half given in the same example. */
const SPEC_D = "R7OnbfMaD5J2jl7GeE8ESo7CnHSBm_1N2k9IXYFrKJA";
const SPEC_KID = "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6";
const SPEC_JWT =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIsImtpZCI6IlBZWU86VEVXVTpWN0pIOjI2SlY6QVFUWjpMSkMzOlNYVko6WEdIQTozNEYyOjJMQVE6WlJNSzpaN1E2In0" +
  ".eyJpc3MiOiJhdXRoLmRvY2tlci5jb20iLCJzdWIiOiJqbGhhd24iLCJhdWQiOiJyZWdpc3RyeS5kb2NrZXIuY29tIiwiZXhwIjoxNDE1Mzg3MzE1LCJuYmYiOjE0MTUzODcwMTUsImlhdCI6MTQxNTM4NzAxNSwianRpIjoidFlKQ08xYzZjbnl5N2tBbjBjN3JLUGdiVjFIMWJGd3MiLCJhY2Nlc3MiOlt7InR5cGUiOiJyZXBvc2l0b3J5IiwibmFtZSI6InNhbWFsYmEvbXktYXBwIiwiYWN0aW9ucyI6WyJwdXNoIl19XX0" +
  ".QhflHPfbd6eVF4lM9bwYpFZIV0PfikbyXuLx959ykRTBpe3CYnzs6YBK8FToVb5R47920PVLrh8zuLzdCr9t3w";

// RFC 7638 section 3.1: an RSA key and its SHA-256 thumbprint.
const RFC7638_RSA = {
  kty: "RSA",
  n:
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
};
const RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

const specKey = () => createPublicKey({ key: SPEC_JWK, format: "jwk" });

describe("libtrust key ID (registry 2.x kid)", () => {
  test("the token spec's key gives the spec's kid", () => {
    assert.equal(libtrustKeyId(specKey()), SPEC_KID);
  });

  // Note: the example signature printed in jwt.md ("QhflHPfb...") does not verify with the
  // spec's key (nor with its private half "d", which does match x and y), so the check below
  // signs the spec's header and claims with that private key instead.
  test("the spec's example JWT names that kid; signed with the spec's key it verifies with the public key", () => {
    const [h, p] = SPEC_JWT.split(".") as [string, string, string];
    const header = JSON.parse(Buffer.from(h, "base64url").toString());
    assert.deepEqual(header, { typ: "JWT", alg: "ES256", kid: SPEC_KID });
    const privateKey = createPrivateKey({ key: { ...SPEC_JWK, d: SPEC_D }, format: "jwk" });
    assert.equal(libtrustKeyId(createPublicKey(privateKey)), header.kid);
    const signature = sign("sha256", Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
    assert.equal(signature.length, 64);
    assert.equal(verify("sha256", Buffer.from(`${h}.${p}`), { key: specKey(), dsaEncoding: "ieee-p1363" }, signature), true);
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    assert.deepEqual(claims.access, [{ type: "repository", name: "samalba/my-app", actions: ["push"] }]);
    // A tampered payload does not verify.
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url");
    assert.equal(verify("sha256", Buffer.from(`${h}.${forged}`), { key: specKey(), dsaEncoding: "ieee-p1363" }, signature), false);
  });

  test("the same from the private key's public half, and the format: 12 groups of 4 base32 characters", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const kid = libtrustKeyId(publicKey);
    assert.match(kid, /^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    assert.equal(libtrustKeyId(createPublicKey(privateKey)), kid);
  });

  test("different keys, different kids; RSA keys too", () => {
    const a = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const b = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    assert.notEqual(libtrustKeyId(a), libtrustKeyId(b));
    assert.match(libtrustKeyId(a), /^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
  });
});

/** A strict RFC 7638 thumbprint computed here from the JWK members, independently of the code under test. */
function strictThumbprint(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const members = jwk.kty === "RSA" ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

function hasLeadingZero(key: KeyObject): boolean {
  const jwk = key.export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url")[0] === 0 || Buffer.from(jwk.y!, "base64url")[0] === 0;
}

describe("JWK thumbprints", () => {
  test("RFC 7638's own RSA example", () => {
    const key = createPublicKey({ key: RFC7638_RSA, format: "jwk" });
    assert.equal(rfc7638Thumbprint(key), RFC7638_THUMBPRINT);
    assert.equal(registryJwkThumbprint(key), RFC7638_THUMBPRINT);
  });

  test("for EC keys whose coordinates do not start with a zero byte, registry 3.1's thumbprint is RFC 7638's", async () => {
    assert.equal(hasLeadingZero(specKey()), false);
    assert.equal(registryJwkThumbprint(specKey()), strictThumbprint(specKey()));
    let checked = 0;
    while (checked < 20) {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      if (hasLeadingZero(publicKey)) continue;
      assert.equal(registryJwkThumbprint(publicKey), strictThumbprint(publicKey));
      assert.equal(rfc7638Thumbprint(publicKey), strictThumbprint(publicKey));
      checked++;
    }
  });

  test("P-384 and P-521 keys", async () => {
    for (const namedCurve of ["P-384", "P-521"]) {
      for (;;) {
        const { publicKey } = generateKeyPairSync("ec", { namedCurve });
        if (hasLeadingZero(publicKey)) continue;
        assert.equal(registryJwkThumbprint(publicKey), strictThumbprint(publicKey), namedCurve);
        break;
      }
    }
  });

  test("an EC key with a leading zero byte in x or y: registry 3.1 hashes the coordinate without it (Go's big.Int.Bytes())", async () => {
    let found: KeyObject | undefined;
    for (let i = 0; i < 5000 && !found; i++) {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      if (hasLeadingZero(publicKey)) found = publicKey;
    }
    assert.ok(found, "no key with a leading zero byte in 5000 tries (expected about 1 in 128)");
    const jwk = found.export({ format: "jwk" });
    const strip = (b64: string) => {
      const bytes = Buffer.from(b64, "base64url");
      let i = 0;
      while (i < bytes.length - 1 && bytes[i] === 0) i++;
      return bytes.subarray(i).toString("base64url");
    };
    const goStyle = createHash("sha256")
      .update(`{"crv":"P-256","kty":"EC","x":"${strip(jwk.x!)}","y":"${strip(jwk.y!)}"}`)
      .digest("base64url");
    assert.equal(registryJwkThumbprint(found), goStyle);
    assert.notEqual(registryJwkThumbprint(found), strictThumbprint(found));
    assert.equal(rfc7638Thumbprint(found), strictThumbprint(found));
  });
});

async function openssl(args: string[], input?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-cert-test-"));
  try {
    const file = join(dir, "cert.pem");
    if (input !== undefined) await writeFile(file, input);
    const { stdout } = await execFileAsync("openssl", args.map((a) => (a === "@cert" ? file : a)));
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("selfSignedCertificate", () => {
  const keys: [string, () => KeyObject][] = [
    ["RSA 2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey],
    ["EC P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey],
    ["EC P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey],
    ["EC P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey],
  ];
  for (const [name, make] of keys) {
    test(`${name}: parsed by X509Certificate and openssl, signed by its own key`, async () => {
      const key = make();
      const pem = selfSignedCertificate(key, { commonName: "regauth token signer", days: 30 });
      assert.match(pem, /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
      const cert = new X509Certificate(pem);
      assert.equal(cert.verify(createPublicKey(key)), true);
      assert.equal(cert.checkIssued(cert), true);
      assert.equal(cert.publicKey.export({ type: "spki", format: "der" }).equals(createPublicKey(key).export({ type: "spki", format: "der" })), true);
      assert.equal(cert.subject, "CN=regauth token signer");
      assert.equal(cert.issuer, "CN=regauth token signer");
      assert.equal(cert.ca, true);
      const now = Date.now();
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      assert.ok(from <= now && now - from < 3_600_000, cert.validFrom);
      assert.ok(Math.abs(to - (now + 30 * 86_400_000)) < 3_600_000, cert.validTo);
      // A certificate signed by another key does not verify.
      assert.equal(cert.verify(createPublicKey(make())), false);

      const text = await openssl(["x509", "-noout", "-text", "-in", "@cert"], pem);
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /Subject: CN ?= ?regauth token signer/);
      assert.match(text, /CA:TRUE/);
      assert.match(text, /Digital Signature, Certificate Sign, CRL Sign/);
      assert.match(text, name.startsWith("RSA") ? /sha256WithRSAEncryption/ : /ecdsa-with-SHA(256|384|512)/);
      // openssl itself checks the self-signature.
      const check = await openssl(["verify", "-CAfile", "@cert", "@cert"], pem);
      assert.match(check, /: OK/);
    });
  }

  test("with hosts: DNS and IP subjectAltNames", async () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const pem = selfSignedCertificate(key, { commonName: "auth.example.com", hosts: ["auth.example.com", "localhost", "127.0.0.1", "::1", "2001:db8::5"] });
    const cert = new X509Certificate(pem);
    assert.equal(cert.verify(createPublicKey(key)), true);
    assert.equal(cert.subjectAltName, "DNS:auth.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:5");
    assert.equal(cert.checkHost("auth.example.com"), "auth.example.com");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(cert.checkIP("2001:db8::5"), "2001:db8::5");
    assert.equal(cert.checkHost("other.example.com"), undefined);
    const text = await openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", "@cert"], pem);
    assert.match(text, /DNS:auth\.example\.com, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:5/);
  });

  test("without hosts, no subjectAltName", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    assert.equal(new X509Certificate(selfSignedCertificate(key, { commonName: "x" })).subjectAltName, undefined);
  });

  test("default validity is ten years; a long one (past 2049) uses GeneralizedTime and still parses", async () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const tenYears = new X509Certificate(selfSignedCertificate(key, { commonName: "x" }));
    assert.ok(Math.abs(Date.parse(tenYears.validTo) - (Date.now() + 3650 * 86_400_000)) < 3_600_000);
    const pem = selfSignedCertificate(key, { commonName: "x", days: 365 * 40 });
    const cert = new X509Certificate(pem);
    assert.ok(new Date(cert.validTo).getUTCFullYear() >= 2060);
    assert.equal(cert.verify(createPublicKey(key)), true);
    assert.match(await openssl(["x509", "-noout", "-enddate", "-in", "@cert"], pem), /notAfter=.* 20[6-9]\d GMT/);
  });

  test("serial numbers are positive and differ between certificates", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const a = new X509Certificate(selfSignedCertificate(key, { commonName: "x" }));
    const b = new X509Certificate(selfSignedCertificate(key, { commonName: "x" }));
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.ok(BigInt(`0x${a.serialNumber}`) > 0n);
  });

  test("a UTF-8 common name", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    assert.equal(new X509Certificate(selfSignedCertificate(key, { commonName: "Prüfstelle" })).subject, "CN=Prüfstelle");
  });

  test("an unsupported key type is refused", () => {
    const ed = generateKeyPairSync("ed25519").privateKey;
    assert.throws(() => selfSignedCertificate(ed, { commonName: "x" }), TypeError);
  });
});
