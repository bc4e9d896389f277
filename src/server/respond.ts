import type { ServerResponse } from "node:http";
import { MethodNotAllowedError, RegauthError } from "../errors.js";

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
 * The one mapping from errors to HTTP: status from the error, body in the
 * registry's `{"errors":[{"code","message"}]}` form (which skopeo and docker
 * print), and the Basic challenge on a 401.
 */
export function sendError(res: ServerResponse, err: RegauthError, realm: string): void {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers["www-authenticate"] = `Basic realm=${JSON.stringify(realm)}`;
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow.join(", ");
  sendJson(res, err.status, { errors: [{ code: err.code, message: err.message }] }, headers);
}
