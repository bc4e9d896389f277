import { unwatchFile, watchFile } from "node:fs";
import { access, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { loadConfigFile, parseConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { createLogger } from "../log.js";
import { RegauthServer } from "../server/server.js";
import { prepareDefaultConfig } from "./default-config.js";
import { registryConfigBlock } from "./registry-block.js";

export async function serve(args: string[]): Promise<number> {
  const log = createLogger();
  let file = args[0];
  if (!file && (await access("regauth.yml").then(() => true, () => false))) file = "regauth.yml";
  let config: Config;
  let passwordFile: string | undefined;
  try {
    if (file) config = await loadConfigFile(file);
    else {
      const dataDir = process.env.REGAUTH_DATA_DIR ?? "regauth-data";
      const d = await prepareDefaultConfig(dataDir);
      passwordFile = d.passwordFile;
      config = await parseConfig("<embedded default>", d.text);
      await writeFile(join(resolve(dataDir), "regauth.default.yml"), d.text);
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`regauth: the config cannot be used:\n${e.message}\n`);
      return 1;
    }
    throw e;
  }
  for (const w of config.warnings) log.warn(w);
  let server: RegauthServer;
  try {
    server = await RegauthServer.start(config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`regauth: the config cannot be used:\n${e.message}\n`);
      return 1;
    }
    process.stderr.write(`regauth: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  const addr = server.address();
  const bundle = config.token.certificate ?? config.server.certificate!;
  process.stderr.write(
    `regauth is serving on ${typeof addr === "string" ? addr : `${addr.address}:${addr.port}`} (${server.tls ? "https" : "http"}).\n` +
      `Paste this into the registry's config.yml:\n\n${registryConfigBlock(config, { bundle, jwks: join(dirname(bundle), "jwks.json") })}\n` +
      (passwordFile ? `Embedded default config: log in as "admin" with the password in ${passwordFile}\n` : ""),
  );

  let reloading = Promise.resolve();
  const reload = (why: string) => {
    if (!file) return;
    reloading = reloading.then(async () => {
      try {
        const next = await loadConfigFile(file!);
        await server.reload(next);
        log.info({ file, why }, "config reloaded");
      } catch (e) {
        log.error({ file, why, error: (e as Error).message }, "config reload failed; still running the previous config");
      }
    });
  };
  process.on("SIGHUP", () => reload("SIGHUP"));
  // docker_auth reloads when the file changes; polling survives editors that replace the file.
  if (file) watchFile(file, { interval: 2000 }, (cur, prev) => cur.mtimeMs !== prev.mtimeMs && reload("file changed"));

  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      if (file) unwatchFile(file);
      void server.close().then(resolveStop);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
