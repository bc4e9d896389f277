import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../app.js";
import { BackendError, BadRequestError, InternalError, MethodNotAllowedError, NotFoundError, RegauthError, RetryLaterError } from "../errors.js";
import type { EventSink, TokenEvent } from "../events/token-event.js";
import { issueToken } from "../grants/dispatch.js";
import type { Logger } from "../log.js";
import { MAX_QUERY_BYTES, parseQuery } from "../request/query.js";
import { formatScope } from "../request/scope.js";
import { parseTokenRequest } from "../request/token-request.js";
import { jwksDocument } from "../token/jwks.js";
import { clientIp } from "./client-ip.js";
import { sendError, sendJson, sendMetrics, sendOAuthError, sendToken } from "./respond.js";
import { PasswordChecksBusyError } from "../authn/password-gate.js";
import { indexPage, SCRIPT, SCRIPT_PATH, sendAsset, sendPage, STYLE, STYLE_PATH } from "../backends/websignin/pages.js";

const MAX_URL = 8 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The client went away before its request was complete: nobody to answer, nothing unexpected. */
class ClientGoneError extends Error {}

async function readForm(req: IncomingMessage): Promise<string> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded")
    throw new RegauthError("UNSUPPORTED_MEDIA_TYPE", 415, "POST bodies must be application/x-www-form-urlencoded (the OAuth2 token form)");
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_QUERY_BYTES) throw new RegauthError("PAYLOAD_TOO_LARGE", 413, `form body is longer than ${MAX_QUERY_BYTES} bytes`);
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof RegauthError) throw e;
    throw new ClientGoneError((e as Error).message);
  }
  if (req.readableAborted) throw new ClientGoneError("aborted");
  try {
    return utf8.decode(Buffer.concat(chunks));
  } catch {
    throw new BadRequestError("form body is not valid UTF-8");
  }
}

/**
 * What a client is told about a failure. Details that map the network (a directory's
 * host, a bind DN) and internal errors stay in the log.
 */
function publicError(err: RegauthError): RegauthError {
  if (err instanceof BackendError && err.publicMessage) return new RegauthError(err.code, err.status, err.publicMessage);
  if (err instanceof InternalError) return new InternalError("internal error; see the server's log");
  return err;
}

let requestIds = 0;

/**
 * Routes requests to the current App. `getApp` is read once per request, and the
 * request is counted against that App until its response is done, so a reload
 * stops the old configuration only after the requests it started have finished.
 */
/** How long a refusal that says "retry later" (429, 503 SERVER_BUSY) is held before it is sent. */
const REFUSAL_PAUSE_MS = 250;

