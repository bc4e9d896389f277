import { buildApp } from "../app.js";
import { loadConfigFile } from "../config/load.js";
import { ConfigError } from "../errors.js";

/** `regauth check CONFIG`: everything `serve` would verify (keys and patterns included), without listening. */
export async function check(args: string[]): Promise<number> {
  const file = args[0];
  if (!file) {
    process.stderr.write("usage: regauth check CONFIG\n");
    return 2;
  }
  try {
    const config = await loadConfigFile(file);
    const app = await buildApp(config);
    await app.stop();
    for (const w of config.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(
      `${file}: OK — ${config.users?.size ?? 0} static users, ${config.acl?.length ?? 0} ACL entries, ` +
        `tokens signed with ${app.key.alg}, kid ${app.key.kid}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n${e.issues.length} problem${e.issues.length === 1 ? "" : "s"} found in ${file}\n`);
      return 1;
    }
    throw e;
  }
}
