// Loading a backend's section in a minimal config, for the section tests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

/** The server and token lines every config needs; the section's lines follow them (line 3 on). */
const HEAD = ['server: {addr: ":5001", certificate: /x.pem, key: /x.key}', "token: {issuer: i, expiration: 900}"];

/** Parse `lines` after HEAD as dir/auth.yml. */
export const loadSection = (dir: string, lines: string[]): Promise<Config> => parseConfig(join(dir, "auth.yml"), [...HEAD, ...lines].join("\n"), dir);

/** The problems of a config that must be refused. */
export async function sectionIssues(dir: string, lines: string[]): Promise<readonly ConfigIssue[]> {
  try {
    await loadSection(dir, lines);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues;
  }
  assert.fail("the config was accepted");
}