export function createHandler(getApp: () => App, log: Logger, events: EventSink, closing: () => boolean = () => false, metricsText?: () => Promise<string>) {
  /** Whether each backend's last readiness answer was ok: a change is logged once, not every probe. */
  const lastReady = new Map<string, boolean>();
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const app = getApp();
    app.inFlight.enter();
    // Shutting down: answer, then close, so keep-alive clients reconnect to a live replica.
    if (closing()) res.setHeader("connection", "close");
    try {
      await route(req, res, app);
    } finally {
      app.inFlight.leave();
    }
  };

  async function route(req: IncomingMessage, res: ServerResponse, app: App): Promise<void> {
    const cfg = app.config;
    if (cfg.server.hsts) res.setHeader("strict-transport-security", "max-age=63072000; includeSubDomains");
    const rawUrl = req.url ?? "/";
    try {
      // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own check would answer with an empty body.
      if (req.headers.host === undefined && req.httpVersionMinor >= 1) throw new BadRequestError("the Host header is required in HTTP/1.1 requests");
      if (rawUrl.length > MAX_URL) throw new RegauthError("URI_TOO_LONG", 414, `request URL is longer than ${MAX_URL} bytes`);
      const q = rawUrl.indexOf("?");
      const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const query = q < 0 ? "" : rawUrl.slice(q + 1);
      const prefix = cfg.server.pathPrefix;
      const sub = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
      switch (sub) {
        case "/auth":
        case "/auth/token":
          return await token(req, res, app, path, query);
        case "/healthz":
          allow(req, path, ["GET", "HEAD"]);
          return sendJson(res, 200, { status: "ok" });
        case "/readyz":
          allow(req, path, ["GET", "HEAD"]);
          return await ready(res, app);
        case "/metrics":
          // On its own listener (metrics.addr) or turned off: not here.
          if (!metricsText || !cfg.metrics.enabled || cfg.metrics.addr) throw new NotFoundError(path.slice(0, 200));
          allow(req, path, ["GET", "HEAD"]);
          return sendMetrics(res, await metricsText());
        case "/.well-known/jwks.json":
        case "/jwks":
          allow(req, path, ["GET", "HEAD"]);
          return sendJson(res, 200, jwksDocument(app.key), { "cache-control": "public, max-age=300" });
        case "/":
          allow(req, path, ["GET", "HEAD"]);
          // A browser gets the sign-in page when there is one; API clients keep the JSON.
          if (app.signIns.length && /\btext\/html\b/.test(req.headers.accept ?? "")) return sendPage(res, 200, indexPage(prefix, app.signIns));
          return sendJson(res, 200, { name: "regauth", issuer: cfg.token.issuer, token_endpoint: `${prefix}/auth` });
        case STYLE_PATH:
        case SCRIPT_PATH:
          if (!app.signIns.length) throw new NotFoundError(path.slice(0, 200));
          allow(req, path, ["GET", "HEAD"]);
          return sendAsset(res, sub === STYLE_PATH ? "text/css" : "text/javascript", sub === STYLE_PATH ? STYLE : SCRIPT);
        default: {
          const r = sub === undefined ? undefined : app.routes.get(sub);
          if (!r) throw new NotFoundError(path.slice(0, 200));
          allow(req, path, [...r.methods]);
          return await r.handle(req, res, query, prefix);
        }
      }
    } catch (e) {
      if (e instanceof ClientGoneError) return void log.debug({ path: rawUrl.split("?")[0]!.slice(0, 200) }, "client went away mid-request");
      const err = e instanceof RegauthError ? e : new InternalError("internal error", { cause: e });
      if (!(e instanceof RegauthError)) log.error({ err: e, path: rawUrl.split("?")[0] }, "unexpected error");
      if (!res.headersSent) sendError(res, publicError(err), cfg.token.issuer);
    }
  }

  /**
   * Readiness for load balancers and Kubernetes: 503 while a backend cannot serve. The
   * client sees which backend, not why (the reason can map the network); the log has why.
   */
  async function ready(res: ServerResponse, app: App): Promise<void> {
    const health = await app.health();
    const backends: Record<string, { ok: boolean }> = {};
    for (const [key, h] of health) {
      backends[key] = { ok: h.ok };
      if (lastReady.get(key) !== h.ok) {
        if (h.ok) log.info({ event: "backend_ready", backend: key }, "backend ready");
        else log.warn({ event: "backend_not_ready", backend: key, detail: h.detail }, "backend not ready");
        lastReady.set(key, h.ok);
      }
    }
    const ok = [...health.values()].every((h) => h.ok);
    sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", backends });
  }

  function allow(req: IncomingMessage, path: string, methods: string[]): void {
    if (!methods.includes(req.method ?? "")) throw new MethodNotAllowedError(req.method ?? "?", path, methods);
  }

  async function token(req: IncomingMessage, res: ServerResponse, app: App, path: string, query: string): Promise<void> {
    const started = process.hrtime.bigint();
    const cfg = app.config;
    const event: TokenEvent = { requestId: ++requestIds, method: req.method ?? "?", outcome: "error", status: 500, durationMs: 0 };
    try {
      allow(req, path, ["GET", "POST"]);
      const oauth = req.method === "POST";
      const params = parseQuery(query);
      if (oauth) for (const [k, v] of parseQuery(await readForm(req), "form body")) params.set(k, [...v, ...(params.get(k) ?? [])]);
      const ip = clientIp(req.socket.remoteAddress, cfg.server.realIpHeader ? req.headers[cfg.server.realIpHeader.toLowerCase()] : undefined, cfg.server);
      event.clientIp = ip;
      const tr = parseTokenRequest(params, req.headers.authorization, oauth, ip);
      event.grant = tr.grant;
      event.account = tr.account;
      event.service = tr.service;
      event.clientId = tr.clientId;
      event.requested = tr.scopes.map((s) => formatScope(s, s.actions));
      const result = await issueToken(app, tr);
      event.account = result.account;
      event.granted = result.access.map((a) => formatScope(a, a.actions));
      event.authn = result.method;
      event.cached = result.cached;
      event.rules = result.rules;
      event.outcome = "issued";
      event.status = 200;
      event.refreshToken = result.refreshToken !== undefined;
      // RFC 6749 §5.1: the form answers with the scope granted, which may be narrower than the one asked for.
      const scope = oauth ? result.access.filter((a) => a.actions.length > 0).map((a) => formatScope(a, a.actions)).join(" ") : undefined;
      sendToken(res, result.token, scope !== undefined || result.refreshToken !== undefined ? { scope, refreshToken: result.refreshToken } : undefined);
    } catch (e) {
      if (e instanceof ClientGoneError) {
        event.outcome = "bad_request";
        event.status = 499;
        event.error = "client went away before sending the whole request";
        return;
      }
      const err = e instanceof RegauthError ? e : new InternalError("internal error", { cause: e });
      const shown = publicError(err);
      event.outcome = err.status === 401 ? "unauthorized" : err.status === 429 ? "rate_limited" : err instanceof PasswordChecksBusyError ? "overloaded" : err.status < 500 ? "bad_request" : "error";
      event.status = err.status;
      event.error = shown.message;
      if (shown !== err) event.detail = err.message;
      if (!(e instanceof RegauthError)) log.error({ err: e }, "token request failed unexpectedly");
      // A client that retries at once must not spin the server on refusals (a locked account, no
      // capacity for password checks): they are answered after a short, bounded pause.
      if (err instanceof RetryLaterError) await new Promise((r) => setTimeout(r, REFUSAL_PAUSE_MS));
      if (req.method === "POST") sendOAuthError(res, shown);
      else sendError(res, shown, cfg.token.issuer);
    } finally {
      event.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      events.token(event);
      app.audit?.token(event);
    }
  }
}
