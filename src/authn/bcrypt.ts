import bcrypt from "bcrypt";
import { PasswordGate } from "./password-gate.js";

// The native binding only knows $2a$/$2b$. $2y$ (what htpasswd -B and docker_auth
// configs use) and $2x$ are the same algorithm for these purposes, and Go's
// bcrypt, which docker_auth uses, ignores the minor version; so map them to $2b$.
const toNative = (hash: string) => hash.replace(/^\$2[xy]?\$/, "$2b$");

/** The process's bound on bcrypt work (server.max_password_checks sets it at start and reload). */
export const passwordGate = new PasswordGate(1, 64);

/**
 * Check a password against a bcrypt hash on libuv's thread pool, off the event loop, within
 * the process's bound: beyond it, PasswordChecksBusyError (a 503) at once.
 */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  return passwordGate.run(async () => {
    try {
      return await bcrypt.compare(password, toNative(hash));
    } catch {
      return false;
    }
  });
}

/** The cost encoded in a bcrypt hash (`$2y$10$...` → 10). */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]?\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

/** A bcrypt hash in the `$2y$` form `htpasswd -B` writes. */
export async function hashPassword(password: string, cost = 10): Promise<string> {
  const h = await bcrypt.hash(password, cost);
  return h.replace(/^\$2b\$/, "$2y$");
}
