// A node:test reporter that collects failed tests and writes them as one list at the end.
// CI keeps only the tail of a run's output; with TAP alone, a failure 200 tests before the
// end was invisible there. `npm test` prints this list after the TAP stream when a run fails.
import { relative } from "node:path";
import { inspect } from "node:util";

interface FailEvent {
  name: string;
  nesting: number;
  file?: string;
  details: { error?: unknown; duration_ms?: number };
}

/** A suite or parent test fails because a test inside it failed: that one is listed instead. */
function failedOnlyThroughSubtests(failure: FailEvent): boolean {
  return (failure.details.error as { failureType?: string } | undefined)?.failureType === "subtestsFailed";
}

function describeError(error: unknown): string {
  // node:test wraps the test's own error in a ERR_TEST_FAILURE whose cause is what was thrown.
  const cause = (error as { cause?: unknown } | undefined)?.cause ?? error;
  const text = cause instanceof Error ? (cause.stack ?? cause.message) : inspect(cause, { depth: 4 });
  // Frames of node's own test runner say nothing about the failure.
  const lines = text.split("\n").filter((line) => !/^\s+at .*\(?node:/.test(line) && !/^\s+at (async )?Promise\.all|new Promise|Array\.map/.test(line));
  return lines.slice(0, 30).join("\n") + (lines.length > 30 ? `\n... (${lines.length - 30} more lines)` : "");
}

export default async function* failureSummary(source: AsyncIterable<{ type: string; data: unknown }>): AsyncGenerator<string> {
  const failures: FailEvent[] = [];
  for await (const event of source) {
    if (event.type === "test:fail") failures.push(event.data as FailEvent);
  }
  if (failures.length === 0) return;
  const shown = failures.filter((f) => !failedOnlyThroughSubtests(f));
  yield `\nfailed tests (${shown.length}):\n`;
  for (const f of shown) {
    const where = f.file ? relative(process.cwd(), f.file) : "(unknown file)";
    yield `\n✖ ${where}: ${f.name}\n`;
    yield describeError(f.details.error).replace(/^/gm, "    ") + "\n";
  }
}
