import { check } from "./check.js";
import { db } from "./db.js";
import { explain } from "./explain.js";
import { hash } from "./hash.js";
import { keygen } from "./keygen.js";
import { serve } from "./serve.js";
import { tokens } from "./tokens.js";

const USAGE = `usage: regauth <command> [args]

  serve [CONFIG]        run the token server (default: ./regauth.yml, else a safe embedded default)
  check CONFIG          validate a config (docker_auth format) and print every problem
  hash [--cost N]       bcrypt-hash a password from a prompt or stdin ($2y$, like htpasswd -B)
  keygen [--type rsa|ec] [--out DIR] [--host H]...
                        make a signing key, certificate and JWKS, and print the registry config
  explain CONFIG --account NAME [--label k=v]... [--ip IP] [--service S] SCOPE...
                        show which ACL entry decides each scope, and what it grants
  tokens list CONFIG [--account NAME] [--json]
  tokens revoke CONFIG (--account NAME | --id ID | --all)
                        list or revoke refresh tokens in the configured token store
  db init CONFIG        create the xorm_user and xorm_acl_entry tables (xorm_auth, acl_xorm)
  db schema TYPE        print that schema for mysql, postgres or sqlite3
`;

// docker_auth's binary takes glog flags (-v=2, -logtostderr, ...) and the config path.
const GLOG_FLAG = /^--?(v|vmodule|logtostderr|alsologtostderr|stderrthreshold|log_dir|log_backtrace_at)(=.*)?$/;

/**
 * `auth_server [glog flags] CONFIG`, the way docker_auth's image and unit files call it,
 * means `serve CONFIG`: switching binaries needs no change to the command line.
 */
function dockerAuthStyle(argv: string[]): string[] | undefined {
  const rest = argv.filter((a) => !GLOG_FLAG.test(a));
  if (rest.length === 1 && /\.ya?ml$/.test(rest[0]!)) {
    if (rest.length !== argv.length) process.stderr.write("regauth: ignoring docker_auth's glog flags; set REGAUTH_LOG_LEVEL=debug for more logging\n");
    return ["serve", rest[0]!];
  }
  return undefined;
}

/** The CLI entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = dockerAuthStyle(argv) ?? argv;
  try {
    switch (cmd) {
      case "serve":
        return await serve(rest);
      case "check":
        return await check(rest);
      case "hash":
        return await hash(rest);
      case "keygen":
        return await keygen(rest);
      case "explain":
        return await explain(rest);
      case "tokens":
        return await tokens(rest);
      case "db":
        return await db(rest);
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(cmd ? `regauth: unknown command "${cmd}"\n${USAGE}` : USAGE);
        return 2;
    }
  } catch (e) {
    process.stderr.write(`regauth ${cmd}: ${(e as Error).message}\n`);
    return 1;
  }
}
