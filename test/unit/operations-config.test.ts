// metrics and audit sections (regauth additions): defaults and the problems reported at load.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadSection, sectionIssues } from "../helpers/section-config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-ops-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("defaults: metrics on the main listener, no audit trail", async () => {
  const cfg = await loadSection(dir, ["acl: []", "users: {}"]);
  assert.deepEqual(cfg.metrics, { enabled: true, addr: undefined });
  assert.deepEqual(cfg.audit, { enabled: false, file: undefined });
});

test("metrics on their own address; the audit file resolved, `-` for stdout", async () => {
  const cfg = await loadSection(dir, ["acl: []", "users: {}", 'metrics: {addr: "127.0.0.1:9102"}', "audit: {enabled: true, file: logs/audit.jsonl}"]);
  assert.deepEqual(cfg.metrics, { enabled: true, addr: "127.0.0.1:9102" });
  assert.deepEqual(cfg.audit, { enabled: true, file: join(dir, "logs/audit.jsonl") });
  const stdout = await loadSection(dir, ["acl: []", "users: {}", 'audit: {enabled: true, file: "-"}']);
  assert.deepEqual(stdout.audit, { enabled: true, file: undefined });
});

test("a bad metrics address and typos are refused with their key; an audit file without enabled is warned about", async () => {
  const found = await sectionIssues(dir, ["acl: []", "users: {}", 'metrics: {addr: "localhost"}']);
  assert.match(found.map((i) => `${i.key}: ${i.message}`).join("\n"), /metrics.addr: "localhost" is not host:port/);
  const typo = await sectionIssues(dir, ["acl: []", "users: {}", "audit: {enable: true}"]);
  assert.match(typo.map((i) => `${i.key}: ${i.message}`).join("\n"), /audit.enable: unknown key "enable"; did you mean "enabled"\?/);
  const cfg = await loadSection(dir, ["acl: []", "users: {}", "audit: {file: audit.log}"]);
  assert.ok(cfg.warnings.some((w) => /audit.file is set but audit.enabled is not true/.test(w)));
});
