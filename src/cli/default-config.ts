import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { hashPassword } from "../authn/bcrypt.js";
import { generateSigningKey, selfSignedCertificate } from "../token/certificate.js";
import { jwksDocument } from "../token/jwks.js";
import { signingKeyFromPem } from "../token/signing-key.js";

export const DEFAULT_ADDR = "127.0.0.1:5001";

async function exists(p: string): Promise<boolean> {
  return readFile(p).then(() => true, () => false);
}

/**
 * The safe embedded default: listen on loopback only, one `admin` user with a
 * random password (written to a 0600 file, never printed), and an ACL that
 * lets only admin do anything. Keys are made on first start and reused after.
 */
export async function prepareDefaultConfig(dataDir: string): Promise<{ text: string; created: boolean; passwordFile: string }> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.crt");
  const passwordFile = join(dir, "admin-password");
  const hashFile = join(dir, "admin-password.bcrypt");
  let created = false;
  if (!(await exists(keyFile)) || !(await exists(certFile))) {
    const { privateKey, pem } = await generateSigningKey("ec");
    const cert = selfSignedCertificate(privateKey, { commonName: "regauth token signer" });
    await writeFile(keyFile, pem, { mode: 0o600 });
    await writeFile(certFile, cert);
    await writeFile(join(dir, "jwks.json"), JSON.stringify(jwksDocument(signingKeyFromPem(cert, pem, false)), null, 2) + "\n");
    created = true;
  }
  if (!(await exists(hashFile))) {
    const password = randomBytes(18).toString("base64url");
    await writeFile(passwordFile, password + "\n", { mode: 0o600 });
    await chmod(passwordFile, 0o600);
    await writeFile(hashFile, (await hashPassword(password, 10)) + "\n", { mode: 0o600 });
    created = true;
  }
  const text = `# regauth embedded default (used when no config file is given and ./regauth.yml does not exist)
server:
  addr: "${DEFAULT_ADDR}"
token:
  issuer: "regauth"
  expiration: 900
  certificate: ${JSON.stringify(certFile)}
  key: ${JSON.stringify(keyFile)}
users:
  admin:
    password_file: ${JSON.stringify(hashFile)}
acl:
  - match: {account: "admin"}
    actions: ["*"]
    comment: "admin may do anything; everyone else is denied"
`;
  return { text, created, passwordFile };
}
