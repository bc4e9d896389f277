import { inspect } from "node:util";

/**
 * A value that must never reach a log, an error message or a JSON body.
 * Its string, JSON and inspect forms are all `***`; call `reveal()` where the
 * plaintext is really needed (a bcrypt compare, an LDAP bind).
 */
export class Secret {
  readonly #value: string;
  /**
   * `supplied`: false for the empty password of a request that sent no credentials at all, which
   * no password check can match: a method refuses it without spending bcrypt on it.
   */
  constructor(
    value: string,
    readonly supplied = true,
  ) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  get isEmpty(): boolean {
    return this.#value.length === 0;
  }
  toString(): string {
    return "***";
  }
  toJSON(): string {
    return "***";
  }
  [inspect.custom](): string {
    return "Secret(***)";
  }
}
