import { RetryLaterError } from "../errors.js";

/** Too many password checks running and waiting: a fast 503 instead of a queue without end. */
export class PasswordChecksBusyError extends RetryLaterError {
  constructor() {
    super("SERVER_BUSY", 503, "too many password checks in progress; try again shortly", 1);
  }
}

/**
 * A bound on bcrypt work in flight in this process: at most `running` checks on libuv's
 * thread pool at once (they share the process's cores with the event loop, which must keep
 * answering cached logins and anonymous pulls), at most `waiting` more queued. Beyond that
 * a check fails at once with PasswordChecksBusyError.
 */
export class PasswordGate {
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(
    public running: number,
    public waiting: number,
  ) {}

  get inFlight(): number {
    return this.#running + this.#queue.length;
  }

  async run<T>(check: () => Promise<T>): Promise<T> {
    if (this.#running >= this.running) {
      if (this.#queue.length >= this.waiting) throw new PasswordChecksBusyError();
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else this.#running++;
    try {
      return await check();
    } finally {
      // The slot passes straight to the next in line, or is given back.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
