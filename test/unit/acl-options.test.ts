// acl_options.label_values: docker_auth splices ${labels:...} values into patterns as
// pattern syntax (a label `*` is a wildcard); `literal` makes a value match only itself.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { writeKeyPair } from "../helpers/regauth.js";

let dir: string;
let keys: { cert: string; key: string };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-aclopt-"));
  keys = await writeKeyPair(dir, "k", "ec");
});
after(() => rm(dir, { recursive: true, force: true }));

const text = (options: string) => `
server: {addr: ":5001"}
token: {issuer: "i", expiration: 60, certificate: "${keys.cert}", key: "${keys.key}"}
users: {"u": {}}
${options}
acl:
  - match: {account: "u", name: "\${labels:group}/*"}
    actions: ["push"]
`;

async function decide(options: string, group: string, name: string): Promise<readonly string[]> {
  const app = await buildApp(await parseConfig("opt.yml", text(options)));
  try {
    const d = await app.authz.authorize({ account: "u", type: "repository", name, service: "s", actions: ["push"], labels: { group: [group] } });
    return d.actions;
  } finally {
    await app.stop();
  }
}

describe("acl_options.label_values", () => {
  test("by default (docker_auth) a label value * is a wildcard, and check warns about it", async () => {
    assert.deepEqual(await decide("", "*", "anything/app"), ["push"]);
    const cfg = await parseConfig("opt.yml", text(""));
    assert.ok(cfg.warnings.some((w) => /label_values: literal/.test(w)), cfg.warnings.join("\n"));
  });

  test("literal: a label value matches only itself; no warning", async () => {
    const opt = "acl_options: {label_values: literal}";
    assert.deepEqual(await decide(opt, "*", "anything/app"), []);
    assert.deepEqual(await decide(opt, "*", "*/app"), ["push"]);
    assert.deepEqual(await decide(opt, "dev", "dev/app"), ["push"]);
    assert.equal((await parseConfig("opt.yml", text(opt))).warnings.length, 0);
  });

  test("an unknown mode is refused at its key", async () => {
    await assert.rejects(parseConfig("opt.yml", text("acl_options: {label_values: regex}")), (e: unknown) => e instanceof ConfigError && /opt\.yml:5:\d+: acl_options\.label_values: must be pattern/.test(e.message));
  });
});
