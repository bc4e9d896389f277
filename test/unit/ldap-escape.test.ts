// Account names in LDAP filters (RFC 4515) and DNs (RFC 4514), and DNs read back for parse_cn.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EqualityFilter, FilterParser, SubstringFilter, AndFilter } from "ldapts";
import { cnFromDn, escapeDnValue, escapeFilterValue, fillTemplate, parseDn } from "../../src/backends/ldap/escape.js";

test("filter values: the RFC 4515 specials are hex-escaped, everything else is kept", () => {
  assert.equal(escapeFilterValue("alice"), "alice");
  assert.equal(escapeFilterValue("*"), "\\2a");
  assert.equal(escapeFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  assert.equal(escapeFilterValue("a\\b"), "a\\5cb");
  assert.equal(escapeFilterValue("nul\0"), "nul\\00");
  assert.equal(escapeFilterValue("José Müller"), "José Müller");
  assert.equal(escapeFilterValue("a&b|c!d=e<f>g~h"), "a&b|c!d=e<f>g~h");
});

test("an escaped account stays one literal equality value whatever it contains", () => {
  const template = "(&(uid=${account})(objectClass=person))";
  for (const account of ["*", "*)(uid=*", "alice)(|(uid=*", "al*", "*)(|(objectClass=*))", "a\\", "x)(!(uid=x", "\0", "(", ")"]) {
    const f = FilterParser.parseString(fillTemplate(template, { account: escapeFilterValue(account) }));
    assert.ok(f instanceof AndFilter, account);
    assert.equal(f.filters.length, 2, account);
    const eq = f.filters[0];
    assert.ok(eq instanceof EqualityFilter, `${account}: ${eq?.constructor.name}`);
    assert.equal(eq.attribute, "uid");
    assert.equal(eq.value, account);
  }
  // Unescaped, the same input changes the filter's shape: what the escaping prevents.
  const raw = FilterParser.parseString(fillTemplate(template, { account: "al*" })) as AndFilter;
  assert.ok(raw.filters[0] instanceof SubstringFilter);
  const widened = FilterParser.parseString(fillTemplate(template, { account: "alice)(uid=*" })) as AndFilter;
  assert.equal(widened.filters.length, 3);
});

test("an escaped account inside a substring filter stays literal", () => {
  const f = FilterParser.parseString(fillTemplate("(mail=${account}@*)", { account: escapeFilterValue("a*b") }));
  assert.ok(f instanceof SubstringFilter);
  assert.equal(f.initial, "a*b@");
  assert.deepEqual(f.any, []);
});

test("DN values: RFC 4514 specials, leading # and spaces, trailing spaces, NUL", () => {
  assert.equal(escapeDnValue("alice"), "alice");
  assert.equal(escapeDnValue("admin,ou=x"), "admin\\,ou\\=x");
  assert.equal(escapeDnValue('a+b;c<d>e"f\\g'), 'a\\+b\\;c\\<d\\>e\\"f\\\\g');
  assert.equal(escapeDnValue("#x"), "\\#x");
  assert.equal(escapeDnValue("x#"), "x#");
  assert.equal(escapeDnValue(" a b "), "\\ a b\\ ");
  assert.equal(escapeDnValue(" "), "\\ ");
  assert.equal(escapeDnValue("a\0b"), "a\\00b");
  assert.equal(escapeDnValue("José"), "José");
  // An escaped value parses back as one attribute of one RDN, unchanged.
  for (const v of ["admin,ou=x", "a+b=c", " lead", "trail ", "#h", 'q"uote', "back\\slash", "semi;colon"]) {
    const rdns = parseDn(`uid=${escapeDnValue(v)},ou=people,dc=example,dc=org`);
    assert.ok(rdns, v);
    assert.equal(rdns.length, 4, v);
    assert.deepEqual(rdns[0], [{ type: "uid", value: v }], v);
  }
});

test("fillTemplate replaces every ${name} given, once, and leaves the others", () => {
  assert.equal(fillTemplate("(|(uid=${account})(mail=${account}))", { account: "a" }), "(|(uid=a)(mail=a))");
  assert.equal(fillTemplate("(member=${dn})", { dn: "${account}", account: "x" }), "(member=${account})");
  assert.equal(fillTemplate("${other}", { account: "a" }), "${other}");
  assert.equal(fillTemplate("${toString}", {}), "${toString}");
});

test("parseDn: escapes, hex (UTF-8), multi-valued RDNs, spaces, quoted values, and non-DNs", () => {
  assert.deepEqual(parseDn("cn=dev,ou=groups,dc=example,dc=org"), [
    [{ type: "cn", value: "dev" }],
    [{ type: "ou", value: "groups" }],
    [{ type: "dc", value: "example" }],
    [{ type: "dc", value: "org" }],
  ]);
  assert.deepEqual(parseDn("CN=Smith\\, John,OU=Users")?.[0], [{ type: "CN", value: "Smith, John" }]);
  assert.deepEqual(parseDn("cn=Jos\\C3\\A9,o=x")?.[0], [{ type: "cn", value: "José" }]);
  assert.deepEqual(parseDn("cn=a+uid=b,o=x")?.[0], [
    { type: "cn", value: "a" },
    { type: "uid", value: "b" },
  ]);
  assert.deepEqual(parseDn("cn = dev , o = x")?.map((r) => r[0]!.value), ["dev", "x"]);
  assert.deepEqual(parseDn("cn=\\ padded\\ ,o=x")?.[0], [{ type: "cn", value: " padded " }]);
  assert.deepEqual(parseDn('cn="a,b",o=x')?.[0], [{ type: "cn", value: "a,b" }]);
  assert.deepEqual(parseDn("cn=dev;o=x")?.length, 2);
  assert.deepEqual(parseDn("1.2.3=#04024869,o=x")?.[0], [{ type: "1.2.3", value: "#04024869" }]);
  assert.deepEqual(parseDn(""), []);
  for (const bad of ["dev", "cn=dev,", "=x", "cn=dev,o", "c n=x", "cn=a\\"]) assert.equal(parseDn(bad), undefined, bad);
});

test("cnFromDn (parse_cn): the first CN of a DN, else the value unchanged", () => {
  assert.equal(cnFromDn("cn=dev,ou=groups,dc=example,dc=org"), "dev");
  assert.equal(cnFromDn("CN=Domain Admins,CN=Users,DC=corp,DC=example"), "Domain Admins");
  assert.equal(cnFromDn("uid=alice,cn=team,dc=x"), "team");
  assert.equal(cnFromDn("CN=R\\+D,OU=x"), "R+D");
  assert.equal(cnFromDn("ou=groups,dc=example"), "ou=groups,dc=example");
  assert.equal(cnFromDn("developers"), "developers");
  assert.equal(cnFromDn(""), "");
});
