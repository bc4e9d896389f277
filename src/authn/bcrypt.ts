import { hash as bcryptHash, verify as bcryptVerify } from "@node-rs/bcrypt";

/** Check a password against a bcrypt hash off the event loop. Accepts $2a$, $2b$, $2x$ and $2y$. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await bcryptVerify(password, hash);
  } catch {
    return false;
  }
}

/** The cost encoded in a bcrypt hash (`$2y$10$...` → 10). */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]?\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

/** A bcrypt hash in the `$2y$` form `htpasswd -B` writes (the same algorithm as `$2b$`). */
export async function hashPassword(password: string, cost = 10): Promise<string> {
  return bcryptHash(password, { cost, version: "2y" });
}
