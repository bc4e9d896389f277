import { inspect } from "node:util";

/**
 * A value that must never reach a log, an error message or a JSON body.
 * Its string, JSON and inspect forms are all `***`; call `reveal()` where the
 * plaintext is really needed (a bcrypt compare, an LDAP bind).
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
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
