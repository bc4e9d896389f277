import { readFile } from "node:fs/promises";
import { ResultCodeError, type Entry } from "ldapts";
import type { BackendHealth, BackendServices } from "../backend.js";
import type { LdapAuthConfig } from "./section.js";
import type { Labels } from "../../config/types.js";
import { BackendError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { Secret } from "../../secret.js";
import type { Authenticator, AuthnResult } from "../../authn/authenticator.js";
import { verifyPassword } from "../../authn/bcrypt.js";
import { cnFromDn, escapeDnValue, escapeFilterValue, fillTemplate } from "./escape.js";
import { ConnectionGoneError, LdapPool, LdapUnreachableError, PoolExhaustedError, type LdapConnection } from "./pool.js";

const PUBLIC = { publicMessage: "LDAP: the directory cannot be used right now; try again later" };
const BACKEND = "LDAP";

/** LDAP result codes that mean "this user may not sign in with this password" on the user's own bind. */
const REFUSED_BIND = new Set([
  49, // invalidCredentials (AD puts the reason — expired, locked, disabled — in the message)
  48, // inappropriateAuthentication
  50, // insufficientAccessRights
  53, // unwillingToPerform (e.g. an account that must change its password)
]);

/** The connection broke or an operation timed out: the connection is gone; maybe retry on a fresh one. */
class ConnectionLostError extends Error {
  constructor(
    message: string,
    readonly safeToRetry: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Outcome = { kind: "match"; labels: Labels } | { kind: "refused" } | { kind: "unknown" } | { kind: "ambiguous"; count: number };

function values(entry: Entry, attribute: string): string[] {
  // Attribute names are case-insensitive; the server spells them its own way (memberof → memberOf).
  const want = attribute.toLowerCase();
  for (const [k, v] of Object.entries(entry)) {
    if (k === "dn" || k.toLowerCase() !== want) continue;
    const list = Array.isArray(v) ? v : [v];
    return list.map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x)));
  }
  return [];
}

function mapValues(vals: string[], m: { parseCn: boolean; lowerCase: boolean }): string[] {
  let out = vals;
  if (m.parseCn) out = out.map(cnFromDn);
  if (m.lowerCase) out = out.map((v) => v.toLowerCase());
  return out;
}

/**
 * ldap_auth, with docker_auth's flow: bind (as the search account, or as the user with
 * initial_bind_as_user), search for exactly one entry, bind as that entry with the given
 * password, read the labels. Regauth additions: a group search, several servers, a bounded
 * connection pool, timeouts, and a 503 (never a 401) when the directory cannot answer.
 */
export class LdapAuthenticator implements Authenticator {
  readonly name = "ldap";
  readonly #c: LdapAuthConfig;
  readonly #pool: LdapPool;
  readonly #log: Logger | undefined;
  readonly #attributes: string[];
  /** Another authentication method comes after this one (so an unknown user is passed on). */
  readonly #laterMethods: boolean;
  /** See `#fail`. */
  readonly #dummyHash: string | undefined;
  #bindPassword: Secret | undefined;

