// Client addresses as docker_auth's Go reads them: net.ParseIP, then To4() for any
// address in ::ffff:0:0/96, whatever its spelling, so IPv4 ACL entries match it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeIp } from "../../src/authz/ip.js";
import { clientIp } from "../../src/server/client-ip.js";

describe("normalizeIp: IPv4-mapped IPv6 in any spelling is the IPv4 address", () => {
  const rows: [string, string][] = [
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::ffff:a01:203", "10.1.2.3"],
    ["::ffff:0a01:0203", "10.1.2.3"],
    ["0::ffff:10.1.2.3", "10.1.2.3"],
    ["0:0:0:0:0:ffff:10.1.2.3", "10.1.2.3"],
    ["0:0:0:0:0:ffff:a01:203", "10.1.2.3"],
    ["::0:ffff:a01:203", "10.1.2.3"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["::FFFF:A01:203", "10.1.2.3"],
    ["::ffff:0:0", "0.0.0.0"],
    ["::ffff:ffff:ffff", "255.255.255.255"],
    // Not in ::ffff:0:0/96: unchanged.
    ["::a01:203", "::a01:203"],
    ["::10.1.2.3", "::10.1.2.3"],
    ["::1", "::1"],
    ["::1:ffff:a01:203", "::1:ffff:a01:203"],
    ["2001:db8::ffff:1.2.3.4", "2001:db8::ffff:1.2.3.4"],
    ["0:0:0:0:0:0:ffff:a01", "0:0:0:0:0:0:ffff:a01"],
    ["fe80::1%eth0", "fe80::1%eth0"],
    ["192.0.2.1", "192.0.2.1"],
    ["not an address", "not an address"],
  ];
  for (const [ip, want] of rows) test(`${ip} → ${want}`, () => assert.equal(normalizeIp(ip), want));
});

describe("clientIp normalizes the socket peer and the real_ip_header entry alike", () => {
  const noHeader = { realIpPos: 0 };
  const header = { realIpHeader: "X-Real-IP", realIpPos: 0 };
  for (const spelled of ["::ffff:a01:203", "0::ffff:10.1.2.3", "0:0:0:0:0:ffff:10.1.2.3", "::FFFF:10.1.2.3"]) {
    test(`socket peer ${spelled}`, () => assert.equal(clientIp(spelled, undefined, noHeader), "10.1.2.3"));
    test(`header ${spelled}`, () => assert.equal(clientIp("127.0.0.1", spelled, header), "10.1.2.3"));
    test(`header [${spelled}]:443`, () => assert.equal(clientIp("127.0.0.1", `[${spelled}]:443`, header), "10.1.2.3"));
  }
  test("a plain IPv6 peer stays IPv6", () => assert.equal(clientIp("2001:db8::1", undefined, noHeader), "2001:db8::1"));
});
