import { isIP } from "node:net";
import { normalizeIp } from "../authz/ip.js";
import { BadRequestError } from "../errors.js";

/**
 * IPv4-mapped IPv6 in any spelling (`::ffff:10.0.0.1`, `::ffff:a00:1`, `0:0:0:0:0:ffff:10.0.0.1`)
 * → `10.0.0.1`, as Go's net.ParseIP + To4 reads it, so IPv4 ACL entries match clients on
 * dual-stack sockets and behind proxies that write the mapped form.
 */
export { normalizeIp };

function stripPort(addr: string): string {
  const bracketed = /^\[(.+)\]:\d+$/.exec(addr);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+):\d+$/.exec(addr);
  return hostPort ? hostPort[1]! : addr;
}

/**
 * The client's address. Behind a proxy (`real_ip_header`), docker_auth's rule:
 * split the header on commas and take entry `real_ip_pos`, counting from the end
 * when negative (clamped to the first). Without the header the socket's peer is used.
 */
export function clientIp(socketAddr: string | undefined, header: string | string[] | undefined, cfg: { realIpHeader?: string; realIpPos: number }): string | undefined {
  if (!cfg.realIpHeader) return socketAddr ? normalizeIp(socketAddr) : undefined;
  const value = Array.isArray(header) ? header.join(",") : (header ?? "");
  const parts = value.split(",");
  let pos = cfg.realIpPos;
  if (pos < 0) pos = Math.max(0, parts.length + pos);
  const raw = (parts[pos] ?? "").trim();
  if (raw === "") throw new BadRequestError(`client address not provided: the ${cfg.realIpHeader} header is missing or has no entry at position ${cfg.realIpPos}`);
  const ip = stripPort(raw);
  // Go's net.ParseIP, which docker_auth uses, refuses an IPv6 zone (fe80::1%eth0); Node's isIP accepts it.
  if (isIP(ip) === 0 || ip.includes("%")) throw new BadRequestError(`unable to parse remote addr ${JSON.stringify(raw.slice(0, 64))} from ${cfg.realIpHeader}`);
  return normalizeIp(ip);
}
