// The young-generation size is a node start flag: every launcher must carry it, and workers get it
// from the primary unless the operator chose their own.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { SEMI_SPACE_FLAG, workerExecArgv } from "../../src/runtime/node-flags.js";

const root = new URL("../../../", import.meta.url);
const text = (path: string) => readFile(new URL(path, root), "utf8");

test("workers get the flag after the primary's own arguments, unless a size was chosen", () => {
  assert.deepEqual(workerExecArgv([], undefined), [SEMI_SPACE_FLAG]);
  assert.deepEqual(workerExecArgv(["--enable-source-maps"], ""), ["--enable-source-maps", SEMI_SPACE_FLAG]);
  // The operator's choice, on the command line (either spelling V8 takes) or in NODE_OPTIONS, stays.
  assert.deepEqual(workerExecArgv(["--max-semi-space-size=64"], undefined), ["--max-semi-space-size=64"]);
  assert.deepEqual(workerExecArgv(["--max_semi_space_size=8"], undefined), ["--max_semi_space_size=8"]);
  assert.deepEqual(workerExecArgv([], "--max-old-space-size=512 --max-semi-space-size=16"), []);
  // Flags that only look alike do not count.
  assert.deepEqual(workerExecArgv(["--max-old-space-size=512"], "--semi-space-growth-factor=2"), ["--max-old-space-size=512", SEMI_SPACE_FLAG]);
});

test("npm start, bin/regauth, the container image and run-native.sh start node with the flag", async () => {
  const pkg = JSON.parse(await text("package.json")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, new RegExp(`^node ${SEMI_SPACE_FLAG} bin/regauth serve$`));
  assert.equal((await text("bin/regauth")).split("\n")[0], `#!/usr/bin/env -S node ${SEMI_SPACE_FLAG}`);
  assert.match(await text("Dockerfile"), new RegExp(`^ENTRYPOINT \\["node", "${SEMI_SPACE_FLAG}", "/app/bin/regauth"\\]$`, "m"));
  assert.match(await text("examples/compose/run-native.sh"), new RegExp(`^node ${SEMI_SPACE_FLAG} "\\$root/bin/regauth" serve `, "m"));
});

test("the flag is one node accepts, and it sets the young generation", () => {
  // V8 reports the new space's capacity; 32 MB semi-spaces allow more than the 16 MB default.
  const probe = "const v8=require('v8');console.log(v8.getHeapSpaceStatistics().find(s=>s.space_name==='new_space').space_size)";
  const grow = `const keep=[];for(let i=0;i<4e5;i++){keep.push({i,s:'x'.repeat(40)+i});}${probe}`;
  const sized = Number(execFileSync(process.execPath, [SEMI_SPACE_FLAG, "-e", grow]).toString());
  const plain = Number(execFileSync(process.execPath, ["-e", grow]).toString());
  assert.ok(sized > plain, `new space with the flag ${sized} B, without ${plain} B`);
});