  constructor(config: LdapAuthConfig, opts: { log?: Logger; laterMethods?: boolean; dummyHash?: string; retryDownMs?: number } = {}) {
    this.#c = config;
    this.#log = opts.log;
    this.#laterMethods = opts.laterMethods ?? false;
    this.#dummyHash = opts.dummyHash;
    this.#bindPassword = config.bindPassword;
    const attrs = new Map<string, string>();
    for (const [, m] of config.labels) attrs.set(m.attribute.toLowerCase(), m.attribute);
    // "1.1": no attributes at all (RFC 4511), when no label needs one.
    this.#attributes = attrs.size ? [...attrs.values()] : ["1.1"];
    this.#pool = new LdapPool({
      servers: config.servers,
      size: config.poolSize,
      connectTimeoutMs: config.connectTimeoutMs,
      timeoutMs: config.timeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      ca: config.ca,
      rejectUnauthorized: !config.insecureSkipVerify,
      retryDownMs: opts.retryDownMs,
      log: opts.log,
    });
  }

  /** For tests and diagnostics: open connections. */
  get poolSize(): number {
    return this.#pool.size;
  }

  async authenticate(user: string, password: Secret): Promise<AuthnResult> {
    // An empty password would make the bind an anonymous ("unauthenticated") one that many
    // servers accept: never send it. docker_auth passes such logins on, and so does this.
    if (user === "" || password.isEmpty) return { kind: "no-match" };
    let outcome: Outcome | undefined;
    for (let attempt = 1; outcome === undefined; attempt++) {
      const progress = { userBindSent: false };
      try {
        outcome = await this.#attempt(user, password, progress);
      } catch (e) {
        // A pooled connection that died while idle: once more on a fresh one, unless the
        // password may already have reached the server (a second try could count twice
        // towards a lockout policy).
        if (e instanceof ConnectionLostError && e.safeToRetry && !progress.userBindSent && attempt === 1) continue;
        throw this.#backendError(e);
      }
    }
    switch (outcome.kind) {
      case "match":
        return { kind: "match", labels: outcome.labels };
      case "ambiguous":
        this.#log?.warn({ event: "ldap_ambiguous", account: user, entries: outcome.count }, "LDAP filter matched more than one entry; login refused");
        return this.#fail(password, false);
      case "unknown":
        return this.#fail(password, true);
      case "refused":
        return this.#fail(password, false);
    }
  }

  /**
   * A failed login. A user LDAP does not know is passed to the next method when there is one
   * (docker_auth's NoMatch); when LDAP is the last method the answer is the same 401 either
   * way, so it is "denied" straight away: the chain's dummy bcrypt, which makes an unknown
   * static user cost what a known one costs, would otherwise make an unknown LDAP user slower
   * than a wrong LDAP password and tell the two apart. When bcrypt-checked users exist
   * (static users, or methods after this one), every refusal here pays one dummy bcrypt of
   * their cost, so that failures look alike whichever method refused.
   */
  async #fail(password: Secret, unknown: boolean): Promise<AuthnResult> {
    if (unknown && this.#laterMethods) return { kind: "no-match" };
    if (this.#dummyHash) await verifyPassword(password.reveal(), this.#dummyHash);
    return { kind: "denied" };
  }

  #backendError(e: unknown): BackendError {
    if (e instanceof BackendError) return e;
    if (e instanceof LdapUnreachableError || e instanceof PoolExhaustedError || e instanceof ConnectionLostError) return new BackendError(BACKEND, e.message, { cause: e, ...PUBLIC });
    if (e instanceof ResultCodeError) return new BackendError(BACKEND, `the directory answered with an error: ${e.message}`, { cause: e, ...PUBLIC });
    return new BackendError(BACKEND, `unexpected failure: ${(e as Error).message ?? String(e)}`, { cause: e, ...PUBLIC });
  }

  /** One LDAP operation; a broken connection is closed and reported as ConnectionLostError. */
  async #op<T>(conn: LdapConnection, what: string, fn: () => Promise<T>, opts: { idempotent: boolean }): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ResultCodeError) throw e;
      conn.broken = true;
      const gone = e instanceof ConnectionGoneError;
      const timedOut = /timed out/i.test((e as Error).message ?? "");
      const msg = gone
        ? `the connection to ${conn.server.addr} was closed`
        : timedOut
          ? `${conn.server.addr} did not answer ${what} within ${this.#c.timeoutMs / 1000} s`
          : `the connection to ${conn.server.addr} was lost during ${what}`;
      // Nothing was sent on a connection found closed; a search may be repeated; a timeout is not retried (it would double the wait).
      throw new ConnectionLostError(msg, gone || (opts.idempotent && !timedOut), { cause: e, ...PUBLIC });
    }
  }

  /**
   * The search account's password file read again, when it changed since it was loaded:
   * docker_auth read it at every bind, so a rotated password took effect without a reload.
   */
  async #rereadBindPassword(): Promise<boolean> {
    if (!this.#c.bindPasswordFile) return false;
    const now = await readFile(this.#c.bindPasswordFile, "utf8").then((t) => t.trim(), () => "");
    if (now === "" || now === this.#bindPassword?.reveal()) return false;
    this.#bindPassword = new Secret(now);
    this.#log?.info({ event: "ldap_bind_password_reread", file: this.#c.bindPasswordFile }, "LDAP search account refused; using the changed bind_password_file");
    return true;
  }

  /** Bind as the search account (or anonymously without bind_dn) unless the connection already is. */
  async #ensureServiceBind(conn: LdapConnection, again = true): Promise<void> {
    const dn = this.#c.bindDn;
    if (conn.boundAs === dn) return;
    try {
      await this.#op(conn, "the search account's bind", () => conn.client.bind(dn, dn ? this.#bindPassword!.reveal() : ""), { idempotent: true });
      conn.boundAs = dn;
    } catch (e) {
      conn.boundAs = "";
      if (e instanceof ResultCodeError && e.code === 49 && again && (await this.#rereadBindPassword())) return this.#ensureServiceBind(conn, false);
      if (e instanceof ResultCodeError)
        throw new BackendError(
          BACKEND,
          dn ? `${conn.server.addr} refused the search account bind_dn "${dn}": ${e.message}` : `${conn.server.addr} refused the anonymous bind: ${e.message}`,
          { cause: e, ...PUBLIC },
        );
      throw e;
    }
  }

  /** Bind with the user's password: true if accepted, false if refused. */
  async #userBind(conn: LdapConnection, dn: string, password: Secret, progress: { userBindSent: boolean }): Promise<boolean> {
    progress.userBindSent = true;
    try {
      await this.#op(conn, "a bind", () => conn.client.bind(dn, password.reveal()), { idempotent: false });
      conn.boundAs = dn;
      return true;
    } catch (e) {
      conn.boundAs = "";
      if (e instanceof ResultCodeError && REFUSED_BIND.has(e.code)) return false;
      if (e instanceof ResultCodeError && e.code === 34) return false; // invalidDNSyntax: a DN built from what the user typed
      throw e;
    }
  }

  async #searchUser(conn: LdapConnection, user: string): Promise<Entry[]> {
    const filter = fillTemplate(this.#c.filter, { account: escapeFilterValue(user) });
    try {
      const r = await this.#op(
        conn,
        "the user search",
        () => conn.client.search(this.#c.base, { scope: "sub", filter, attributes: this.#attributes, sizeLimit: 2, derefAliases: "never" }),
        { idempotent: true },
      );
      return r.searchEntries;
    } catch (e) {
      if (e instanceof ResultCodeError && e.code === 32) throw this.#noBase(conn, "base", this.#c.base, e);
      throw e;
    }
  }

  async #searchGroups(conn: LdapConnection, user: string, dn: string): Promise<string[]> {
    const g = this.#c.groupSearch!;
    const filter = fillTemplate(g.filter, { account: escapeFilterValue(user), dn: escapeFilterValue(dn) });
    try {
      const r = await this.#op(conn, "the group search", () => conn.client.search(g.base, { scope: "sub", filter, attributes: [g.attribute], derefAliases: "never" }), { idempotent: true });
      return mapValues(
        r.searchEntries.flatMap((e) => values(e, g.attribute)),
        g,
      );
    } catch (e) {
      if (e instanceof ResultCodeError && e.code === 32) throw this.#noBase(conn, "group_search.base", g.base, e);
      throw e;
    }
  }

  /** noSuchObject on a search: a config problem (or an identity that may not see the base); a 5xx that says so, not a 401 for everyone. */
  #noBase(conn: LdapConnection, key: string, base: string, e: ResultCodeError): BackendError {
    const who = conn.boundAs ? `"${conn.boundAs}"` : "an anonymous bind";
    return new BackendError(BACKEND, `${key} "${base}" does not exist on ${conn.server.addr}, or ${who} may not see it (${e.message})`, { cause: e, ...PUBLIC });
  }

  #labels(entry: Entry, groups: string[] | undefined): Labels {
    const labels: Record<string, string[]> = {};
    for (const [name, m] of this.#c.labels) labels[name] = mapValues(values(entry, m.attribute), m);
    if (groups) {
      const label = this.#c.groupSearch!.label;
      const have = labels[label] ?? [];
      labels[label] = [...have, ...groups.filter((g, i) => !have.includes(g) && groups.indexOf(g) === i)];
    }
    return labels;
  }

  /**
   * The user's entry is still found by the search account (a deleted or disabled-by-filter
   * account is not). Without a search account (initial_bind_as_user) nothing can be asked.
   */
  async stillExists(user: string): Promise<boolean | undefined> {
    if (this.#c.initialBindAsUser || user === "") return undefined;
    let conn: LdapConnection | undefined;
    try {
      conn = await this.#pool.acquire((c) => c.boundAs === this.#c.bindDn);
      await this.#ensureServiceBind(conn);
      const entries = await this.#searchUser(conn, user);
      return entries.length === 1;
    } catch (e) {
      throw this.#backendError(e);
    } finally {
      if (conn?.broken) this.#pool.destroy(conn);
      else if (conn) this.#pool.release(conn);
    }
  }

  /**
   * Readiness: a connection to one of the servers and, when the search account is used, its
   * bind. What a login would need before it reaches the user's own bind.
   */
  async health(): Promise<BackendHealth> {
    let conn: LdapConnection | undefined;
    try {
      conn = await this.#pool.acquire((c) => c.boundAs === this.#c.bindDn);
      if (!this.#c.initialBindAsUser) await this.#ensureServiceBind(conn);
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: this.#backendError(e).message };
    } finally {
      if (conn?.broken) this.#pool.destroy(conn);
      else if (conn) this.#pool.release(conn);
    }
  }

  async #attempt(user: string, password: Secret, progress: { userBindSent: boolean }): Promise<Outcome> {
    const held: LdapConnection[] = [];
    const take = async (prefer?: (c: LdapConnection) => boolean) => {
      const conn = await this.#pool.acquire(prefer);
      held.push(conn);
      return conn;
    };
    const give = (conn: LdapConnection) => {
      held.splice(held.indexOf(conn), 1);
      if (conn.broken) this.#pool.destroy(conn);
      else this.#pool.release(conn);
    };
    try {
      if (this.#c.initialBindAsUser) return await this.#asUser(user, password, progress, take);
      return await this.#withSearchAccount(user, password, progress, take, give);
    } finally {
      for (const c of [...held]) give(c);
    }
  }

  async #withSearchAccount(
    user: string,
    password: Secret,
    progress: { userBindSent: boolean },
    take: (prefer?: (c: LdapConnection) => boolean) => Promise<LdapConnection>,
    give: (c: LdapConnection) => void,
  ): Promise<Outcome> {
    const svc = this.#c.bindDn;
    const isSvc = (c: LdapConnection) => c.boundAs === svc;
    // 1. Find the user, on a connection bound as the search account.
    let conn = await take(isSvc);
    await this.#ensureServiceBind(conn);
    const entries = await this.#searchUser(conn, user);
    give(conn);
    // 2. Check the password with a bind as the entry found, on a connection not bound as the
    //    search account (so the search connections stay bound and need no re-bind).
    conn = await take((c) => !isSvc(c));
    if (entries.length !== 1 || !entries[0]!.dn) {
      // As much LDAP work as a wrong password: one bind that fails, as a DN that cannot exist.
      progress.userBindSent = true;
      await this.#op(conn, "a bind", () => conn.client.bind(`cn=regauth-no-such-user,${this.#c.base}`, "x".repeat(12)), { idempotent: false }).catch((e: unknown) => {
        if (!(e instanceof ResultCodeError)) throw e;
      });
      conn.boundAs = "";
      return entries.length === 0 ? { kind: "unknown" } : { kind: "ambiguous", count: entries.length };
    }
    const entry = entries[0]!;
    if (!(await this.#userBind(conn, entry.dn, password, progress))) return { kind: "refused" };
    give(conn);
    // 3. Groups, as the search account.
    let groups: string[] | undefined;
    if (this.#c.groupSearch) {
      conn = await take(isSvc);
      await this.#ensureServiceBind(conn);
      groups = await this.#searchGroups(conn, user, entry.dn);
    }
    return { kind: "match", labels: this.#labels(entry, groups) };
  }

  async #asUser(
    user: string,
    password: Secret,
    progress: { userBindSent: boolean },
    take: (prefer?: (c: LdapConnection) => boolean) => Promise<LdapConnection>,
  ): Promise<Outcome> {
    const conn = await take();
    // 1. Bind as the DN built from the account (RFC 4514-escaped); refused = wrong password or no such user alike.
    const initialDn = fillTemplate(this.#c.bindDn, { account: escapeDnValue(user) });
    if (!(await this.#userBind(conn, initialDn, password, progress))) return { kind: "refused" };
    // 2. Find the entry as that user; 3. bind as the entry found, as docker_auth does.
    const entries = await this.#searchUser(conn, user);
    if (entries.length === 0) return { kind: "unknown" };
    if (entries.length > 1) return { kind: "ambiguous", count: entries.length };
    const entry = entries[0]!;
    if (!entry.dn || !(await this.#userBind(conn, entry.dn, password, progress))) return { kind: "refused" };
    const groups = this.#c.groupSearch ? await this.#searchGroups(conn, user, entry.dn) : undefined;
    return { kind: "match", labels: this.#labels(entry, groups) };
  }

  async stop(): Promise<void> {
    await this.#pool.close();
  }
}

/**
 * LDAP's refusals (a failed bind, no such entry) are fast; where another method checks
 * bcrypt hashes, or an unknown user goes on to a later method, they spend the same
 * bcrypt time so that nobody learns from the timing which method knows a user.
 */
export async function createLdapAuthenticator(config: LdapAuthConfig, services: BackendServices): Promise<LdapAuthenticator> {
  const { laterMethods, refusal } = services;
  const dummyHash = refusal.bcryptInUse || laterMethods ? await refusal.dummyHash() : undefined;
  return new LdapAuthenticator(config, { log: services.log, laterMethods, dummyHash });
}
