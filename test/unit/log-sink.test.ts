// The request log writes its line itself (the hot path); it must be what pino writes for the same fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import { logSink } from "../../src/events/log-sink.js";
import type { TokenEvent } from "../../src/events/token-event.js";
import { createLogger } from "../../src/log.js";

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
  test(`request log line equals pino's for ${name}`, () => {
    const { lines, log } = capture();
    logSink(log).token(e);
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

test("request log writes nothing below info", () => {
  const { lines, log } = capture("warn");
  logSink(log).token(issued);
  assert.deepEqual(lines, []);
});

test("request log line and pino's other lines share one destination, in order", () => {
  const { lines, log } = capture();
  const sink = logSink(log);
  log.info("before");
  sink.token(issued);
  log.warn("after");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["before", "token request", "after"]);
});
