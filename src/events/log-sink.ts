import type { Logger } from "../log.js";
import type { EventSink, TokenEvent } from "./token-event.js";

/** The request log: one `info` line per token request, the field names docker_auth users grep for. */
export function logSink(log: Logger): EventSink {
  return {
    token(e: TokenEvent) {
      if (!log.isLevelEnabled("info")) return;
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
    },
  };
}
