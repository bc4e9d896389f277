import type { ChildProcess } from "node:child_process";

// Servers left running (registry, slapd) would keep ports and temp dirs alive after a failed
// test run: kill whatever is still alive when the test process exits, however it exits.
const live = new Set<ChildProcess>();
let hooked = false;

/** SIGKILL `child` when the test process exits, if it is still running then. */
export function killOnExit(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
}
