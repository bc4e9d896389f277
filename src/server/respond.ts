import type { ServerResponse } from "node:http";
import { MethodNotAllowedError, RegauthError } from "../errors.js";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
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
