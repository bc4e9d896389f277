// Reading a token request: Basic credentials, the query string or form, docker_auth's
// account and OAuth2 rules, and the client address behind a proxy (ParseRequest in
// docker_auth's server.go).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BadRequestError } from "../../src/errors.js";
import { parseBasicAuth } from "../../src/request/credentials.js";
import { MAX_QUERY_BYTES, parseQuery } from "../../src/request/query.js";
import type { App } from "../../src/app.js";
import { issueToken } from "../../src/grants/dispatch.js";
import { parseTokenRequest } from "../../src/request/token-request.js";
import { clientIp, normalizeIp } from "../../src/server/client-ip.js";

function assertBadRequest(fn: () => unknown, ...fragments: (string | RegExp)[]): BadRequestError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BadRequestError, `expected BadRequestError, got ${String(err)}`);
  assert.equal(err.status, 400);
  for (const f of fragments) {
    if (typeof f === "string") assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(f)}`);
    else assert.match(err.message, f);
  }
  return err;
}

const basic = (userPass: string | Buffer) => `Basic ${Buffer.from(userPass).toString("base64")}`;

describe("parseBasicAuth", () => {
  test("no header: anonymous", () => {
    assert.equal(parseBasicAuth(undefined), undefined);
  });

  const valid: [string, string, string][] = [
    [basic("alice:s3cret"), "alice", "s3cret"],
    // Only the first colon separates: passwords may contain colons.
    [basic("alice:a:b:c"), "alice", "a:b:c"],
    [basic("alice:"), "alice", ""],
    [basic(":pw"), "", "pw"],
    [basic("jürgen:pässwörd"), "jürgen", "pässwörd"],
    [basic("john.smith@example.com:x y"), "john.smith@example.com", "x y"],
    // The scheme is case-insensitive, as in Go's Request.BasicAuth.
    [`basic ${Buffer.from("bob:pw").toString("base64")}`, "bob", "pw"],
    [`BASIC ${Buffer.from("bob:pw").toString("base64")}`, "bob", "pw"],
    [`Basic  ${Buffer.from("bob:pw").toString("base64")} `, "bob", "pw"],
    // Unpadded base64 is taken, as before.
    ["Basic Ym9iOnB3MQ", "bob", "pw1"],
    // Characters beyond the BMP, and a password that is all non-ASCII.
    [basic("𝒶lice:🔑"), "𝒶lice", "🔑"],
    [basic("ü:€"), "ü", "€"],
  ];
  for (const [header, user, password] of valid) {
    test(`${JSON.stringify(header)} -> ${user}`, () => {
      const c = parseBasicAuth(header);
      assert.ok(c);
      assert.equal(c.user, user);
      assert.equal(c.password.reveal(), password);
    });
  }

  test("the password never shows in String(), JSON or inspect", () => {
    const c = parseBasicAuth(basic("alice:hunter2-secret"))!;
    assert.ok(!JSON.stringify(c).includes("hunter2-secret"));
    assert.ok(!String(c.password).includes("hunter2-secret"));
  });

  const invalid: [string, string][] = [
    [basic("alice"), "must be user:password"],
    [basic(""), "malformed"],
    ["Basic !!!!", "not valid base64"],
    ["Basic YWxp@2U6cw==", "not valid base64"],
    ["Basic YWxpY2U6c===", "not valid base64"],
    ["Basic YWxpY", "not valid base64"],
    ["Basic YWxpY2U6cw=", "not valid base64"],
    ["Basic YWxpY2U6=w==", "not valid base64"],
    [basic(Buffer.from([0xff, 0xfe, 0x3a, 0x61])), "not valid UTF-8"],
    [basic(Buffer.from([0x61, 0x3a, 0xc3])), "not valid UTF-8"],
    ["Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig", 'scheme "Bearer" is not supported'],
    ["Digest username=alice", 'scheme "Digest" is not supported'],
    ["Basic", "malformed"],
    ["", "malformed"],
    ["alice:secret", "malformed"],
  ];
  for (const [header, why] of invalid) {
    test(`${JSON.stringify(header)} is a 400: ${why}`, () => {
      assertBadRequest(() => parseBasicAuth(header), "Authorization", why);
    });
  }

  test("a bad header's message never echoes the credentials", () => {
    const e = assertBadRequest(() => parseBasicAuth(basic(Buffer.concat([Buffer.from("alice:topsecret"), Buffer.from([0xff])]))));
    assert.ok(!e.message.includes("topsecret"));
    assert.ok(!e.message.includes(Buffer.from("alice:topsecret").toString("base64").slice(0, 12)));
  });
});

describe("parseQuery", () => {
  const cases: [string, [string, string[]][]][] = [
    ["", []],
    ["service=registry&scope=repository:a:pull", [["service", ["registry"]], ["scope", ["repository:a:pull"]]]],
    // Repeated keys are kept, in order.
    ["scope=a&scope=b&scope=c", [["scope", ["a", "b", "c"]]]],
    // `+` is a space (form encoding); %2B is a plus.
    ["scope=repository:a:pull+repository:b:push", [["scope", ["repository:a:pull repository:b:push"]]]],
    ["q=a%2Bb", [["q", ["a+b"]]]],
    ["q=a%20b%3Ac%2Fd", [["q", ["a b:c/d"]]]],
    ["account=j%C3%BCrgen", [["account", ["jürgen"]]]],
    ["flag", [["flag", [""]]]],
    ["a=&b=1", [["a", [""]], ["b", ["1"]]]],
    ["a=1=2", [["a", ["1=2"]]]],
    ["&&a=1&", [["a", ["1"]]]],
    ["%61=%62", [["a", ["b"]]]],
  ];
  for (const [query, want] of cases) {
    test(JSON.stringify(query), () => {
      assert.deepEqual([...parseQuery(query).entries()], want);
    });
  }

  const bad: [string, string][] = [
    ["a=%ff", "not valid percent-encoded UTF-8"],
    ["a=%c3%28", "not valid percent-encoded UTF-8"],
    ["a=%zz", "not valid percent-encoded UTF-8"],
    ["a=%", "not valid percent-encoded UTF-8"],
    ["a=%4", "not valid percent-encoded UTF-8"],
    ["%ff=1", "not valid percent-encoded UTF-8"],
    ["a=%00", "control characters"],
    ["a=x%01y", "control characters"],
    ["a=%1b", "control characters"],
    ["a=%7f", "control characters"],
    ["a%00=1", "control characters"],
  ];
  for (const [query, why] of bad) {
    test(`${JSON.stringify(query)} is a 400: ${why}`, () => {
      assertBadRequest(() => parseQuery(query), "query string", why);
    });
  }

  test("the message names what was being parsed", () => {
    assertBadRequest(() => parseQuery("a=%ff", "form body"), "form body is not valid percent-encoded UTF-8");
  });

  test(`longer than ${MAX_QUERY_BYTES} bytes is a 400; exactly ${MAX_QUERY_BYTES} is fine`, () => {
    const exact = `a=${"x".repeat(MAX_QUERY_BYTES - 2)}`;
    assert.equal(parseQuery(exact).get("a")![0]!.length, MAX_QUERY_BYTES - 2);
    assertBadRequest(() => parseQuery(`${exact}x`), "longer than");
  });
});

const params = (q: string) => parseQuery(q);

describe("parseTokenRequest: docker's GET", () => {
  test("Basic credentials, account equal to the user", () => {
    const r = parseTokenRequest(params("account=alice&service=registry.example.com&scope=repository:alice/app:pull,push"), basic("alice:s3cret"), false, "10.0.0.1");
    assert.equal(r.account, "alice");
    assert.equal(r.password.reveal(), "s3cret");
    assert.equal(r.hasCredentials, true);
    assert.equal(r.service, "registry.example.com");
    assert.deepEqual(r.scopes, [{ type: "repository", class: undefined, name: "alice/app", actions: ["pull", "push"] }]);
    assert.equal(r.clientIp, "10.0.0.1");
    assert.equal(r.oauth, false);
    assert.equal(r.offlineToken, false);
  });

  test("without account, the Basic user is the account", () => {
    assert.equal(parseTokenRequest(params("service=r"), basic("bob:pw"), false, undefined).account, "bob");
    assert.equal(parseTokenRequest(params("account=&service=r"), basic("bob:pw"), false, undefined).account, "bob");
  });

  test("account and Basic user differ: 400 naming both", () => {
    assertBadRequest(() => parseTokenRequest(params("account=bob"), basic("alice:pw"), false, undefined), "user and account are not the same", '"alice"', '"bob"');
  });

  test("account is compared exactly (case matters)", () => {
    assertBadRequest(() => parseTokenRequest(params("account=Alice"), basic("alice:pw"), false, undefined), "not the same");
  });

  test("no credentials: anonymous, with or without an account", () => {
    const anon = parseTokenRequest(params("service=r&scope=repository:public/app:pull"), undefined, false, undefined);
    assert.equal(anon.account, "");
    assert.equal(anon.hasCredentials, false);
    assert.equal(anon.password.reveal(), "");
    const named = parseTokenRequest(params("account=carol"), undefined, false, undefined);
    assert.equal(named.account, "carol");
    assert.equal(named.hasCredentials, false);
  });

  test("username and password in a GET query are not credentials (only the OAuth2 POST form carries them)", () => {
    const r = parseTokenRequest(params("username=alice&password=pw"), undefined, false, undefined);
    assert.equal(r.hasCredentials, false);
    assert.equal(r.account, "");
  });

  test("repeated and space-separated scopes are merged", () => {
    const r = parseTokenRequest(params("scope=repository:a:push&scope=repository:a:pull+repository:b:pull"), undefined, false, undefined);
    assert.deepEqual(
      r.scopes.map((s) => [s.name, s.actions]),
      [
        ["a", ["pull", "push"]],
        ["b", ["pull"]],
      ],
    );
  });

  test("a bad scope is a 400", () => {
    assertBadRequest(() => parseTokenRequest(params("scope=repository:A:pull"), undefined, false, undefined), "malformed scope");
  });

  test("a bad Authorization header is a 400", () => {
    assertBadRequest(() => parseTokenRequest(params(""), "Basic !!!", false, undefined), "not valid base64");
  });

  const offline: [string, boolean][] = [
    ["offline_token=true", true],
    ["offline_token=false", false],
    ["access_type=offline", true],
    ["access_type=online", false],
    ["", false],
  ];
  for (const [q, want] of offline) {
    test(`${q || "(nothing)"}: offlineToken ${want}`, () => {
      assert.equal(parseTokenRequest(params(q), undefined, false, undefined).offlineToken, want);
    });
  }

  test("client_id is kept", () => {
    assert.equal(parseTokenRequest(params("client_id=docker"), undefined, false, undefined).clientId, "docker");
  });

  test("the request serialises without the password", () => {
    const r = parseTokenRequest(params("service=r"), basic("alice:topsecret"), false, undefined);
    assert.ok(!JSON.stringify(r).includes("topsecret"));
  });
});

describe("parseTokenRequest: the OAuth2 POST form", () => {
  test("grant_type=password with username and password", () => {
    const r = parseTokenRequest(params("grant_type=password&username=alice&password=s3cret&service=r&client_id=docker&access_type=offline&scope=repository:alice/app:push"), undefined, true, undefined);
    assert.equal(r.account, "alice");
    assert.equal(r.password.reveal(), "s3cret");
    assert.equal(r.hasCredentials, true);
    assert.equal(r.oauth, true);
    assert.equal(r.clientId, "docker");
    assert.equal(r.offlineToken, true);
    assert.deepEqual(r.scopes.map((s) => s.name), ["alice/app"]);
  });

  test("without grant_type the form credentials are used too", () => {
    assert.equal(parseTokenRequest(params("username=alice&password=pw"), undefined, true, undefined).account, "alice");
  });

  test("username without password (or the reverse) is no credentials, as in docker_auth", () => {
    const r = parseTokenRequest(params("grant_type=password&username=alice"), undefined, true, undefined);
    assert.equal(r.hasCredentials, false);
    assert.equal(r.account, "");
    assert.equal(parseTokenRequest(params("grant_type=password&password=pw"), undefined, true, undefined).hasCredentials, false);
  });

  test("Basic credentials win over the form's", () => {
    const r = parseTokenRequest(params("grant_type=password&username=mallory&password=x"), basic("alice:pw"), true, undefined);
    assert.equal(r.account, "alice");
    assert.equal(r.password.reveal(), "pw");
  });

  test("account differing from the form's username is not an error (docker_auth checks only Basic): account is used", () => {
    const r = parseTokenRequest(params("username=alice&password=pw&account=bob"), undefined, true, undefined);
    assert.equal(r.account, "bob");
    assert.equal(r.password.reveal(), "pw");
  });

  test("account differing from the Basic user is a 400 in a POST too", () => {
    assertBadRequest(() => parseTokenRequest(params("account=bob"), basic("alice:pw"), true, undefined), "not the same");
  });

  // The grant dispatcher refuses what no grant serves, before any backend is asked.
  const grant = (form: string) => issueToken({} as App, parseTokenRequest(params(form), undefined, true, undefined));
  test("grant_type=refresh_token without a refresh_token is an invalid_request", async () => {
    await assert.rejects(grant("grant_type=refresh_token&service=r"), (e: Error & { code?: string; status?: number }) => {
      assert.equal(e.code, "INVALID_REQUEST");
      assert.equal(e.status, 400);
      assert.match(e.message, /needs a refresh_token parameter/);
      return true;
    });
  });

  test("the refresh token is kept as a secret in the parsed request", () => {
    const r = parseTokenRequest(params("grant_type=refresh_token&refresh_token=regauth_rt_x&service=r&client_id=docker"), undefined, true, undefined);
    assert.equal(r.refreshToken?.reveal(), "regauth_rt_x");
    assert.equal(JSON.stringify(r).includes("regauth_rt_x"), false);
  });

  test("other grant types are refused", () => {
    const e = assertBadRequest(() => grant("grant_type=authorization_code&code=x"), '"authorization_code"', "use password or refresh_token");
    assert.equal(e.code, "UNSUPPORTED_GRANT_TYPE");
  });

  test("an overlong grant_type is cut in the message", () => {
    const e = assertBadRequest(() => grant(`grant_type=${"x".repeat(1000)}`));
    assert.ok(e.message.length < 200);
  });
});

describe("clientIp: the socket's peer, or real_ip_header at real_ip_pos (docker_auth's ParseRequest)", () => {
  const noHeader = { realIpPos: 0 };
  test("without real_ip_header, the socket address, IPv4-mapped IPv6 reduced to IPv4", () => {
    assert.equal(clientIp("10.1.2.3", "6.6.6.6", noHeader), "10.1.2.3");
    assert.equal(clientIp("::ffff:10.1.2.3", undefined, noHeader), "10.1.2.3");
    assert.equal(clientIp("::1", undefined, noHeader), "::1");
    assert.equal(clientIp(undefined, undefined, noHeader), undefined);
  });

  const xff = "203.0.113.1, 198.51.100.2, 192.0.2.3";
  const positions: [number, string][] = [
    [0, "203.0.113.1"],
    [1, "198.51.100.2"],
    [2, "192.0.2.3"],
    [-1, "192.0.2.3"],
    [-2, "198.51.100.2"],
    [-3, "203.0.113.1"],
    // Past the first entry counting from the end: clamped to the first.
    [-4, "203.0.113.1"],
    [-100, "203.0.113.1"],
  ];
  for (const [pos, want] of positions) {
    test(`real_ip_pos ${pos} of "${xff}" is ${want}`, () => {
      assert.equal(clientIp("10.0.0.1", xff, { realIpHeader: "X-Forwarded-For", realIpPos: pos }), want);
    });
  }

  test("a position past the end is a 400 (docker_auth would panic)", () => {
    assertBadRequest(() => clientIp("10.0.0.1", xff, { realIpHeader: "X-Forwarded-For", realIpPos: 3 }), "client address not provided", "X-Forwarded-For", "position 3");
  });

  test("the header missing or empty is a 400, whatever the socket address", () => {
    const cfg = { realIpHeader: "X-Real-IP", realIpPos: 0 };
    assertBadRequest(() => clientIp("10.0.0.1", undefined, cfg), "client address not provided", "X-Real-IP");
    assertBadRequest(() => clientIp("10.0.0.1", "", cfg), "client address not provided");
    assertBadRequest(() => clientIp("10.0.0.1", "  ", cfg), "client address not provided");
  });

  test("an empty entry at the position is a 400", () => {
    assertBadRequest(() => clientIp("10.0.0.1", "1.2.3.4,", { realIpHeader: "X-Forwarded-For", realIpPos: -1 }), "client address not provided");
  });

  const entries: [string, string][] = [
    ["1.2.3.4", "1.2.3.4"],
    [" 1.2.3.4 ", "1.2.3.4"],
    ["1.2.3.4:5678", "1.2.3.4"],
    ["2001:db8::1", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["::1", "::1"],
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::FFFF:1.2.3.4", "1.2.3.4"],
    ["[::ffff:1.2.3.4]:80", "1.2.3.4"],
  ];
  for (const [entry, want] of entries) {
    test(`entry ${JSON.stringify(entry)} is ${want}`, () => {
      assert.equal(clientIp(undefined, `9.9.9.9, ${entry}`, { realIpHeader: "X-Forwarded-For", realIpPos: -1 }), want);
    });
  }

  const unparsable = ["unknown", "host.example.com", "host.example.com:80", "1.2.3", "1.2.3.4.5", "01.2.3.4", "[1.2.3.4]", "1.2.3.4:", "[2001:db8::1]", "fe80::1%eth0"];
  for (const entry of unparsable) {
    test(`entry ${JSON.stringify(entry)} is a 400`, () => {
      assertBadRequest(() => clientIp(undefined, entry, { realIpHeader: "X-Forwarded-For", realIpPos: 0 }), "unable to parse remote addr", JSON.stringify(entry));
    });
  }

  test("normalizeIp", () => {
    assert.equal(normalizeIp("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(normalizeIp("192.0.2.1"), "192.0.2.1");
    assert.equal(normalizeIp("2001:db8::ffff:1.2.3.4"), "2001:db8::ffff:1.2.3.4");
  });
});
