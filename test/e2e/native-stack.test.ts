// examples/compose/run-native.sh: the compose example's registry + regauth + slapd, brought up
// natively, with a push and pull by an LDAP user. The script checks each step itself and
// exits non-zero on the first failure; this test runs it and checks it reached the end.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "../helpers/regauth.js";

test("run-native.sh brings up registry + regauth + slapd and passes its push/pull/deny checks", { timeout: 180_000 }, async () => {
  const script = join(ROOT, "examples", "compose", "run-native.sh");
  const run = () =>
    new Promise<{ code: number; out: string }>((resolve) => {
      const p = spawn("bash", [script], { cwd: ROOT, env: { ...process.env, KEEP_RUNNING: "" } });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (out += d));
      p.on("close", (c) => resolve({ code: c ?? -1, out }));
    });
  let { code, out } = await run();
  // The script picks free ports, then starts servers on them; a test file running beside this one
  // may take one in between. That is the machine, not the script: one more try, with new ports.
  if (code !== 0 && /EADDRINUSE|address already in use/i.test(out)) ({ code, out } = await run());
  assert.equal(code, 0, out);
  assert.match(out, /ok: pushed, pulled back identical, tag listed/);
  assert.match(out, /ok: bob's push was denied/);
  assert.match(out, /All checks passed/);
});
