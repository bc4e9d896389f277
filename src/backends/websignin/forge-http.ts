// What the GitHub and GitLab providers share: bounded HTTP calls to the service, and the
// checks of the keys that name where the service is.
import { isIP } from "node:net";
import { parseGoDuration } from "../../config/duration.js";
import type { SectionContext } from "../../config/section.js";
import { BackendError } from "../../errors.js";

/** No answer of GitHub's or GitLab's that regauth reads is near this; a bigger one is refused unread. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface ForgeResponse {
  status: number;
  headers: Headers;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  json: unknown;
}

/**
 * One call to the service. Redirects are not followed (a token must not travel to wherever a
 * Location points); the body is read up to MAX_RESPONSE_BYTES; the timeout covers the whole
 * exchange, body included. A failure to reach the service is a BackendError naming the
 * service's origin and path, never the query, headers or body (tokens and secrets travel there).
 */
export async function forgeCall(service: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs: number }): Promise<ForgeResponse> {
  const target = new URL(url);
  const shown = `${target.origin}${target.pathname}`;
  const unavailable = (message: string, cause?: unknown) => new BackendError(service, message, { cause, publicMessage: `${service} cannot be reached; try again shortly` });
  let res: Response;
  try {
    res = await fetch(target, { method: init.method ?? "GET", headers: init.headers, body: init.body, redirect: "manual", signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (e) {
    throw unavailable(failure(e, shown, init.timeoutMs), e);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw unavailable(`${shown} answered with ${declared} bytes, more than the ${MAX_RESPONSE_BYTES} accepted`);
  }
  let text: string;
  try {
    text = await readBounded(res);
  } catch (e) {
    if (e instanceof BackendError) throw e;
    throw unavailable(failure(e, shown, init.timeoutMs), e);
  }
  let json: unknown;
  if (text.trim() !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, json };

  async function readBounded(r: Response): Promise<string> {
    if (!r.body) return "";
    const reader = r.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel().catch(() => {});
        throw unavailable(`${shown} answered with more than the ${MAX_RESPONSE_BYTES} bytes accepted`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString("utf8");
  }
}

function failure(e: unknown, shown: string, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `${shown} did not answer within ${timeoutMs / 1000} s (http_timeout)`;
  return `cannot reach ${shown}: ${err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e)}`;
}

/** A BackendError for an answer that makes no sense (an unexpected status, a body without the fields needed). */
export function nonsense(service: string, message: string): BackendError {
  return new BackendError(service, message, { publicMessage: `${service} gave an unexpected answer; try again shortly` });
}

/** An object's string field, or undefined. */
export function field(v: unknown, name: string): string | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const x = (v as Record<string, unknown>)[name];
  return typeof x === "string" ? x : undefined;
}

/** A provider's `error` code from a callback or a token answer, cut down to what is safe to show anywhere. */
export function errorCode(v: string | null | undefined): string {
  return (v ?? "").replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64) || "unknown_error";
}

/** An account name the registry's Basic auth can carry: no colon, no control characters, not absurdly long. */
export function usableAccount(v: string | undefined): v is string {
  // eslint-disable-next-line no-control-regex
  return v !== undefined && v.length > 0 && v.length <= 255 && !/[:\u0000-\u001f\u007f\s]/.test(v);
}

/** This machine: a plain-http provider here sends nothing over the network. */
export const isLoopback = (host: string) => host === "localhost" || host === "[::1]" || (isIP(host) === 4 && host.startsWith("127."));

/**
 * A base URL key (`github_web_uri`, `gitlab_api_uri`, ...): absolute http(s), no query or
 * fragment, its trailing slashes dropped (docker_auth appends paths to it as written). Plain
 * http to anything but this machine sends the client secret and tokens in the clear: warned.
 */
export function baseUri(ctx: SectionContext, path: (string | number)[], v: string | undefined, fallback: string): string {
  if (v === undefined) return fallback;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.add(path, `${JSON.stringify(v)} is not an absolute URL (write it with its scheme, e.g. https://github.example.com)`);
    return fallback;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    ctx.add(path, `must be an http or https URL, not ${u.protocol}`);
    return fallback;
  }
  if (u.search || u.hash || u.username || u.password) {
    ctx.add(path, "must not have a query, a fragment or credentials");
    return fallback;
  }
  if (u.protocol === "http:" && !isLoopback(u.hostname)) {
    const w = ctx.where(path);
    ctx.warn(`${w.file}${w.line !== undefined ? `:${w.line}` : ""}: ${w.key}: ${v} is plain http: the client secret and users' tokens would cross the network unencrypted`);
  }
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

/**
 * A callback URL key (github_auth `redirect_url`, gitlab_auth `redirect_uri`): absolute http(s),
 * and its path must end with the section's callback path, where regauth answers.
 */
export function callbackUrl(ctx: SectionContext, path: (string | number)[], v: string | undefined, callbackPath: string): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.add(path, `${JSON.stringify(v)} is not an absolute URL, e.g. https://auth.example.com${callbackPath}`);
    return undefined;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    ctx.add(path, `must be an http or https URL, not ${u.protocol}`);
    return undefined;
  }
  if (u.search || u.hash) {
    ctx.add(path, "must not have a query or a fragment");
    return undefined;
  }
  if (!u.pathname.replace(/\/+$/, "").endsWith(callbackPath)) {
    ctx.add(path, `must end with ${callbackPath} (regauth answers the provider's callback there, under server.path_prefix)`);
    return undefined;
  }
  return u.href;
}

/**
 * docker_auth's `revalidate_after`: a Go duration, default 1h; 0 also means the default, as
 * in docker_auth. A negative one (docker_auth: re-check at every login) is refused.
 */
export function revalidateAfterMs(ctx: SectionContext, path: (string | number)[], v: string | number | undefined): number {
  const HOUR = 3_600_000;
  if (v === undefined) return HOUR;
  if (typeof v === "string" && /^\s*-/.test(v)) {
    ctx.add(path, "must not be negative");
    return HOUR;
  }
  const ms = typeof v === "string" ? parseGoDuration(v.trim().replace(/^\+/, "")) : undefined;
  if (ms === undefined) {
    ctx.add(path, `must be a duration such as "1h" or "30m" (a bare number is not one)`);
    return HOUR;
  }
  if (ms === 0) return HOUR;
  if (ms < 1000 || ms > 8760 * HOUR) {
    ctx.add(path, "must be between 1s and 8760h (a year)");
    return HOUR;
  }
  return ms;
}

/** The Authorization-free part of a token answer, as regauth keeps it. */
export function tokensFrom(json: unknown, now: number): { accessToken: string; refreshToken?: string; tokenType?: string; expiresAt?: number } | undefined {
  const accessToken = field(json, "access_token");
  if (!accessToken) return undefined;
  const expiresIn = (json as Record<string, unknown>)["expires_in"];
  return {
    accessToken,
    refreshToken: field(json, "refresh_token") || undefined,
    tokenType: field(json, "token_type"),
    expiresAt: typeof expiresIn === "number" && expiresIn > 0 ? now + expiresIn * 1000 : undefined,
  };
}

/** The user's numeric id from a forge's `GET /user`, as text (ProviderTokens.subject). */
export function userId(me: unknown): string | undefined {
  const id = (me as Record<string, unknown> | undefined)?.["id"];
  return typeof id === "number" || (typeof id === "string" && id !== "") ? String(id) : undefined;
}
