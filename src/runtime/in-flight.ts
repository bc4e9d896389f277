/**
 * Counts the requests one configuration is serving, so that a reload or a shutdown
 * stops it only once they are done (or a bound has passed).
 */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  enter(): void {
    this.#count++;
  }

  leave(): void {
    if (--this.#count === 0) for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves true when nothing is in flight, false when `timeoutMs` passed first. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.#waiters.push(done);
    });
  }
}
