/** What one call to an authentication or authorization backend ended as. */
export type BackendCallResult = "ok" | "no_match" | "denied" | "error";

/** Told of every backend call the chains make (the metrics listen). `backend` is the method's name, as in the request log. */
export type BackendCallObserver = (backend: string, result: BackendCallResult, seconds: number) => void;

/** `call`, timed and reported to `observe` (when there is one) with what it ended as. */
export async function observed<T>(observe: BackendCallObserver | undefined, backend: string, call: () => Promise<T>, result: (r: T) => BackendCallResult): Promise<T> {
  if (!observe) return call();
  const start = process.hrtime.bigint();
  try {
    const r = await call();
    observe(backend, result(r), Number(process.hrtime.bigint() - start) / 1e9);
    return r;
  } catch (e) {
    observe(backend, "error", Number(process.hrtime.bigint() - start) / 1e9);
    throw e;
  }
}
