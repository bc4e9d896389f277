import { pino } from "pino";
import { LineQueue, type Logger } from "../log.js";
import type { EventSink, TokenEvent } from "./token-event.js";

/** Where a pino logger writes: the stream it was built with (a LineQueue from createLogger, or any other). */
type Destination = { write(line: string): unknown };

/**
 * The ISO time of the current millisecond, as pino's `isoTime` writes it: at thousands of lines
 * a second most lines share their millisecond with the one before.
 */
let lastMs = -1;
let lastIso = "";
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** `,"key":value` (JSON-escaped: strings may hold anything a client sent); nothing when undefined, as pino omits it. */
const field = (key: string, v: string | readonly string[] | boolean | undefined) => (v === undefined ? "" : `,"${key}":${JSON.stringify(v)}`);

/**
 * The request log: one `info` line per token request, the field names docker_auth users grep for.
 *
 * This is the one line written at the request rate, so it is serialised here, field by field,
 * into exactly what pino writes for the same object (level, time, fields, msg), and handed to
 * the logger's own destination: pino's generic path (key walk, redaction, hooks) cost about
 * 9 µs a line, a sixth of an anonymous pull. A TokenEvent holds no secret by type, so the
 * redaction pino would apply has nothing to find here; every other line still goes through pino.
 * The line is queued to be written with the turn's other request lines (see LineQueue).
 */
export function logSink(log: Logger): EventSink {
  const destination = (log as unknown as Record<symbol, Destination>)[pino.symbols.streamSym];
  const write = destination instanceof LineQueue ? (line: string) => destination.queue(line) : (line: string) => void destination.write(line);
  return {
    token(e: TokenEvent) {
      if (!log.isLevelEnabled("info")) return;
      write(
        `{"level":"info","time":"${isoNow()}","event":"token","request_id":${e.requestId},"method":${JSON.stringify(e.method)}` +
          field("grant", e.grant) +
          field("client_ip", e.clientIp) +
          field("account", e.account) +
          field("service", e.service) +
          field("client_id", e.clientId) +
          field("requested", e.requested) +
          field("granted", e.granted) +
          field("authn", e.authn) +
          field("cached", e.cached) +
          field("refresh_token_issued", e.refreshToken) +
          field("rules", e.rules) +
          `,"outcome":"${e.outcome}","status":${e.status}` +
          field("error", e.error) +
          field("detail", e.detail) +
          `,"duration_ms":${e.durationMs},"msg":"token request"}\n`,
      );
    },
  };
}
