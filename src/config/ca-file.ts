import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { SectionContext } from "./section.js";

/** How problems are worded: LDAP keeps docker_auth's own messages, which its users grep for. */
export interface CaFileWording {
  unreadable(file: string, why: string): string;
  noCertificate(file: string): string;
}

const PLAIN: CaFileWording = {
  unreadable: (file, why) => `cannot read ${file}: ${why}`,
  noCertificate: (file) => `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
};

/**
 * A CA bundle named in the config, read once at load: the certificates that parse, as PEM.
 * A file that cannot be read or holds none is reported at `key`, not found at the first connection.
 */
export async function readCaFile(ctx: SectionContext, key: readonly (string | number)[], file: string, wording: CaFileWording = PLAIN): Promise<string | undefined> {
  let pem: string;
  try {
    pem = await readFile(ctx.resolvePath(file), "utf8");
  } catch (e) {
    ctx.add(key, wording.unreadable(file, (e as NodeJS.ErrnoException).code ?? (e as Error).message));
    return undefined;
  }
  const good = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).filter((b) => {
    try {
      new X509Certificate(b);
      return true;
    } catch {
      return false;
    }
  });
  if (good.length === 0) {
    ctx.add(key, wording.noCertificate(file));
    return undefined;
  }
  return good.join("\n") + "\n";
}
