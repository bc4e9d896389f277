// The Kubernetes manifests, rendered with `kubectl kustomize` (kubectl is on this machine; no
// cluster runs here, so the rendered objects are checked, not applied), and the config each
// carries loaded by regauth itself.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { ROOT, writeKeyPair, type KeyFiles } from "../helpers/regauth.js";

const run = promisify(execFile);
type Obj = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any; data?: Record<string, string> };

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run("kubectl", ["kustomize", join(ROOT, "deploy", "kubernetes", dir)]).catch((e: Error & { code?: string }) => {
    throw new Error(e.code === "ENOENT" ? "kubectl is needed to render the manifests: install kubectl (it bundles kustomize)" : e.message);
  });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

const one = (objs: Obj[], kind: string) => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
};

let dir: string;
let keys: KeyFiles;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-k8s-"));
  keys = await writeKeyPair(dir, "token", "ec");
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The ConfigMap's auth_config.yml, with the Secret's mount pointed at real keys here. */
async function loadCarriedConfig(objs: Obj[], env: Record<string, string> = {}) {
  const text = one(objs, "ConfigMap").data!["auth_config.yml"]!.replaceAll("/keys/token.crt", keys.cert).replaceAll("/keys/token.key", keys.key);
  Object.assign(process.env, env);
  try {
    return await parseConfig("auth_config.yml", text, dir);
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

describe("deploy/kubernetes/base", () => {
  let objs: Obj[];
  before(async () => {
    objs = await render("base");
  });

  test("a Deployment running as non-root with a read-only root, probes on /healthz and /readyz, requests and limits", () => {
    const d = one(objs, "Deployment");
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.securityContext.runAsUser, 0);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    // Writable places only where the server writes: its data directory and /tmp.
    const writable = c.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly).map((m: { mountPath: string }) => m.mountPath).sort();
    assert.deepEqual(writable, ["/data", "/tmp"]);
    assert.ok(pod.terminationGracePeriodSeconds > 15, "longer than the drain bound");
  });

  test("the signing key comes from a Secret, the config from the generated ConfigMap; the Service selects the pods", () => {
    const d = one(objs, "Deployment");
    const vols = d.spec.template.spec.volumes as { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
    assert.equal(vols.find((v) => v.name === "keys")?.secret?.secretName, "regauth-signing-key");
    assert.equal(vols.find((v) => v.name === "config")?.configMap?.name, one(objs, "ConfigMap").metadata.name);
    const svc = one(objs, "Service");
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(d.spec.template.metadata.labels[k], v);
    assert.deepEqual(svc.spec.ports.map((p: { port: number }) => p.port).sort(), [5001, 9102]);
  });

  test("the ConfigMap's config is one regauth loads: docker_auth's format, metrics on their own port", async () => {
    const cfg = await loadCarriedConfig(objs);
    assert.equal(cfg.metrics.addr, ":9102");
    assert.equal(cfg.server.addr, ":5001");
  });
});

describe("deploy/kubernetes/overlays/ha", () => {
  let objs: Obj[];
  before(async () => {
    objs = await render("overlays/ha");
  });

  test("at least two replicas that never all go at once: rolling with no unavailability, a PDB, an HPA from 3", () => {
    const d = one(objs, "Deployment");
    assert.ok(d.spec.replicas >= 2);
    assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
    const pdb = one(objs, "PodDisruptionBudget");
    assert.equal(pdb.spec.maxUnavailable, 1);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) assert.equal(d.spec.template.metadata.labels[k], v);
    const hpa = one(objs, "HorizontalPodAutoscaler");
    assert.equal(hpa.spec.scaleTargetRef.name, d.metadata.name);
    assert.ok(hpa.spec.minReplicas >= 2);
  });

  test("the replicas share Redis (its password from a Secret) and the one signing key", async () => {
    const d = one(objs, "Deployment");
    const env = d.spec.template.spec.containers[0].env as { name: string; valueFrom?: { secretKeyRef: { name: string } } }[];
    assert.equal(env.find((e) => e.name === "REGAUTH_REDIS_PASSWORD")?.valueFrom?.secretKeyRef.name, "regauth-redis");
    const cfg = await loadCarriedConfig(objs, { REGAUTH_REDIS_PASSWORD: "from-the-secret" });
    assert.equal(cfg.tokenStore.backend, "redis");
    assert.equal(cfg.server.realIpHeader, "X-Forwarded-For");
    const vols = d.spec.template.spec.volumes as { name: string; secret?: { secretName: string } }[];
    assert.equal(vols.find((v) => v.name === "keys")?.secret?.secretName, "regauth-signing-key");
  });
});
