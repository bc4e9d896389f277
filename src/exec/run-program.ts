import { spawn, type ChildProcess } from "node:child_process";

/** How to run one external program (ext_auth, ext_authz). */
export interface ProgramSpec {
  /** Absolute path of the executable (resolved when the config was loaded). */
  path: string;
  args: readonly string[];
  /** The program's whole environment: nothing of regauth's own is inherited beyond this. */
  env: Readonly<Record<string, string>>;
  /** The run is killed (with its whole process group) after this long. */
  timeoutMs: number;
  /** More stdout than this kills the run. */
  maxOutputBytes: number;
}

export interface ProgramResult {
  /** The exit status (0-255). A run ended by a signal is a ProgramFailure, not a result. */
  code: number;
  stdout: Buffer;
  /** The start of stderr (at most STDERR_KEEP_BYTES), for the log. */
  stderr: string;
  /** Bytes of stderr not kept. */
  stderrDropped: number;
}

/** Why a run gave no exit status. Messages name no path: they may reach an HTTP client. */
export type FailureReason = "timeout" | "output-too-large" | "cannot-start" | "signal" | "stopped";

export class ProgramFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    /** Whatever stderr the program wrote before it failed. */
    readonly stderr = "",
  ) {
    super(message);
    this.name = "ProgramFailure";
  }
}

/** stderr is only for the log: its first 16 KiB are kept, the rest is read and dropped. */
export const STDERR_KEEP_BYTES = 16 * 1024;

/**
 * Runs a configured program, one process per call, concurrently and without
 * blocking the event loop. Each run gets its own process group, so that a
 * timeout kills a shell script's children too (a `sleep` left behind would
 * otherwise keep the pipes open). `stop()` refuses new runs and waits for the
 * ones in flight, each bounded by its timeout.
 */
export class ProgramRunner {
  readonly #active = new Map<ChildProcess, Promise<unknown>>();
  #stopped = false;

  constructor(readonly spec: ProgramSpec) {}

  /** Processes currently running (for tests and diagnostics). */
  get running(): number {
    return this.#active.size;
  }

  run(stdin: string): Promise<ProgramResult> {
    if (this.#stopped) return Promise.reject(new ProgramFailure("stopped", "the backend is stopped"));
    const { path, args, env, timeoutMs, maxOutputBytes } = this.spec;
    let child: ChildProcess;
    try {
      child = spawn(path, [...args], { env: { ...env }, stdio: ["pipe", "pipe", "pipe"], detached: true, windowsHide: true });
    } catch (e) {
      return Promise.reject(new ProgramFailure("cannot-start", `the program cannot be started: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
    }
    const done = new Promise<ProgramResult>((resolve, reject) => {
      const out: Buffer[] = [];
      let outBytes = 0;
      const errChunks: Buffer[] = [];
      let errKept = 0;
      let errDropped = 0;
      // Decoded once, so that a character split across chunks stays whole.
      const stderrText = () => Buffer.concat(errChunks).toString("utf8");
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const killGroup = () => {
        try {
          // Negative pid: the whole process group the run was started in (detached: true).
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
        // Grandchildren may hold the pipes; do not wait for them to close.
        child.stdout?.destroy();
        child.stderr?.destroy();
        child.stdin?.destroy();
      };
      const fail = (reason: FailureReason, message: string) =>
        finish(() => {
          killGroup();
          reject(new ProgramFailure(reason, message, stderrText()));
        });
      let exited = false;
      const timer = setTimeout(
        () =>
          fail(
            "timeout",
            exited
              ? `the program exited, but a process it started kept its stdout open for ${formatSeconds(timeoutMs)}; all were killed`
              : `the program gave no answer within ${formatSeconds(timeoutMs)} and was killed`,
          ),
        timeoutMs,
      );
      child.on("exit", () => (exited = true));

      child.on("error", (e: NodeJS.ErrnoException) => {
        const hint = e.code === "ENOENT" ? " (does the file exist, and its #! interpreter?)" : e.code === "EACCES" ? " (is it executable?)" : "";
        finish(() => reject(new ProgramFailure("cannot-start", `the program cannot be started: ${e.code ?? e.message}${hint}`)));
      });
      child.stdout!.on("data", (chunk: Buffer) => {
        if (settled) return;
        outBytes += chunk.length;
        if (outBytes > maxOutputBytes) fail("output-too-large", `the program printed more than ${maxOutputBytes} bytes on stdout and was killed`);
        else out.push(chunk);
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        const room = STDERR_KEEP_BYTES - errKept;
        if (room > 0) {
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          errChunks.push(part);
          errKept += part.length;
          errDropped += chunk.length - part.length;
        } else errDropped += chunk.length;
      });
      // A program that exits without reading its stdin makes the write fail with EPIPE: not our error.
      child.stdin!.on("error", () => {});
      child.stdout!.on("error", () => {});
      child.stderr!.on("error", () => {});
      child.on("close", (code, signal) => {
        if (code === null) finish(() => reject(new ProgramFailure("signal", `the program was killed by ${signal ?? "a signal"}`, stderrText())));
        else finish(() => resolve({ code, stdout: Buffer.concat(out), stderr: stderrText(), stderrDropped: errDropped }));
      });
      child.stdin!.end(stdin);
    });
    const tracked = done.catch(() => undefined);
    this.#active.set(child, tracked);
    void tracked.then(() => this.#active.delete(child));
    return done;
  }

  /** Refuse new runs; wait for those in flight (each ends by its timeout at the latest). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#active.values());
  }

}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
