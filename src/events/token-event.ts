/**
 * What happened to one token request: built once by the token endpoint and handed
 * to every sink (the request log now; audit and metrics later). It holds no
 * secret by construction: no password, no token, no Authorization header.
 */
export interface TokenEvent {
  /** Per-process request number, for tying log lines together. */
  requestId: number;
  method: string;
  grant?: string;
  clientIp?: string;
  account?: string;
  service?: string;
  /** OAuth2's client_id, as the client sent it (`docker`, `containers/image`, ...). */
  clientId?: string;
  /** Requested scopes, `type:name:actions`. */
  requested?: string[];
  /** Granted scopes (denied ones keep an empty action list). */
  granted?: string[];
  /** The authentication method that decided. */
  authn?: string;
  cached?: boolean;
  /** Whether a refresh token was handed out with this access token. */
  refreshToken?: boolean;
  /** Which rule decided each scope. */
  rules?: string[];
  /** rate_limited: a locked account or address (429); overloaded: the bound on password checks was full (503). */
  outcome: "issued" | "unauthorized" | "rate_limited" | "overloaded" | "bad_request" | "error";
  status: number;
  /** For a failure: the message the client got. */
  error?: string;
  /** For a 5xx: what went wrong inside, for operators only. */
  detail?: string;
  durationMs: number;
}

export interface EventSink {
  token(event: TokenEvent): void;
}

/** Several sinks behind one. */
export function fanOut(sinks: readonly EventSink[]): EventSink {
  if (sinks.length === 1) return sinks[0]!;
  return { token: (e) => sinks.forEach((s) => s.token(e)) };
}
