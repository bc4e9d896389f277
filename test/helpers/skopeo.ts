// Thin wrappers around the real `skopeo` client (1.9.3) for end-to-end tests. They
// never throw on a failed command: tests assert on exit code and stderr, because a
// refused push or a wrong password is often exactly what a test wants to see.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const SKOPEO_BIN = process.env["REGAUTH_TEST_SKOPEO_BIN"] ?? "skopeo";

export interface SkopeoResult {
  /** Exit code; -1 when killed by the timeout or a signal, 127 when skopeo could not be started. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** The argument list, for assertion messages. */
  args: string[];
}

/** Registry credentials. `null` = explicitly anonymous (`--no-creds`); undefined = no flag at all. */
export type SkopeoCreds = { user: string; pass: string } | null;

export interface SkopeoOptions {
  /** Extra environment, e.g. { SSL_CERT_FILE: "ca.crt" } to trust an https token server. */
  env?: Record<string, string>;
  /** Verify TLS and require https for the registry. Default false (the test registry is plain http). */
  tlsVerify?: boolean;
  /** Directory with *.crt (CA) and client *.cert/*.key for the registry connection. */
  certDir?: string;
  /** Kill skopeo after this many ms (default 60000). */
  timeoutMs?: number;
  /** Appended before the image references, e.g. ["--preserve-digests"]. */
  extraArgs?: string[];
  /** Pass --debug (logs every HTTP request, including token requests, to stderr). */
  debug?: boolean;
  /** The auth file's content (default: no credentials), e.g. an `identitytoken` per registry. */
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

const KNOWN_TRANSPORTS = /^(docker|oci|oci-archive|dir|docker-archive|docker-daemon|containers-storage):/;

/** Accept "127.0.0.1:5000/team/app:v1" as well as "docker://127.0.0.1:5000/team/app:v1". */
export function dockerRef(ref: string): string {
  return KNOWN_TRANSPORTS.test(ref) ? ref : `docker://${ref}`;
}

function credFlags(prefix: "" | "src-" | "dest-", creds: SkopeoCreds | undefined): string[] {
  if (creds === undefined) return [];
  if (creds === null) return [`--${prefix}no-creds`];
  return [`--${prefix}creds`, `${creds.user}:${creds.pass}`];
}

function tlsFlags(prefix: "" | "src-" | "dest-", opts: SkopeoOptions): string[] {
  const flags = [`--${prefix}tls-verify=${opts.tlsVerify === true ? "true" : "false"}`];
  if (opts.certDir) flags.push(`--${prefix}cert-dir`, resolve(opts.certDir));
  return flags;
}

/**
 * Run skopeo with a private, empty configuration: an empty auth file (so credentials of
 * whoever runs the tests never leak into a request), an accept-anything signature policy
 * and an empty registries.conf (no host mirrors or short-name rules), all in a per-call
 * temp dir that also serves as skopeo's --tmpdir and is removed afterwards.
 *
 * `build` receives the auth file path, because its flag name differs per subcommand.
 */
export async function runSkopeo(build: (authFile: string) => string[], opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-skopeo-"));
  const authFile = join(dir, "auth.json");
  const policy = join(dir, "policy.json");
  const registriesConf = join(dir, "registries.conf");
  await Promise.all([
    writeFile(authFile, JSON.stringify({ auths: opts.auths ?? {} })),
    writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] })),
    writeFile(registriesConf, "# empty: no mirrors, no search registries\n"),
  ]);
  const args = [
    "--policy",
    policy,
    "--tmpdir",
    dir,
    ...(opts.debug ? ["--debug"] : []),
    ...build(authFile),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REGISTRY_AUTH_FILE: authFile,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    ...(opts.env ?? {}),
  };
  const timeoutMs = opts.timeoutMs ?? 60000;
  const started = Date.now();
  try {
    return await new Promise<SkopeoResult>((resolvePromise) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      let settled = false;
      const child = spawn(SKOPEO_BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => err.push(c));
      const finish = (code: number, extraErr = ""): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolvePromise({
          code,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8") + extraErr,
          timedOut,
          durationMs: Date.now() - started,
          args,
        });
      };
      child.once("error", (e) => {
        finish(127, `\nfailed to start ${SKOPEO_BIN}: ${e.message} (apt-get install -y docker-registry skopeo)`);
      });
      // "close" rather than "exit": it fires after stdout/stderr are fully drained.
      child.once("close", (code) => finish(code ?? -1, timedOut ? `\nkilled after ${timeoutMs} ms` : ""));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** skopeo copy oci:OCIDIR:TAG docker://DEST */
export function skopeoCopyPush(
  ociDir: string,
  tag: string,
  dest: string,
  creds?: SkopeoCreds,
  opts: SkopeoOptions = {},
): Promise<SkopeoResult> {
  return runSkopeo(
    (authFile) => [
      "copy",
      "--authfile",
      authFile,
      ...tlsFlags("dest-", opts),
      ...credFlags("dest-", creds),
      ...(opts.extraArgs ?? []),
      `oci:${resolve(ociDir)}:${tag}`,
      dockerRef(dest),
    ],
    opts,
  );
}

/** skopeo copy docker://SRC oci:OUTDIR:TAG (OUTDIR is created, or extended if it is a layout already). */
export function skopeoCopyPull(
  src: string,
  outDir: string,
  tag: string,
  creds?: SkopeoCreds,
  opts: SkopeoOptions = {},
): Promise<SkopeoResult> {
  return runSkopeo(
    (authFile) => [
      "copy",
      "--authfile",
      authFile,
      ...tlsFlags("src-", opts),
      ...credFlags("src-", creds),
      ...(opts.extraArgs ?? []),
      dockerRef(src),
      `oci:${resolve(outDir)}:${tag}`,
    ],
    opts,
  );
}

/** A skopeo command that takes one image reference and the common flags. */
function oneRef(verb: string, ref: string, creds: SkopeoCreds | undefined, opts: SkopeoOptions): Promise<SkopeoResult> {
  return runSkopeo(
    (authFile) => [verb, "--authfile", authFile, ...tlsFlags("", opts), ...credFlags("", creds), ...(opts.extraArgs ?? []), dockerRef(ref)],
    opts,
  );
}

/** skopeo list-tags docker://REPO; on success stdout is JSON `{"Repository": ..., "Tags": [...]}`. */
export function skopeoListTags(repoRef: string, creds?: SkopeoCreds, opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  return oneRef("list-tags", repoRef, creds, opts);
}

/** skopeo inspect docker://REF (add extraArgs ["--raw"] for the manifest bytes). */
export function skopeoInspect(ref: string, creds?: SkopeoCreds, opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  return oneRef("inspect", ref, creds, opts);
}

/** skopeo delete docker://REF (needs the registry's storage.delete.enabled, which startRegistry sets). */
export function skopeoDelete(ref: string, creds?: SkopeoCreds, opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  return oneRef("delete", ref, creds, opts);
}

/** Parse list-tags output; throws with skopeo's stderr if the command failed. */
export function parseTags(res: SkopeoResult): string[] {
  if (res.code !== 0) throw new Error(`skopeo ${res.args.join(" ")} failed (${res.code}):\n${res.stderr}`);
  return (JSON.parse(res.stdout) as { Tags?: string[] | null }).Tags ?? [];
}
