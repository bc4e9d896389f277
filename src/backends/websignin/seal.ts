import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Authenticated encryption (AES-256-GCM) of small JSON values that leave the process: the
 * sign-in state cookie (in a browser) and the provider tokens kept in the token store.
 * The key is derived per purpose, so a value sealed for one cannot be opened as another.
 */
export class Sealer {
  readonly #key: Buffer;

  constructor(secret: Buffer, purpose: string) {
    this.#key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `regauth ${purpose}`, 32));
  }

  seal(value: unknown): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.#key, iv);
    const body = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
    return `v1.${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64url")}`;
  }

  /** The value, or undefined when the text was not sealed by this key and purpose (or was altered). */
  open(text: string): unknown {
    if (!text.startsWith("v1.")) return undefined;
    const raw = Buffer.from(text.slice(3), "base64url");
    if (raw.length < 29) return undefined;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8"));
    } catch {
      return undefined;
    }
  }
}
