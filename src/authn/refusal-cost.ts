import { bcryptCost, hashPassword, verifyPassword } from "./bcrypt.js";

/**
 * What a refusal must cost so that its timing tells nothing: a bcrypt check at the cost
 * the configured password hashes use. One policy per configuration, shared by the chain
 * (an unknown user) and backends whose own refusals would otherwise be fast (LDAP).
 */
export class RefusalCost {
  readonly cost: number;
  /** Whether any configured password is a bcrypt hash: then a fast refusal elsewhere would stand out. */
  readonly bcryptInUse: boolean;
  #dummy?: Promise<string>;

  constructor(knownHashes: Iterable<string>) {
    const counts = new Map<number, number>();
    for (const h of knownHashes) counts.set(bcryptCost(h), (counts.get(bcryptCost(h)) ?? 0) + 1);
    let best = 10;
    let n = 0;
    for (const [cost, c] of counts) if (c > n) [best, n] = [cost, c];
    this.cost = best;
    this.bcryptInUse = n > 0;
  }

  /** A hash of a random password at that cost, made once (off the event loop). */
  dummyHash(): Promise<string> {
    this.#dummy ??= hashPassword(`refusal-${Math.random()}`, this.cost);
    return this.#dummy;
  }

  /** Spend one bcrypt check of the usual cost; the answer is always no. */
  async spend(password: string): Promise<false> {
    await verifyPassword(password, await this.dummyHash());
    return false;
  }
}
