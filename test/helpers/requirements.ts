/**
 * For node:test's `skip`, from why a server the tests need cannot run here: undefined when it
 * can; the reason (the suite is skipped) outside CI; in CI (CI=true) an error, so that a
 * missing server fails the run instead of passing it silently.
 */
export async function skipOrFailInCi(missing: Promise<string | undefined>): Promise<string | undefined> {
  const reason = await missing;
  if (reason && process.env["CI"] === "true") throw new Error(reason);
  return reason;
}
