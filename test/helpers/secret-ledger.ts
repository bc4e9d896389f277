// The ledger of a whole test run, for the final secret scan (test/final/secret-scan.test.ts):
// every password a test hashes is declared a secret, and every log and audit text a regauth
// server of the run wrote is kept. Active only when REGAUTH_TEST_ARTIFACTS names a directory
// (`npm test` sets it); sync writes, so that nothing is lost when a test process exits.
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const DIR = process.env["REGAUTH_TEST_ARTIFACTS"];

/** Secrets shorter than this are words a log may hold for other reasons ("pw", "x"). */
export const MIN_SECRET_LENGTH = 8;

export function declareSecret(secret: string): void {
  if (!DIR || secret.length < MIN_SECRET_LENGTH) return;
  mkdirSync(DIR, { recursive: true });
  appendFileSync(join(DIR, "secrets"), `${Buffer.from(secret).toString("base64")}\n`);
}

/** Keep what a server wrote (its log lines, its audit records) for the scan. */
export function keepWritten(what: string, text: string): void {
  if (!DIR || text === "") return;
  mkdirSync(join(DIR, "written"), { recursive: true });
  writeFileSync(join(DIR, "written", `${process.pid}-${randomBytes(4).toString("hex")}-${what}`), text);
}

const atExit: { what: string; text: () => string }[] = [];

/**
 * Keep what an in-memory log sink collected once the test process ends: for sinks that have no
 * stop of their own (the ext harness, a test's own logger). One exit listener for all of them.
 */
export function keepAtExit(what: string, text: () => string): void {
  if (!DIR) return;
  if (atExit.length === 0) process.once("exit", () => atExit.forEach((s) => keepWritten(s.what, s.text())));
  atExit.push({ what, text });
}
