import { BadRequestError } from "../errors.js";
import { Secret } from "../secret.js";

export interface Credentials {
  user: string;
  password: Secret;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ASCII = /^[\x00-\x7f]*$/;
const SCHEME = /^([A-Za-z]+) +(.*)$/;
const NOT_BASE64 = "Authorization header: Basic credentials are not valid base64";

/**
 * The base64 part of the header, checked once against the alphabet, or a 400 that says what is
 * wrong. The usual spelling, `Basic <base64>` exactly, needs no regex over the header and no
 * trims; any other (any case, extra spaces) takes the general parse.
 */
function basicPayload(header: string): string {
  const exact = header.startsWith("Basic ") ? header.slice(6) : "";
  if (exact !== "" && BASE64.test(exact)) return exact;
  const m = SCHEME.exec(header.trim());
  if (!m) throw new BadRequestError("Authorization header is malformed: expected `Basic <base64(user:password)>`");
  if (m[1]!.toLowerCase() !== "basic") throw new BadRequestError(`Authorization scheme "${m[1]}" is not supported here: send Basic credentials`);
  const b64 = m[2]!.trim();
  if (!BASE64.test(b64)) throw new BadRequestError(NOT_BASE64);
  return b64;
}

/**
 * Read HTTP Basic credentials. A missing header is `undefined` (anonymous);
 * a header that is present but broken is a 400 that says how.
 *
 * Every cached login passes here, so the usual `Basic <base64>` skips the general parse, and
 * the bytes come from `atob` with ASCII taken as it is: measured in the server, Buffer plus
 * TextDecoder cost several microseconds a request that a loop of them alone does not show.
 */
export function parseBasicAuth(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const b64 = basicPayload(header);
  // One character per byte: the text itself when every byte is ASCII.
  let bytes: string;
  try {
    bytes = atob(b64);
  } catch {
    // What the alphabet check cannot see: a length that leaves one character over, a padding that does not fit it ("YQ=").
    throw new BadRequestError(NOT_BASE64);
  }
  let text = bytes;
  if (!ASCII.test(bytes)) {
    try {
      text = utf8.decode(Buffer.from(bytes, "latin1"));
    } catch {
      throw new BadRequestError("Authorization header: Basic credentials are not valid UTF-8");
    }
  }
  const colon = text.indexOf(":");
  if (colon < 0) throw new BadRequestError("Authorization header: Basic credentials must be user:password");
  return { user: text.slice(0, colon), password: new Secret(text.slice(colon + 1)) };
}
