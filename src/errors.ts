/**
 * One hierarchy for every error regauth reports. Each carries a stable `code`
 * and the HTTP status it maps to; `httpBody()` in server/respond.ts turns one into
 * the registry's `{"errors":[{"code","message"}]}` shape.
 */
export class RegauthError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    // A 4xx is an answer to a client, not a fault: its stack is never logged, and capturing one
    // took a tenth of the time of a refused request (a 401 flood, measured with --cpu-prof).
    const limit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    try {
      super(message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** The request is malformed: a bad scope, a broken header, a non-UTF-8 query. */
export class BadRequestError extends RegauthError {
  constructor(message: string, code = "BAD_REQUEST") {
    super(code, 400, message);
  }
}

/**
 * A refresh token that cannot be used: unknown, revoked, expired, for another client or
 * service, or its account is gone (RFC 6749 §5.2 invalid_grant). The message says which,
 * except where that would tell a guesser something (an unknown id and a wrong secret read alike).
 */
export class InvalidGrantError extends RegauthError {
  constructor(message: string) {
    super("INVALID_GRANT", 400, message);
  }
}

/** Credentials were missing or wrong. The message never says which. */
export class UnauthorizedError extends RegauthError {
  constructor(message = "authentication required: invalid username or password") {
    super("UNAUTHORIZED", 401, message);
  }
}

/** An answer that tells the client when to come back (the Retry-After header). */
export class RetryLaterError extends RegauthError {
  readonly retryAfterSeconds: number;
  constructor(code: string, status: number, message: string, retryAfterSeconds: number) {
    super(code, status, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Too many failed logins for this account or from this address: try again after `retryAfterSeconds`. */
export class TooManyRequestsError extends RetryLaterError {
  constructor(retryAfterSeconds: number) {
    super("TOOMANYREQUESTS", 429, `too many failed logins; try again in ${retryAfterSeconds} s`, retryAfterSeconds);
  }
}

export class NotFoundError extends RegauthError {
  constructor(path: string) {
    super("NOT_FOUND", 404, `no such endpoint: ${path}`);
  }
}

export class MethodNotAllowedError extends RegauthError {
  readonly allow: readonly string[];
  constructor(method: string, path: string, allow: readonly string[]) {
    super("METHOD_NOT_ALLOWED", 405, `method ${method} is not allowed on ${path}; use ${allow.join(" or ")}`);
    this.allow = allow;
  }
}

/** A backend (a directory, a database, a program) failed; the request may succeed later. */
export class BackendError extends RegauthError {
  readonly backend: string;
  /**
   * What the client is told, when the message names infrastructure (a directory's
   * address, a bind DN) that only operators should see; the full message is logged.
   */
  readonly publicMessage?: string;
  constructor(backend: string, message: string, options?: { cause?: unknown; publicMessage?: string }) {
    super("BACKEND_UNAVAILABLE", 503, `${backend}: ${message}`, options);
    this.backend = backend;
    this.publicMessage = options?.publicMessage;
  }
}

/**
 * Web sign-in refused this person: outside the allowed domain or organisation, consent
 * denied, a stale or replayed callback. Shown on the sign-in page; nothing is stored.
 */
export class SignInRefusedError extends RegauthError {
  constructor(message: string) {
    super("SIGN_IN_REFUSED", 403, message);
  }
}

/** The token store (SQLite, Redis, PostgreSQL) cannot answer; the message names it, the client sees a generic one. */
export class StoreUnavailableError extends BackendError {
  constructor(store: string, message: string, options?: { cause?: unknown }) {
    super(`token_store (${store})`, message, { ...options, publicMessage: "the token store is unavailable; try again shortly" });
  }
}

/** A bug or an unexpected failure inside regauth itself. */
export class InternalError extends RegauthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INTERNAL_ERROR", 500, message, options);
  }
}

/** Where in which file a config problem is. */
export interface ConfigLocation {
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path, e.g. `acl[3].match.name`. */
  key?: string;
}

export interface ConfigIssue extends ConfigLocation {
  message: string;
}

function formatIssue(i: ConfigIssue): string {
  const where = [i.file, i.line !== undefined ? String(i.line) : undefined, i.column !== undefined ? String(i.column) : undefined]
    .filter((x) => x !== undefined)
    .join(":");
  return `${where}: ${i.key ? `${i.key}: ` : ""}${i.message}`;
}

/** The config cannot be used. Lists every problem found, each with file, line and key. */
export class ConfigError extends RegauthError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super("CONFIG_INVALID", 500, issues.map(formatIssue).join("\n"));
    this.issues = issues;
  }
}
