// plugin_authn / plugin_authz: JavaScript modules with the built-in backends' interface.
// The typed examples in examples/plugins/ (compiled by tsc), the export forms a module may
// use, what a misbehaving plugin does to a request, stop(), and config-time refusals.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { buildApp } from "../../src/app.js";
import type { AuthnResult } from "../../src/authn/authenticator.js";
import { parseConfig } from "../../src/config/load.js";
import { nodeLoadsTypeScript } from "../../src/backends/plugin/section.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { Secret } from "../../src/secret.js";
import { BIN, ROOT, writeKeyPair } from "../helpers/regauth.js";
import { errorMessage, granted, LogSink, q, startTestServer, tracked, type TestServer } from "../fixtures/ext/harness.js";

const DIST_EXAMPLES = join(ROOT, "dist", "examples", "plugins");

let dir: string;
let keys: { cert: string; key: string };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "regauth-plugin-"));
  keys = await writeKeyPair(dir, "token", "ec");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Write a plugin module into the temp dir (a fresh file each time: modules are cached by URL). */
async function plugin(code: string, ext = ".mjs"): Promise<string> {
  const p = join(dir, `plugin-${++counter}${ext}`);
  await writeFile(p, code);
  return p;
}

function head(): string {
  return `server:\n  addr: "127.0.0.1:0"\ntoken:\n  issuer: "i"\n  expiration: 60\n  certificate: ${q(keys.cert)}\n  key: ${q(keys.key)}\n`;
}

/** Load a config and build its backends as `regauth check` does; the config problems, if any. */
async function check(body: string): Promise<ConfigIssue[]> {
  try {
    const cfg = await parseConfig(join(dir, "regauth.yml"), head() + body, dir);
    const app = await buildApp(cfg);
    await app.stop();
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
}

async function refused(body: string, key: string, pattern: RegExp): Promise<void> {
  const list = await check(body);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]!.key, key);
  assert.match(list[0]!.message, pattern);
  assert.ok((list[0]!.line ?? 0) > 0);
}

describe("the example plugins (examples/plugins/*.ts, compiled)", () => {
  let service: Server;
  let s: TestServer;
  const passwordsSeen: string[] = [];
  before(async () => {
    service = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const { user, password } = JSON.parse(body) as { user: string; password: string };
        passwordsSeen.push(password);
        const groups: Record<string, string[]> = { dana: ["dev", "CICD"], root: ["admins"] };
        if (req.headers.authorization !== "Bearer svc-token") res.writeHead(500).end();
        else if (user === "broken") res.writeHead(502).end();
        else if (!groups[user]) res.writeHead(404).end();
        else if (password !== `${user}-pass`) res.writeHead(401).end();
        else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ groups: groups[user] }));
      });
    });
    await new Promise<void>((r) => service.listen(0, "127.0.0.1", r));
    process.env.PLUGIN_TEST_SERVICE_TOKEN = "svc-token";
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/check`;
    s = await startTestServer(`
plugin_authn:
  plugin_path: ${q(join(DIST_EXAMPLES, "rest-authn.js"))}
  options:
    url: ${q(url)}
    token_env: "PLUGIN_TEST_SERVICE_TOKEN"
plugin_authz:
  plugin_path: ${q(join(DIST_EXAMPLES, "namespace-authz.js"))}
  options: {admin_group: "admins"}
acl:
  - match: {labels: {group: CICD}, name: "ci/*"}
    actions: ["pull", "push"]
    comment: "the static ACL is asked first"
