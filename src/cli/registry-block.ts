import type { Config } from "../config/types.js";
import { parseListenAddress } from "../server/server.js";

/** The `auth.token` block a registry needs to trust this server, ready to paste. */
export function registryConfigBlock(cfg: Config, opts: { bundle: string; jwks?: string; service?: string }): string {
  let realm = "https://YOUR-REGAUTH-HOST/auth";
  if (cfg.server.net === "tcp") {
    const a = parseListenAddress(cfg.server.addr, "tcp");
    const host = !a.host || a.host === "0.0.0.0" || a.host === "::" ? "127.0.0.1" : a.host.includes(":") ? `[${a.host}]` : a.host;
    realm = `${cfg.server.certificate ? "https" : "http"}://${host}:${a.port}${cfg.server.pathPrefix}/auth`;
  }
  const lines = [
    "auth:",
    "  token:",
    `    realm: ${realm}`,
    `    service: ${opts.service ?? "my.docker.registry"}`,
    `    issuer: ${JSON.stringify(cfg.token.issuer)}`,
    `    rootcertbundle: ${opts.bundle}`,
  ];
  if (opts.jwks) lines.push(`    # registry 3.x may also use: jwks: ${opts.jwks}`);
  return lines.join("\n") + "\n";
}
