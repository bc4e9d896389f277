import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../app.js";
import { BadRequestError, InternalError, MethodNotAllowedError, NotFoundError, RegauthError } from "../errors.js";
import type { Logger } from "../log.js";
import { MAX_QUERY_BYTES, parseQuery } from "../request/query.js";
import { formatScope } from "../request/scope.js";
import { parseTokenRequest, type TokenRequest } from "../request/token-request.js";
import { jwksDocument } from "../token/jwks.js";
import { issueToken } from "../token-service.js";
import { clientIp } from "./client-ip.js";
import { sendError, sendJson } from "./respond.js";

const MAX_URL = 8 * 1024;

async function readForm(req: IncomingMessage): Promise<string> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded")
    throw new RegauthError("UNSUPPORTED_MEDIA_TYPE", 415, "POST bodies must be application/x-www-form-urlencoded (the OAuth2 token form)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_QUERY_BYTES) throw new RegauthError("PAYLOAD_TOO_LARGE", 413, `form body is longer than ${MAX_QUERY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new BadRequestError("form body is not valid UTF-8");
  }
}

/** Routes requests to the current App; `getApp` is read per request so a reload swaps it atomically. */
export function createHandler(getApp: () => App, log: Logger) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const app = getApp();
    const cfg = app.config;
    if (cfg.server.hsts) res.setHeader("strict-transport-security", "max-age=63072000; includeSubDomains");
    const rawUrl = req.url ?? "/";
    try {
      if (rawUrl.length > MAX_URL) throw new RegauthError("URI_TOO_LONG", 414, `request URL is longer than ${MAX_URL} bytes`);
      const q = rawUrl.indexOf("?");
      const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const query = q < 0 ? "" : rawUrl.slice(q + 1);
      const prefix = cfg.server.pathPrefix;
      const route = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
      switch (route) {
        case "/auth":
        case "/auth/token":
          return await token(req, res, app, query);
        case "/healthz":
          allow(req, path, ["GET", "HEAD"]);
          return sendJson(res, 200, { status: "ok" });
        case "/.well-known/jwks.json":
        case "/jwks":
          allow(req, path, ["GET", "HEAD"]);
          return sendJson(res, 200, jwksDocument(app.key), { "cache-control": "public, max-age=300" });
        case "/":
          allow(req, path, ["GET", "HEAD"]);
          return sendJson(res, 200, { name: "regauth", issuer: cfg.token.issuer, token_endpoint: `${prefix}/auth` });
        default:
          throw new NotFoundError(path.slice(0, 200));
      }
    } catch (e) {
      const err = e instanceof RegauthError ? e : new InternalError("internal error", { cause: e });
      if (!(e instanceof RegauthError)) log.error({ err: e, path: rawUrl.split("?")[0] }, "unexpected error");
      if (!res.headersSent) sendError(res, err, cfg.token.issuer);
    }
  };

  function allow(req: IncomingMessage, path: string, methods: string[]): void {
    if (!methods.includes(req.method ?? "")) throw new MethodNotAllowedError(req.method ?? "?", path, methods);
  }

  async function token(req: IncomingMessage, res: ServerResponse, app: App, query: string): Promise<void> {
    const started = process.hrtime.bigint();
    const cfg = app.config;
    let tr: TokenRequest | undefined;
    const entry: Record<string, unknown> = {};
    try {
      allow(req, req.url!.split("?")[0]!, ["GET", "POST"]);
      const oauth = req.method === "POST";
      const params = parseQuery(query);
      if (oauth) for (const [k, v] of parseQuery(await readForm(req), "form body")) params.set(k, [...v, ...(params.get(k) ?? [])]);
      const ip = clientIp(req.socket.remoteAddress, cfg.server.realIpHeader ? req.headers[cfg.server.realIpHeader.toLowerCase()] : undefined, cfg.server);
      entry.client_ip = ip;
      tr = parseTokenRequest(params, req.headers.authorization, oauth, ip);
      entry.account = tr.account;
      entry.service = tr.service;
      entry.requested = tr.scopes.map((s) => formatScope(s, s.actions));
      const result = await issueToken(app, tr);
      entry.granted = result.access.map((a) => formatScope(a, a.actions));
      entry.authn = result.method;
      entry.cached = result.cached;
      entry.rules = result.rules;
      entry.outcome = "issued";
      entry.status = 200;
      const body: Record<string, unknown> = {
        token: result.token.token,
        access_token: result.token.token,
        expires_in: result.token.expiresIn,
        issued_at: result.token.issuedAt.toISOString(),
      };
      if (oauth) body.scope = entry.requested && (entry.requested as string[]).join(" ");
      sendJson(res, 200, body);
    } catch (e) {
      const err = e instanceof RegauthError ? e : new InternalError("internal error", { cause: e });
      entry.outcome = err.status === 401 ? "unauthorized" : err.status < 500 ? "bad_request" : "error";
      entry.status = err.status;
      entry.error = err.message;
      if (!(e instanceof RegauthError)) log.error({ err: e }, "token request failed unexpectedly");
      sendError(res, err, cfg.token.issuer);
    } finally {
      entry.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info({ event: "token", method: req.method, ...entry }, "token request");
    }
  }
}
