import { isIP, isIPv6 } from "node:net";

/**
 * The 8 hextets of an IPv6 address in text form (`::`, an embedded dotted IPv4
 * tail, any case), or undefined when it is not one (a zone `%eth0` included: Go's
 * net.ParseIP refuses it).
 */
function hextets(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes("%")) return undefined;
  let tail: number[] = [];
  let body = text;
  const dotted = /(?:^|:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const b = dotted.slice(1, 5).map(Number);
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    body = text.slice(0, text.length - dotted[0].length + (dotted[0].startsWith(":") ? 1 : 0));
    // "::1.2.3.4" leaves "::", "::ffff:1.2.3.4" leaves "::ffff:"; drop one trailing ":" unless it ends a "::".
    if (body.endsWith(":") && !body.endsWith("::")) body = body.slice(0, -1);
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const gap = body.indexOf("::");
  let groups: number[];
  if (gap < 0) groups = [...parse(body), ...tail];
  else {
    const head = parse(body.slice(0, gap));
    const rest = [...parse(body.slice(gap + 2)), ...tail];
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * A client address as Go's net.ParseIP(...).To4() sees it: any IPv6 text whose
 * 128-bit value is in ::ffff:0:0/96 (`::ffff:10.1.2.3`, `::ffff:a01:203`,
 * `0:0:0:0:0:ffff:10.1.2.3`, `::FFFF:10.1.2.3`) becomes the dotted IPv4 address
 * (`10.1.2.3`), so that IPv4 ACL entries match it as docker_auth's would. Any other
 * text comes back unchanged.
 */
export function normalizeIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  const g = hextets(ip);
  if (!g || g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0xffff) return ip;
  return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
}

/** An ACL `ip` pattern docker_auth accepts: an address, or a CIDR with a prefix length that fits its family. */
export function validIpPattern(p: string): boolean {
  const slash = p.indexOf("/");
  if (slash < 0) return isIP(p) !== 0 && !p.includes("%");
  const ip = p.slice(0, slash);
  const bits = p.slice(slash + 1);
  const family = isIP(ip);
  // Go's net.ParseIP and ParseCIDR refuse an IPv6 zone (fe80::1%eth0); Node's isIP accepts it.
  if (ip.includes("%")) return false;
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}
