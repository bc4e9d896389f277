import { access, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { generateSigningKey, selfSignedCertificate, type KeyType } from "../token/certificate.js";
import { jwksDocument } from "../token/jwks.js";
import { signingKeyFromPem } from "../token/signing-key.js";

/**
 * `regauth keygen [--type rsa|ec] [--out DIR] [--name CN] [--host H ...] [--force | --keep]`:
 * a signing key, its self-signed certificate, a JWKS file, and the registry config that trusts them.
 */
export async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      type: { type: "string", default: "ec" },
      out: { type: "string", default: "." },
      name: { type: "string", default: "regauth token signer" },
      host: { type: "string", multiple: true },
      force: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      "disable-legacy-key-id": { type: "boolean", default: false },
    },
  });
  if (values.type !== "rsa" && values.type !== "ec") {
    process.stderr.write("regauth keygen: --type must be rsa (RS256) or ec (ES256)\n");
    return 2;
  }
  const dir = resolve(values.out);
  const files = { key: join(dir, "token.key"), cert: join(dir, "token.crt"), jwks: join(dir, "jwks.json") };
  if (values.keep && (await Promise.all(Object.values(files).map((f) => access(f).then(() => true, () => false)))).every(Boolean)) {
    process.stdout.write(`${dir} already holds token.key, token.crt and jwks.json; keeping them (--keep)\n`);
    return 0;
  }
  if (!values.force) {
    for (const f of Object.values(files)) {
      if (await access(f).then(() => true, () => false)) {
        process.stderr.write(`regauth keygen: ${f} exists; pass --force to overwrite it\n`);
        return 1;
      }
    }
  }
  await mkdir(dir, { recursive: true });
  const { privateKey, pem } = await generateSigningKey(values.type as KeyType);
  const cert = selfSignedCertificate(privateKey, { commonName: values.name, hosts: values.host });
  const key = signingKeyFromPem(cert, pem, values["disable-legacy-key-id"]);
  await writeFile(files.key, pem, { mode: 0o600 });
  await writeFile(files.cert, cert);
  await writeFile(files.jwks, JSON.stringify(jwksDocument(key), null, 2) + "\n");
  process.stdout.write(
    `Wrote ${files.key} (${key.alg}, keep it secret), ${files.cert} and ${files.jwks}.\n` +
      `kid: ${key.kid}\n\nregauth config:\n\ntoken:\n  certificate: ${files.cert}\n  key: ${files.key}\n` +
      (values["disable-legacy-key-id"] ? "  disable_legacy_key_id: true\n" : "") +
      `\nregistry config.yml:\n\nauth:\n  token:\n    realm: https://YOUR-REGAUTH-HOST/auth\n    service: my.docker.registry\n    issuer: YOUR-ISSUER   # must equal token.issuer\n    rootcertbundle: ${files.cert}\n    # registry 3.x only, optional: jwks: ${files.jwks}\n`,
  );
  return 0;
}
