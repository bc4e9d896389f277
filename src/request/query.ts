import { BadRequestError } from "../errors.js";

/** Longest query string or form body accepted; real clients send well under 2 KiB. */
export const MAX_QUERY_BYTES = 16 * 1024;

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, " "));
  } catch {
    throw new BadRequestError(`${what} is not valid percent-encoded UTF-8`);
  }
}

/**
 * Parse `a=1&b=2` strictly: a malformed escape or bytes that are not UTF-8 are
 * a 400 with a message, not silently replaced (URLSearchParams would insert U+FFFD).
 */
export function parseQuery(query: string, what = "query string"): Map<string, string[]> {
  if (query.length > MAX_QUERY_BYTES) throw new BadRequestError(`${what} is longer than ${MAX_QUERY_BYTES} bytes`);
  const out = new Map<string, string[]>();
  if (query === "") return out;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode(eq < 0 ? pair : pair.slice(0, eq), what);
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1), what);
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(key + value)) throw new BadRequestError(`${what} contains control characters`);
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}
