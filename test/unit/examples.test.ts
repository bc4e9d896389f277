// The example configs shipped in examples/ are valid regauth (and docker_auth) configs.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { AclAuthorizer } from "../../src/authz/acl.js";
import { parseConfig } from "../../src/config/load.js";
import { ROOT } from "../helpers/regauth.js";

test("every examples/*.yml parses and its ACL compiles", async () => {
  const dir = join(ROOT, "examples");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yml"));
  assert.ok(files.length > 0);
  for (const f of files) {
    const text = await readFile(join(dir, f), "utf8");
    // Secrets files named in examples do not exist here; point them at a real hash for the check.
    const cfg = await parseConfig(
      join(dir, f),
      text.replace(/password_file: "[^"]+"/g, `password: "$2y$04$abcdefghijklmnopqrstuu5Ng8tWYT8nUK1xc3TQzQ9cBFQ7iK2da"`).replace(/client_secret_file: "[^"]+"/g, `client_secret: "example-client-secret"`),
    );
    assert.ok(cfg.acl && cfg.acl.length > 0, f);
    assert.doesNotThrow(() => new AclAuthorizer(cfg.acl!, cfg.where), f);
  }
});
