// Run by `npm test` after every other test file: no password a test used (each one hashed
// through testHash) appears in any log line or audit record a regauth server of the run wrote
// (every server started by startRegauth or serveInProcess). A leak anywhere fails here.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";

const DIR = process.env["REGAUTH_TEST_ARTIFACTS"];

test("no password used in the run appears in anything a server wrote", { skip: DIR ? undefined : "REGAUTH_TEST_ARTIFACTS is not set (npm test sets it)" }, async () => {
  const secrets = [...new Set((await readFile(join(DIR!, "secrets"), "utf8")).split("\n").filter(Boolean).map((b) => Buffer.from(b, "base64").toString()))];
  const files = await readdir(join(DIR!, "written"));
  assert.ok(secrets.length >= 10, `the run declared ${secrets.length} secrets`);
  assert.ok(files.length > 20, `the run kept ${files.length} server outputs`);
  const leaks: string[] = [];
  for (const f of files) {
    const text = await readFile(join(DIR!, "written", f), "utf8");
    for (const s of secrets) if (text.includes(s)) leaks.push(`${f}: ${s.slice(0, 3)}... (${s.length} chars)`);
  }
  assert.deepEqual(leaks, [], `passwords found in server output:\n${leaks.join("\n")}`);
});
