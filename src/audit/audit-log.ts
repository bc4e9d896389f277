import { createWriteStream, type WriteStream } from "node:fs";
import type { EventSink, TokenEvent } from "../events/token-event.js";
import type { Logger } from "../log.js";
import type { AuditConfig } from "./section.js";

/** Past this much unwritten audit text (a disk slower than the requests) records are dropped and counted, not queued without bound. */
const MAX_BUFFERED_BYTES = 8 << 20;

export interface AuditLog extends EventSink {
  /** Records dropped because the destination could not keep up. */
  readonly dropped: number;
  close(): Promise<void>;
}

/** One audit record: who asked for what, what was granted and by which rule. Never a password or a token. */
function record(e: TokenEvent): string {
  return `${JSON.stringify({
    time: new Date().toISOString(),
    // Request ids count per process: with the pid they are unique across workers.
    pid: process.pid,
    request_id: e.requestId,
    client_ip: e.clientIp,
    account: e.account,
    authn: e.authn,
    grant: e.grant,
    service: e.service,
    client_id: e.clientId,
    requested: e.requested ?? [],
    granted: e.granted ?? [],
    rules: e.rules ?? [],
    outcome: e.outcome,
    status: e.status,
    error: e.error,
  })}\n`;
}

/**
 * The audit trail: a JSON line per token decision, written whatever the log level, to a
 * file (appended, one write per record, so several workers interleave whole lines) or stdout.
 */
export function openAuditLog(c: AuditConfig, log: Logger): AuditLog {
  let out: WriteStream | NodeJS.WriteStream;
  if (c.file) {
    const file = createWriteStream(c.file, { flags: "a", mode: 0o640 });
    file.on("error", (e) => log.error({ file: c.file, error: e.message }, "the audit file cannot be written; audit records are lost until this is fixed"));
    out = file;
  } else out = process.stdout;
  let dropped = 0;
  let warned = false;
  return {
    get dropped() {
      return dropped;
    },
    token(e) {
      if (out.writableLength > MAX_BUFFERED_BYTES || out.destroyed) {
        dropped++;
        if (!warned) {
          warned = true;
          log.error({ file: c.file ?? "stdout" }, "audit records are being dropped: the destination does not keep up");
        }
        return;
      }
      warned = false;
      out.write(record(e));
    },
    async close() {
      if (out === process.stdout || out.destroyed) return;
      await new Promise<void>((resolve) => (out as WriteStream).end(resolve));
    },
  };
}
