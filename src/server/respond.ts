import { METRICS_CONTENT_TYPE } from "../metrics/serve-metrics.js";
import type { ServerResponse } from "node:http";
import { MethodNotAllowedError, RegauthError, RetryLaterError, TooManyRequestsError } from "../errors.js";
import type { SignedToken } from "../token/sign.js";

const JSON_HEADERS = ["content-type", "application/json; charset=utf-8", "x-content-type-options", "nosniff"] as const;

/** `headers` may override cache-control (the JWKS is public); others are added. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  // A flat [name, value, ...] list: Node copies it as is instead of walking an object per response.
  const list: string[] = [...JSON_HEADERS, "content-length", String(Buffer.byteLength(text))];
  let cacheControl = "no-store";
  if (headers) for (const k in headers) if (k === "cache-control") cacheControl = headers[k]!; else list.push(k, headers[k]!);
  list.push("cache-control", cacheControl);
  res.writeHead(status, list);
  res.end(text);
}

/**
 * A token answer, with docker_auth's fields (`token` and `access_token` both, as clients read
 * either), `expires_in`, `issued_at`, and for the OAuth2 form the granted `scope`, and a
 * refresh token when one was issued. A JWS is base64url and dots: ASCII, nothing to escape.
 */
export function sendToken(res: ServerResponse, token: SignedToken, extra?: { scope?: string; refreshToken?: string }): void {
  // A plain answer's bytes are kept with the token: a token shared within a second (see
  // TokenSigner) is answered with no JSON encoding, no UTF-8 scan and no copy.
  let body = extra ? undefined : token.plainBody;
  if (!body) {
    let text = `{"token":"${token.token}","access_token":"${token.token}","expires_in":${token.expiresIn},"issued_at":"${token.issuedAt.toISOString()}"`;
    if (extra?.scope !== undefined) text += `,"scope":${JSON.stringify(extra.scope)}`;
    if (extra?.refreshToken !== undefined) text += `,"refresh_token":${JSON.stringify(extra.refreshToken)}`;
    body = Buffer.from(`${text}}`);
    if (!extra) token.plainBody = body;
  }
  res.writeHead(200, [...JSON_HEADERS, "content-length", String(body.length), "cache-control", "no-store"]);
  res.end(body);
}

/**
 * The one mapping from errors to HTTP: status from the error, body in the
 * registry's `{"errors":[{"code","message"}]}` form (which skopeo and docker
 * print), and the Basic challenge on a 401.
 */
export function sendError(res: ServerResponse, err: RegauthError, realm: string): void {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers["www-authenticate"] = `Basic realm=${JSON.stringify(realm)}`;
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow.join(", ");
  if (err instanceof RetryLaterError) headers["retry-after"] = String(err.retryAfterSeconds);
  sendJson(res, err.status, { errors: [{ code: err.code, message: err.message }] }, headers);
}

/** RFC 6749 §5.2's error codes, by regauth's. */
const OAUTH_CODES: Record<string, string> = {
  INVALID_GRANT: "invalid_grant",
  UNAUTHORIZED: "invalid_grant",
  UNSUPPORTED_GRANT_TYPE: "unsupported_grant_type",
  INVALID_SCOPE: "invalid_scope",
};

/**
 * An error for the OAuth2 form (POST): RFC 6749 §5.2's `error` and `error_description`,
 * with the registry's `errors` list beside them, which is what the docker engine prints.
 * A wrong password is `invalid_grant` with 400 (the resource owner's credentials are the
 * grant); containerd then falls back to GET with Basic credentials, as it does for any 4xx.
 */
export function sendOAuthError(res: ServerResponse, err: RegauthError): void {
  if (err instanceof TooManyRequestsError) return sendOAuthBody(res, 429, "temporarily_unavailable", err);
  if (err.status >= 500 || err.status === 405 || err.status === 413 || err.status === 415) {
    const code = err.status >= 500 ? (err.status === 503 ? "temporarily_unavailable" : "server_error") : "invalid_request";
    return sendOAuthBody(res, err.status, code, err);
  }
  sendOAuthBody(res, err.status === 401 ? 400 : err.status, OAUTH_CODES[err.code] ?? "invalid_request", err);
}

function sendOAuthBody(res: ServerResponse, status: number, code: string, err: RegauthError): void {
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow.join(", ");
  if (err instanceof RetryLaterError) headers["retry-after"] = String(err.retryAfterSeconds);
  sendJson(res, status, { error: code, error_description: err.message, errors: [{ code: err.code, message: err.message }] }, headers);
}

/** Prometheus' text exposition format. */
export function sendMetrics(res: ServerResponse, text: string): void {
  res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}
