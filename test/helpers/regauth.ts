import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { hashPassword } from "../../src/authn/bcrypt.js";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { RegauthServer } from "../../src/server/server.js";
import { generateSigningKey, selfSignedCertificate, type KeyType } from "../../src/token/certificate.js";
import { freePort } from "./ports.js";
import { declareSecret, keepWritten } from "./secret-ledger.js";

/** The repository root (dist/test/helpers → ../../..). */
export const ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const BIN = join(ROOT, "bin", "regauth");

export interface KeyFiles {
  key: string;
  cert: string;
}

/** Write a signing key and self-signed certificate (with SANs for TLS use) into `dir`. */
export async function writeKeyPair(dir: string, name: string, type: KeyType, hosts: string[] = ["127.0.0.1", "localhost"]): Promise<KeyFiles> {
  const { privateKey, pem } = await generateSigningKey(type);
  const files = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  await writeFile(files.key, pem, { mode: 0o600 });
  await writeFile(files.cert, selfSignedCertificate(privateKey, { commonName: `regauth test ${name}`, hosts }));
  return files;
}

/** bcrypt hashes at the lowest cost, so tests spend their time on behaviour, not on bcrypt. */
export function testHash(password: string): Promise<string> {
  // Whatever a test hashes is a password: the final scan checks that no server wrote it.
  declareSecret(password);
  return hashPassword(password, 4);
}

export interface RunningRegauth {
  port: number;
  url: string;
  dir: string;
  configPath: string;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Start `bin/regauth serve CONFIG` as a real process. `config` gets the placeholder
 * `{{PORT}}` replaced by a free port (or `opts.port`, for servers configured before it starts). Waits for /healthz.
 */
export async function startRegauth(config: string, opts: { dir?: string; tls?: boolean; caFile?: string; env?: Record<string, string>; port?: number } = {}): Promise<RunningRegauth> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "regauth-")));
  const port = opts.port ?? (await freePort());
  const configPath = join(dir, "regauth.yml");
  await writeFile(configPath, config.replaceAll("{{PORT}}", String(port)));
  const proc = spawn(process.execPath, [BIN, "serve", configPath], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, REGAUTH_LOG_LEVEL: "info", ...opts.env } });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`regauth exited with ${proc.exitCode}:\n${err}\n${out}`);
    if (err.includes("regauth is serving on")) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`regauth did not start within 15 s:\n${err}\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  let stopped = false;
  return {
    port,
    url,
    dir,
    configPath,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      keepWritten("stdout", out);
      keepWritten("stderr", err);
      // Audit files the config pointed into its directory.
      for (const f of await readdir(dir).catch(() => [] as string[])) if (/\.(log|jsonl)$/.test(f)) keepWritten(f, await readFile(join(dir, f), "utf8").catch(() => ""));
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Decode a JWT without verifying it, to look at what the server put in. */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split(".");
  return { header: JSON.parse(Buffer.from(h!, "base64url").toString()), payload: JSON.parse(Buffer.from(p!, "base64url").toString()) };
}

export interface InProcessServer {
  url: string;
  server: RegauthServer;
  /** Every log line so far (level debug), as the JSON lines the server wrote. */
  logs(): string;
  close(): Promise<void>;
}

/** RegauthServer in this process on 127.0.0.1, its log captured at debug level. */
export async function serveInProcess(configFile: string, text: string, dir: string): Promise<InProcessServer> {
  let logText = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const server = await RegauthServer.start(await parseConfig(configFile, text, dir), createLogger("debug", sink));
  const a = server.address();
  if (a === null || typeof a === "string") throw new Error("the server has no TCP address");
  return {
    url: `http://127.0.0.1:${a.port}`,
    server,
    logs: () => logText,
    async close() {
      await server.close();
      keepWritten("log", logText);
    },
  };
}

export interface GrantAnswer {
  status: number;
  /** The body as sent. */
  text: string;
  /** The actions the token grants for the (first) scope; [] without a token. */
  actions: string[];
}

/** GET /auth with Basic credentials for one scope, service "registry". */
export async function requestGrant(url: string, user: string, pass: string, scope: string): Promise<GrantAnswer> {
  const res = await fetch(`${url}/auth?service=registry&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` },
  });
  const text = await res.text();
  const body = JSON.parse(text) as { token?: string };
  const access = body.token ? (decodeJwt(body.token).payload.access as { actions: string[] }[]) : [];
  return { status: res.status, text, actions: access[0]?.actions ?? [] };
}
