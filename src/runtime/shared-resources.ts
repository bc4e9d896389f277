/** Something long-lived a backend holds: a directory pool, a database pool, a program runner. */
export interface Stoppable {
  stop(): Promise<void>;
}

interface Held<T extends Stoppable> {
  fingerprint: string;
  instance: T;
  users: number;
}

/**
 * Backends kept across reloads. A configuration that asks for a backend whose section
 * did not change gets the running instance (its open connections, its warm caches)
 * instead of a new one; an instance is stopped when the last configuration using it is.
 */
export class SharedResources {
  readonly #held = new Map<string, Held<Stoppable>>();

  /** The instance for `key` built from a section with this `fingerprint`, created when none matches. */
  async acquire<T extends Stoppable>(key: string, fingerprint: string, create: () => Promise<T>): Promise<T> {
    const h = this.#held.get(key);
    if (h && h.fingerprint === fingerprint) {
      h.users++;
      return h.instance as T;
    }
    const instance = await create();
    // A changed section replaces the entry; the old instance lives on until its users release it.
    if (h) this.#orphans.add(h);
    this.#held.set(key, { fingerprint, instance, users: 1 });
    return instance;
  }

  readonly #orphans = new Set<Held<Stoppable>>();

  /** One configuration is done with `instance`; stops it when nobody else uses it. */
  async release(key: string, instance: Stoppable): Promise<void> {
    const h = this.#held.get(key);
    const held = h?.instance === instance ? h : [...this.#orphans].find((o) => o.instance === instance);
    if (!held) return instance.stop();
    if (--held.users > 0) return;
    if (held === h) this.#held.delete(key);
    else this.#orphans.delete(held);
    await instance.stop();
  }

  get size(): number {
    return this.#held.size + this.#orphans.size;
  }
}

/** A stable text for a typed config section: Maps, Sets and key order do not disturb it. */
export function fingerprintOf(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Map) return { $map: [...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)) };
    if (v instanceof Set) return { $set: [...v].sort() };
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "function") return `fn:${v.toString()}`;
    if (v && typeof v === "object" && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)));
    return v;
  });
}