`);
  });
  after(async () => {
    await s?.stop();
    service?.close();
  });

  test("the REST authenticator's groups become labels: the ACL, then the namespace authorizer decide", async () => {
    const r = await s.token("dana", "dana-pass", "repository:ci/app:push,pull", "repository:dana/tool:push", "repository:other/x:pull");
    assert.deepEqual(granted(r), { "ci/app": ["pull", "push"], "dana/tool": ["push"], "other/x": [] });
    const entry = await s.log.entry((e) => e.event === "token" && e.account === "dana");
    assert.equal(entry?.authn, "plugin_authn (rest user service)");
    assert.ok(entry?.rules.some((x: string) => x.includes("plugin_authz (namespaces): own namespace")));
  });

  test("the admin group may do anything", async () => {
    assert.deepEqual(granted(await s.token("root", "root-pass", "repository:other/x:pull,push,delete")), { "other/x": ["delete", "pull", "push"] });
  });

  test("401 from the service denies, 404 leaves the user to nobody: both a 401", async () => {
    assert.equal((await s.token("dana", "wrong")).status, 401);
    assert.equal((await s.token("zed", "x")).status, 401);
  });

  test("a failing service is a 503 whose details stay in the log", async () => {
    const r = await s.token("broken", "x");
    assert.equal(r.status, 503);
    assert.equal(errorMessage(r), 'plugin_authn: the plugin "rest user service" failed (see regauth\'s log)');
    assert.ok(s.log.entries().some((e) => e.level === "error" && e.backend === "plugin_authn" && /user service answered 502/.test(e.err?.message ?? "")));
  });

  test("the password reached the service but never the log", () => {
    assert.ok(passwordsSeen.includes("dana-pass"));
    for (const p of ["dana-pass", "root-pass"]) assert.ok(!s.log.text().includes(p));
  });
});

describe("what a plugin module may export", () => {
  const deps = async (body: string) => {
    const config = await parseConfig(join(dir, "regauth.yml"), head() + body, dir);
    return { config, log: createLogger("silent", new LogSink()) };
  };
  const authnWith = async (path: string, extra = "") => {
    const app = await buildApp((await deps(`plugin_authn:\n  plugin_path: ${q(path)}\n${extra}acl: []\n`)).config);
    return { app, a: app.authn.authenticators.at(-1)! };
  };

  test("an object as the default export", async () => {
    const p = await plugin(`export default { name: "obj", async authenticate(u, pw) { return u === "x" && pw.reveal() === "y" ? { kind: "match", labels: { l: ["v"] } } : { kind: "denied" }; }, async stop() {} };`);
    const { app, a } = await authnWith(p);
    assert.equal(a.name, "plugin_authn (obj)");
    assert.deepEqual(await a.authenticate("x", new Secret("y")), { kind: "match", labels: { l: ["v"] } });
    assert.deepEqual(await a.authenticate("x", new Secret("z")), { kind: "denied" });
    await app.stop();
  });

  test("a factory gets the options as plain values (YAML numbers and booleans included), the log and its path", async () => {
    const p = await plugin(`export default async (ctx) => ({ async authenticate() { return { kind: "match", labels: { options: [JSON.stringify(ctx.options)], path: [ctx.pluginPath], log: [typeof ctx.log.info] } }; } });`);
    const { app, a } = await authnWith(p, `  options:\n    n: 5\n    ratio: 0.5\n    flag: true\n    text: "007"\n    list: [a, 2]\n    nested: {x: null, y: [no]}\n`);
    const r = (await a.authenticate("u", new Secret("p"))) as AuthnResult & { kind: "match" };
    assert.deepEqual(JSON.parse(r.labels.options![0]!), { n: 5, ratio: 0.5, flag: true, text: "007", list: ["a", 2], nested: { x: null, y: [false] } });
    assert.deepEqual(r.labels.path, [p]);
    assert.deepEqual(r.labels.log, ["function"]);
    assert.equal(a.name, "plugin_authn");
    await app.stop();
  });

  test("docker_auth's symbol names (Authn, Authz) work, and CommonJS modules too", async () => {
    const named = await plugin(`export const Authn = { name: "go-style", async authenticate() { return { kind: "no-match" }; } };`);
    const { app, a } = await authnWith(named);
    assert.equal(a.name, "plugin_authn (go-style)");
    assert.deepEqual(await a.authenticate("u", new Secret("p")), { kind: "no-match" });
    await app.stop();
    const cjs = await plugin(`exports.Authz = { name: "cjs", async authorize(req) { return { kind: "match", actions: req.actions }; } };`, ".cjs");
    const built = await buildApp((await deps(`users: {}\nplugin_authz:\n  plugin_path: ${q(cjs)}\n`)).config);
    const z = built.authz.authorizers.at(-1)!;
    assert.equal(z.name, "plugin_authz (cjs)");
    assert.deepEqual((await z.authorize({ account: "a", type: "repository", name: "n", service: "s", actions: ["pull"], labels: {} })).kind, "match");
    await built.stop();
  });
});

describe("an authorizer plugin's answers are checked", () => {
  let s: TestServer;
  before(async () => {
    const p = await plugin(`
