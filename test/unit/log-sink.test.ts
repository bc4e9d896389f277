// The request log writes its line itself (the hot path); it must be what pino writes for the same fields.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { logSink } from "../../src/events/log-sink.js";
import type { TokenEvent } from "../../src/events/token-event.js";
import { createLogger } from "../../src/log.js";
import { ROOT } from "../helpers/regauth.js";

const turn = () => new Promise((r) => setImmediate(r));

function capture(level = "info") {
  const lines: string[] = [];
  return { lines, log: createLogger(level, { write: (l: string) => void lines.push(l) }) };
}

/** The line pino itself writes for the event's fields. */
function viaPino(e: TokenEvent): Record<string, unknown> {
  const { lines, log } = capture();
  log.info(
    {
      event: "token",
      request_id: e.requestId,
      method: e.method,
      grant: e.grant,
      client_ip: e.clientIp,
      account: e.account,
      service: e.service,
      client_id: e.clientId,
      requested: e.requested,
      granted: e.granted,
      authn: e.authn,
      cached: e.cached,
      refresh_token_issued: e.refreshToken,
      rules: e.rules,
      outcome: e.outcome,
      status: e.status,
      error: e.error,
      detail: e.detail,
      duration_ms: e.durationMs,
    },
    "token request",
  );
  return JSON.parse(lines[0]!);
}

const issued: TokenEvent = {
  requestId: 7,
  method: "GET",
  grant: "password",
  clientIp: "10.1.2.3",
  account: "alice",
  service: "registry.example",
  clientId: "docker",
  requested: ["repository:team/app:pull,push"],
  granted: ["repository:team/app:pull"],
  authn: "static users",
  cached: true,
  refreshToken: false,
  rules: ["repository:team/app:pull,push <- acl #3"],
  outcome: "issued",
  status: 200,
  durationMs: 0.412345,
};

const refused: TokenEvent = {
  requestId: 8,
  method: "POST",
  // What a client sent, with quotes, backslashes, control and non-ASCII characters.
  account: 'ev"il\\\u0001\u2028ü',
  service: "s\nx",
  outcome: "unauthorized",
  status: 401,
  error: "authentication failed",
  durationMs: 12,
};

for (const [name, e] of [["an issued token", issued], ["a refusal with hostile strings and absent fields", refused]] as const) {
  test(`request log line equals pino's for ${name}`, async () => {
    const { lines, log } = capture();
    logSink(log).token(e);
    await turn();
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.endsWith("}\n"), "one JSON object per line");
    const ours = JSON.parse(lines[0]!);
    const theirs = viaPino(e);
    assert.match(ours.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    delete ours.time;
    delete theirs.time;
    assert.deepEqual(ours, theirs);
    // Same key order as pino's line, so a grep or a line-based parser sees no difference.
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
  });
}

test("request log writes nothing below info", async () => {
  const { lines, log } = capture("warn");
  logSink(log).token(issued);
  await turn();
  assert.deepEqual(lines, []);
});

test("request log lines are written together at the end of the turn, and before any other line, in order", async () => {
  const { lines, log } = capture();
  const sink = logSink(log);
  log.info("before");
  sink.token(issued);
  sink.token(refused);
  assert.equal(lines.length, 1, "request lines wait for the end of the turn");
  log.warn("after");
  sink.token(issued);
  await turn();
  const written = lines.join("").split("\n").filter(Boolean);
  assert.deepEqual(written.map((l) => JSON.parse(l).msg), ["before", "token request", "token request", "after", "token request"]);
  assert.deepEqual(written.map((l) => JSON.parse(l).request_id).filter(Boolean), [7, 8, 7]);
  assert.equal(lines.length, 4, "the two request lines before `after` went out as one write");
});

test("a request line queued just before the process exits is still written", async () => {
  const dir = await mkdtemp(join(tmpdir(), "regauth-logexit-"));
  try {
    const file = join(dir, "out.log");
    // Through pino's own asynchronous destination on an open descriptor, as `regauth serve` logs
    // to stdout, and exit within the same turn.
    const script = `
      import { openSync } from "node:fs";
      import { pino } from "pino";
      import { createLogger } from ${JSON.stringify(new URL("../../src/log.js", import.meta.url).href)};
      import { logSink } from ${JSON.stringify(new URL("../../src/events/log-sink.js", import.meta.url).href)};
      const log = createLogger("info", pino.destination({ dest: openSync(${JSON.stringify(file)}, "w"), sync: false }));
      logSink(log).token(${JSON.stringify(issued)});
      process.exit(0);`;
    execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT });
    const written = (await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(written.map((l) => [l.msg, l.request_id]), [["token request", 7]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
