import { BadRequestError } from "../errors.js";
import { Secret } from "../secret.js";

export interface Credentials {
  user: string;
  password: Secret;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Read HTTP Basic credentials. A missing header is `undefined` (anonymous);
 * a header that is present but broken is a 400 that says how.
 */
export function parseBasicAuth(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const m = /^([A-Za-z]+) +(.*)$/.exec(header.trim());
  if (!m) throw new BadRequestError("Authorization header is malformed: expected `Basic <base64(user:password)>`");
  if (m[1]!.toLowerCase() !== "basic") throw new BadRequestError(`Authorization scheme "${m[1]}" is not supported here: send Basic credentials`);
  const b64 = m[2]!.trim();
  if (!BASE64.test(b64) || b64.length % 4 === 1) throw new BadRequestError("Authorization header: Basic credentials are not valid base64");
  let text: string;
  try {
    text = utf8.decode(Buffer.from(b64, "base64"));
  } catch {
    throw new BadRequestError("Authorization header: Basic credentials are not valid UTF-8");
  }
  const colon = text.indexOf(":");
  if (colon < 0) throw new BadRequestError("Authorization header: Basic credentials must be user:password");
  return { user: text.slice(0, colon), password: new Secret(text.slice(colon + 1)) };
}