export default {
  name: "checked",
  async authorize(req) {
    const top = req.name.split("/")[0];
    if (top === "greedy") return { kind: "match", actions: ["pull", "push", "delete", "*admin*"] };
    if (top === "star") return { kind: "match", actions: ["*"] };
    if (top === "mutate") { req.labels.group = ["admins"]; req.actions.push("delete"); return { kind: "no-match" }; }
    if (top === "garbage") return { kind: "match", actions: "pull" };
    if (top === "throws") throw new Error("authz database is down: secret detail");
    if (top === "string") throw "a bare string";
    if (top === "pass") return { kind: "no-match" };
    return { kind: "match", actions: req.labels.group?.includes("admins") ? req.actions : [] };
  },
};`);
    s = await startTestServer(`users:\n  "u":\n    labels: {group: [dev]}\nplugin_authz:\n  plugin_path: ${q(p)}\n`);
  });
  after(async () => {
    await s?.stop();
  });

  test("only requested actions are granted; * grants all requested", async () => {
    assert.deepEqual(granted(await s.token("u", "x", "repository:greedy/a:pull", "repository:star/b:pull,push")), { "greedy/a": ["pull"], "star/b": ["pull", "push"] });
  });

  test("a plugin cannot change the request's labels or actions for the next scope", async () => {
    assert.deepEqual(granted(await s.token("u", "x", "repository:mutate/a:pull", "repository:other/b:pull")), { "mutate/a": [], "other/b": [] });
  });

  test("no-match falls through to the default deny", async () => {
    assert.deepEqual(granted(await s.token("u", "x", "repository:pass/a:pull")), { "pass/a": [] });
  });

  test("an invalid answer or a throw is a 503; the thrown message stays in the log", async () => {
    const bad = await s.token("u", "x", "repository:garbage/a:pull");
    assert.equal(bad.status, 503);
    assert.match(errorMessage(bad), /^plugin_authz: the plugin "checked" returned an invalid result/);
    const thrown = await s.token("u", "x", "repository:throws/a:pull");
    assert.equal(thrown.status, 503);
    assert.doesNotMatch(errorMessage(thrown), /secret detail/);
    assert.ok(s.log.text().includes("authz database is down: secret detail"));
    assert.equal((await s.token("u", "x", "repository:string/a:pull")).status, 503);
  });
});

describe("a slow plugin", () => {
  let s: TestServer;
  let hooks: { release: () => void; stopped: number };
  before(async () => {
    const p = await plugin(`
