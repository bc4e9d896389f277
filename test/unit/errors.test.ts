// Client errors (4xx) are answers, made at the request rate in a flood: they carry no stack.
// Faults (5xx) keep theirs for the log. Either way the process's stack limit is left as it was.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BackendError, BadRequestError, UnauthorizedError } from "../../src/errors.js";

test("a 4xx error has no stack frames; a 5xx error has them; Error.stackTraceLimit is restored", () => {
  const before = Error.stackTraceLimit;
  const refused = new UnauthorizedError();
  const bad = new BadRequestError("malformed scope");
  const fault = new BackendError("ldap_auth", "directory down");
  assert.equal(Error.stackTraceLimit, before);
  assert.doesNotMatch(refused.stack ?? "", /\n\s+at /);
  assert.doesNotMatch(bad.stack ?? "", /\n\s+at /);
  assert.match(fault.stack ?? "", /\n\s+at /);
  assert.equal(refused.status, 401);
  assert.equal(refused.name, "UnauthorizedError");
  assert.match(String(bad), /BadRequestError: malformed scope/);
  assert.ok(new Error("plain").stack?.includes("\n    at "), "other errors keep their stacks");
});
