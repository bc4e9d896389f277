import type { ServerResponse } from "node:http";

// The sign-in pages: plain HTML that works without JavaScript (the copy buttons are the
// only script, and the page is whole without it), one stylesheet and one script served by
// regauth itself, so the Content-Security-Policy can forbid everything else.

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Where the shared assets live under `server.path_prefix`. */
export const STYLE_PATH = "/signin.css";
export const SCRIPT_PATH = "/signin.js";

/** Forbids every source but this server's own stylesheet and script, framing, and base/form tricks. */
const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": CSP,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // A result page holds a password: never kept by a browser or proxy cache.
  "cache-control": "no-store",
  "cross-origin-opener-policy": "same-origin",
};

function layout(prefix: string, title: string, body: string, withScript = false): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="stylesheet" href="${esc(prefix + STYLE_PATH)}">
${withScript ? `<script src="${esc(prefix + SCRIPT_PATH)}" defer></script>\n` : ""}</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface SignInChoice {
  title: string;
  /** The start of its flow, under the prefix. */
  path: string;
}

export function indexPage(prefix: string, choices: readonly SignInChoice[]): string {
  const items = choices.map((c) => `<li><a class="button" href="${esc(prefix + c.path)}">Sign in with ${esc(c.title)}</a></li>`).join("\n");
  return layout(
    prefix,
    "Sign in to the registry",
    `<h1>Sign in to the registry</h1>
<p>Sign in with your account to get a password for <code>docker login</code>. Do not type your account's own password into <code>docker login</code>: it will not work there.</p>
<ul class="choices">
${items}
</ul>`,
  );
}

export interface ResultPageData {
  account: string;
  password: string;
  /** docker_auth's `registry_url`; absent, the command names a placeholder. */
  registryUrl?: string;
  provider: string;
  expiresAt: number;
  startPath: string;
}

/** The `docker login` command: the password goes on stdin, never on the command line (shell history, `ps`). */
export function dockerLoginCommand(account: string, registryUrl: string | undefined): string {
  const quote = (s: string) => (/^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return `docker login ${registryUrl ? quote(registryUrl) : "REGISTRY"} --username ${quote(account)} --password-stdin`;
}

export function resultPage(prefix: string, d: ResultPageData): string {
  const command = dockerLoginCommand(d.account, d.registryUrl);
  return layout(
    prefix,
    "Your docker login password",
    `<h1>You are signed in</h1>
<p>Signed in with ${esc(d.provider)} as <strong id="account">${esc(d.account)}</strong>.</p>
<div class="field">
<label for="password">Your password for <code>docker login</code></label>
<div class="row"><input id="password" name="password" type="text" readonly value="${esc(d.password)}" autocomplete="off" spellcheck="false"><button type="button" class="copy" data-copy="password" hidden>Copy password</button></div>
</div>
<div class="field">
<label for="command">Run this, paste the password, press Enter, then Ctrl-D</label>
<div class="row"><textarea id="command" name="command" readonly rows="2" spellcheck="false">${esc(command)}</textarea><button type="button" class="copy" data-copy="command" hidden>Copy command</button></div>
</div>
${d.registryUrl ? "" : `<p class="note">Replace REGISTRY with your registry's address (the server's operator can set <code>registry_url</code> to show it here).</p>`}
<p class="note">The password works until <time datetime="${new Date(d.expiresAt).toISOString()}">${esc(new Date(d.expiresAt).toUTCString())}</time>, as long as your account may still use the registry. It is shown only once: signing in again replaces it.</p>
<p role="status" id="copied" class="status"></p>
<p><a href="${esc(prefix + d.startPath)}">Sign in again</a></p>`,
    true,
  );
}

export function messagePage(prefix: string, heading: string, message: string, startPath?: string): string {
  return layout(
    prefix,
    heading,
    `<h1>${esc(heading)}</h1>
<p>${esc(message)}</p>
${startPath ? `<p><a class="button" href="${esc(prefix + startPath)}">Try again</a></p>` : ""}`,
  );
}

export function sendPage(res: ServerResponse, status: number, html: string, extra: Record<string, string | string[]> = {}): void {
  const body = Buffer.from(html, "utf8");
  res.writeHead(status, { ...PAGE_HEADERS, ...extra, "content-length": body.length });
  res.end(body);
}

export const STYLE = `[hidden] { display: none !important; }
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0; background: #f4f5f7; color: #1b1f24; line-height: 1.5; }
main { max-width: 40rem; margin: 3rem auto; padding: 2rem; background: #fff; border: 1px solid #d0d4da; border-radius: 8px; }
h1 { font-size: 1.5rem; margin-top: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.95em; }
.choices { list-style: none; padding: 0; display: grid; gap: 0.75rem; }
a { color: #0b4fb3; }
.button, button { display: inline-block; padding: 0.6rem 1rem; border-radius: 6px; border: 1px solid #0b4fb3; background: #0b4fb3; color: #fff; text-decoration: none; font: inherit; cursor: pointer; }
.button:hover, button:hover { background: #093f8f; }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.field { margin: 1.25rem 0; }
label { display: block; font-weight: 600; margin-bottom: 0.35rem; }
.row { display: flex; gap: 0.5rem; }
input[readonly], textarea[readonly] { flex: 1; resize: none; min-width: 0; padding: 0.55rem; border: 1px solid #6b7280; border-radius: 6px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.95rem; color: #1b1f24; background: #fafafa; }
.note { color: #3d4450; font-size: 0.95rem; }
.status { min-height: 1.5em; color: #14632f; }
`;

export const SCRIPT = `"use strict";
document.querySelectorAll("button.copy").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var field = document.getElementById(b.getAttribute("data-copy"));
    field.select();
    var done = function () { document.getElementById("copied").textContent = b.textContent.replace("Copy", "Copied") + "."; };
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    else { document.execCommand("copy"); done(); }
  });
});
`;

export function sendAsset(res: ServerResponse, type: string, text: string): void {
  const body = Buffer.from(text, "utf8");
  res.writeHead(200, { "content-type": `${type}; charset=utf-8`, "content-length": body.length, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" });
  res.end(body);
}