export const hooks = { stopped: 0, release: () => {} };
export default {
  name: "slow",
  authenticate(user) {
    if (user === "hang") return new Promise(() => {});
    if (user === "held") return new Promise((r) => { hooks.release = () => r({ kind: "match", labels: {} }); });
    return Promise.resolve({ kind: "match", labels: {} });
  },
  async stop() { hooks.stopped++; },
};`);
    s = await startTestServer(`plugin_authn:\n  plugin_path: ${q(p)}\n  timeout_seconds: 1\nacl: []\n`);
    hooks = ((await import(pathToFileURL(p).href)) as { hooks: typeof hooks }).hooks;
  });
  after(async () => {
    await s?.stop();
  });

  test("a call that never answers fails at timeout_seconds with a 503; other requests are served meanwhile", async () => {
    const hang = tracked(s.token("hang", "x"));
    assert.equal((await s.token("fast", "x")).status, 200);
    assert.equal(hang.settled(), false);
    const r = await hang.promise;
    assert.equal(r.status, 503);
    assert.equal(errorMessage(r), 'plugin_authn: the plugin "slow" gave no answer within 1 s');
  });

  test("stop() reaches the plugin once, after the calls in flight have ended", async () => {
    const a = s.authenticator("plugin_authn");
    const held = tracked(a.authenticate("held", new Secret("x")));
    const stopping = tracked(a.stop());
    await new Promise((r) => setImmediate(r));
    assert.equal(hooks.stopped, 0, "not while a call is in flight");
    assert.equal(stopping.settled(), false);
    hooks.release();
    assert.deepEqual(await held.promise, { kind: "match", labels: {} });
    await stopping.promise;
    assert.equal(hooks.stopped, 1);
    await a.stop();
    assert.equal(hooks.stopped, 1, "only once");
    await assert.rejects(a.authenticate("fast", new Secret("x")), /stopped/);
  });
});

describe("a module that exports one object is shared across a reload", () => {
  test("its stop() is called when the last config using it stops, not on reload", async () => {
    const p = await plugin(`export const state = { stopped: 0 }; export default { name: "single", async authenticate() { return { kind: "match", labels: {} }; }, async stop() { state.stopped++; } };`);
    const body = `plugin_authn:\n  plugin_path: ${q(p)}\nacl: []\n`;
    const s = await startTestServer(body);
    const state = ((await import(pathToFileURL(p).href)) as { state: { stopped: number } }).state;
    await s.server.reload(await parseConfig(join(s.dir, "regauth.yml"), `${head()}${body}`, s.dir));
    assert.equal(state.stopped, 0);
    assert.equal((await s.token("u", "x")).status, 200);
    await s.stop();
    assert.equal(state.stopped, 1);
  });
});

describe("plugin config problems are found at check time", () => {
  test("a Go plugin (.so) is refused with a pointer to the JavaScript interface", async () => {
    await writeFile(join(dir, "auth.so"), "");
    await refused(`plugin_authn:\n  plugin_path: "auth.so"\nacl: []\n`, "plugin_authn.plugin_path", /auth\.so is a Go plugin \(\.so\); regauth plugins are JavaScript modules.*examples\/plugins/);
  });

  test("TypeScript: loaded where Node strips types, else refused with what to do", async () => {
    const ts = join(ROOT, "examples", "plugins", "namespace-authz.ts");
    if (nodeLoadsTypeScript()) assert.deepEqual(await check(`users: {}\nplugin_authz:\n  plugin_path: ${q(ts)}\n`), []);
    else await refused(`users: {}\nplugin_authz:\n  plugin_path: ${q(ts)}\n`, "plugin_authz.plugin_path", /is TypeScript, which Node v\d+.* cannot load by itself: compile it to JavaScript \(tsc\)/);
  });

  test("a missing file, a directory, a file that is not JavaScript, and no plugin_path are refused", async () => {
    await refused(`plugin_authn:\n  plugin_path: "missing.js"\nacl: []\n`, "plugin_authn.plugin_path", /missing\.js does not exist/);
    await mkdir(join(dir, "dir.js"), { recursive: true });
    await refused(`plugin_authn:\n  plugin_path: "dir.js"\nacl: []\n`, "plugin_authn.plugin_path", /is not a file/);
    await refused(`plugin_authn:\n  plugin_path: "auth.py"\nacl: []\n`, "plugin_authn.plugin_path", /not a JavaScript module/);
    await refused(`plugin_authn:\n  options: {}\nacl: []\n`, "plugin_authn", /plugin_path is not set/);
    await refused(`plugin_authn:\n  plugin_path: ${q(await plugin("export default {};"))}\n  timeout_seconds: 0\nacl: []\n`, "plugin_authn.timeout_seconds", /more than 0/);
  });

  test("a module that cannot load, exports nothing usable, exports a class, or whose factory fails", async () => {
    const load = async (code: string, pattern: RegExp) => refused(`plugin_authn:\n  plugin_path: ${q(await plugin(code))}\nacl: []\n`, "plugin_authn.plugin_path", pattern);
    await load(`export default {`, /cannot load .*plugin-\d+\.mjs: /);
    await load(`import "./no-such-dependency.mjs"; export default {};`, /cannot load .*no-such-dependency/);
    await load(`export const something = 1;`, /exports no authenticator: export default an object with authenticate\(\)/);
    await load(`export default { authorize() {} };`, /exports no authenticator/);
    await load(`export default class P { authenticate() {} }`, /exports a class/);
    await load(`export default () => { throw new Error("options.url is missing"); };`, /the plugin's factory failed: options.url is missing/);
    await load(`export default () => 42;`, /factory returned no object with authenticate\(\)/);
    const authz = await plugin(`export default { authenticate() {} };`);
    await refused(`users: {}\nplugin_authz:\n  plugin_path: ${q(authz)}\n`, "plugin_authz.plugin_path", /exports no authorizer: export default an object with authorize\(\)/);
  });

  test("`regauth check` exits 1 naming plugin_path for a module without a plugin", async () => {
    const p = await plugin(`export const nothing = true;`);
    await writeFile(join(dir, "check.yml"), `${head()}plugin_authn:\n  plugin_path: ${q(p)}\nacl: []\n`);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN, "check", "check.yml"], { cwd: dir });
      let stderr = "";
      c.stderr.on("data", (d) => (stderr += d));
      c.on("close", (code) => resolve({ code: code ?? -1, stderr }));
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /check\.yml:9:\d+: plugin_authn\.plugin_path: .*exports no authenticator/);
  });
});
