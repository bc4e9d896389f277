// Proves the end-to-end harness itself against the real registry without auth, so that
// a failure in the auth e2e tests points at regauth and not at the harness.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { buildOciImage, compareOciDirs, createTar, readOciImage, type OciImage } from "./oci-image.js";
import { freePort } from "./ports.js";
import { startRegistry, type RunningRegistry } from "./registry.js";
import { parseTags, skopeoCopyPull, skopeoCopyPush, skopeoInspect, skopeoListTags, type SkopeoResult } from "./skopeo.js";

const execFileAsync = promisify(execFile);

let registry: RunningRegistry;
let work: string;

function ok(res: SkopeoResult): void {
  assert.equal(res.code, 0, `skopeo ${res.args.join(" ")} exited ${res.code}:\n${res.stderr}\n--- registry logs ---\n${registry.logs()}`);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "regauth-harness-"));
  registry = await startRegistry({ noAuth: true });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test("freePort returns distinct usable ports, never the same one twice in a process", async () => {
  const ports: number[] = [];
  for (let i = 0; i < 200; i++) ports.push(await freePort());
  assert.ok(ports.every((p) => p > 0 && p < 65536));
  assert.equal(new Set(ports).size, ports.length);
  // Usable: each can be bound right away.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(ports[0], "127.0.0.1", r));
  await new Promise<void>((r) => srv.close(() => r()));
});

test("createTar output is read back by GNU tar with the right contents", async () => {
  const longDir = `${"d".repeat(80)}/${"e".repeat(60)}`;
  const files = {
    "hello.txt": "hello\n",
    "nested/dir/data.bin": Buffer.from([0, 1, 2, 255]),
    [`${longDir}/long-name.txt`]: "long path via ustar prefix\n",
    "exact-block.txt": "x".repeat(512),
  };
  const dir = join(work, "tar-check");
  await mkdir(dir, { recursive: true });
  const tarPath = join(dir, "layer.tar");
  await writeFile(tarPath, createTar(files));
  // GNU tar verifies header checksums and complains loudly about malformed ustar fields.
  const { stdout } = await execFileAsync("tar", ["-tvf", tarPath]);
  assert.match(stdout, /nested\/dir\/data\.bin/);
  const out = join(dir, "x");
  await mkdir(out);
  await execFileAsync("tar", ["-xf", tarPath, "-C", out]);
  for (const [p, content] of Object.entries(files)) {
    const got = await readFile(join(out, p));
    assert.deepEqual(got, typeof content === "string" ? Buffer.from(content) : content, p);
  }
});

test("buildOciImage writes a self-consistent layout whose layer gunzips to diff_id", async () => {
  const img = await buildOciImage(join(work, "local"), "v1", { files: { "etc/motd": "hi\n" } });
  const summary = await readOciImage(img.dir, "v1"); // verifies every blob hash and the diff_id
  assert.equal(summary.manifestDigest, img.manifestDigest);
  assert.deepEqual(summary.layerDigests, img.layerDigests);
  assert.deepEqual(summary.diffIds, img.diffIds);
  assert.equal(summary.architecture, "amd64");
  assert.equal(summary.os, "linux");
  // Same files and mtime give the same layer: gzip from node:zlib is deterministic.
  const again = await buildOciImage(join(work, "local"), "v1-again", { files: { "etc/motd": "hi\n" } });
  assert.deepEqual(again.layerDigests, img.layerDigests);
  const layout = JSON.parse(await readFile(join(img.dir, "oci-layout"), "utf8")) as { imageLayoutVersion: string };
  assert.equal(layout.imageLayoutVersion, "1.0.0");
});

test("push, list tags, inspect and pull round-trip an image unchanged", async () => {
  const repo = `${registry.url}/harness/app`;
  const img = await buildOciImage(join(work, "src-a"), "v1");

  ok(await skopeoCopyPush(img.dir, "v1", `${repo}:v1`));

  const tags = parseTags(await skopeoListTags(repo));
  assert.deepEqual(tags, ["v1"]);

  const inspect = await skopeoInspect(`${repo}:v1`, undefined, { extraArgs: ["--raw"] });
  ok(inspect);
  const rawDigest = `sha256:${createHash("sha256").update(inspect.stdout).digest("hex")}`;
  // skopeo pushes the OCI manifest byte-for-byte, so the registry serves the same digest.
  assert.equal(rawDigest, img.manifestDigest);

  const out = join(work, "pulled-a");
  ok(await skopeoCopyPull(`${repo}:v1`, out, "v1"));
  const cmp = await compareOciDirs(img.dir, out, "v1");
  assert.ok(cmp.same, cmp.differences.join("\n"));
  assert.ok(cmp.sameManifest, cmp.differences.join("\n"));
  assert.deepEqual(cmp.b.layerDigests, img.layerDigests);
});

test("a second image gets different digests and both tags coexist", async () => {
  const repo = `${registry.url}/harness/two`;
  const a: OciImage = await buildOciImage(join(work, "src-b"), "one");
  const b: OciImage = await buildOciImage(join(work, "src-b"), "two", { layerBytes: 256 * 1024 });
  assert.notEqual(a.manifestDigest, b.manifestDigest);
  assert.notEqual(a.configDigest, b.configDigest);
  assert.notDeepEqual(a.layerDigests, b.layerDigests);

  ok(await skopeoCopyPush(a.dir, "one", `${repo}:one`));
  ok(await skopeoCopyPush(b.dir, "two", `${repo}:two`));
  assert.deepEqual(parseTags(await skopeoListTags(repo)).sort(), ["one", "two"]);

  const out = join(work, "pulled-b");
  ok(await skopeoCopyPull(`${repo}:two`, out, "two"));
  const same = await compareOciDirs(b.dir, out, "two");
  assert.ok(same.same, same.differences.join("\n"));
  const different = await compareOciDirs(a.dir, out, "one", "two");
  assert.equal(different.same, false);
  assert.ok(different.differences.length > 0);
});

test("failures are reported, not thrown", async () => {
  const res = await skopeoListTags(`${registry.url}/harness/does-not-exist`, null);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /name unknown|NAME_UNKNOWN|not found/i);
  // Verification on: skopeo refuses to speak plain http to the registry.
  const tls = await skopeoInspect(`${registry.url}/harness/app:v1`, undefined, { tlsVerify: true });
  assert.notEqual(tls.code, 0);
  assert.ok(registry.logs().length > 0, "registry output is captured");
});
