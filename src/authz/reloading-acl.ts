import { BackendError, ConfigError, type ConfigLocation } from "../errors.js";
import type { Logger } from "../log.js";
import { AclAuthorizer } from "./acl.js";
import { aclFromDocuments, type AclDocument } from "./acl-documents.js";
import type { Authorizer, AuthzRequest, AuthzResult } from "./authorizer.js";

export interface ReloadingAclOptions {
  /** The section key (`acl_xorm`, `acl_mongo`): the rule source in logs and explain. */
  name: string;
  /** Where the entries live, without credentials (`postgres://db.example/registry xorm_acl_entry`). */
  source: string;
  /** Reads every entry; throws when the database cannot be read. */
  fetch(): Promise<AclDocument[]>;
  /** How long a loaded ACL is used before it is read again. */
  ttlMs: number;
  log: Logger;
  literalLabelValues: boolean;
}

/** The ACL could not be read or compiled: why, in words an operator can act on. */
export class AclLoadError extends Error {}

/**
 * An ACL kept in a database: read whole, compiled once per read by the same matcher as the
 * static ACL (same semantics, first match wins), and read again every `ttlMs`. A read that
 * fails or finds a broken entry keeps the last good ACL and is logged; decisions never wait
 * on the database. With no good ACL at all (never loaded), a decision is a 503, not a deny.
 */
export class ReloadingAcl implements Authorizer {
  readonly name: string;
  #current: AclAuthorizer | undefined;
  /** seq of each compiled entry, by index: rules are reported by seq, the key users know. */
  #seqs: number[] = [];
  #loadedAt = 0;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly o: ReloadingAclOptions) {
    this.name = o.name;
  }

  /** The first read: its failure is the caller's (a server does not start on an ACL it cannot read). */
  async start(): Promise<void> {
    await this.reload(true);
    this.#timer = setInterval(() => void this.reload(false), Math.max(this.o.ttlMs, 1000));
    this.#timer.unref();
  }

  get size(): number {
    return this.#current?.size ?? 0;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  get loadedAt(): number {
    return this.#loadedAt;
  }

  /** Read and install the ACL now; at most one read at a time. `strict`: throw instead of logging. */
  reload(strict = false): Promise<void> {
    this.#loading ??= this.#read(strict).finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  async #read(strict: boolean): Promise<void> {
    const { name, source, log } = this.o;
    try {
      let docs: AclDocument[];
      try {
        docs = await this.o.fetch();
      } catch (e) {
        throw new AclLoadError(`cannot read the ACL from ${source}: ${(e as Error).message}`);
      }
      const seqs: number[] = [];
      const where = (seq: number, key?: string): ConfigLocation => ({ file: source, key: key ? `seq ${seq}.${key}` : `seq ${seq}` });
      const { entries, problems } = aclFromDocuments(docs, (seq) => (seqs.push(seq), where(seq)));
      for (const s of problems.skipped) log.warn({ backend: name, source }, `ACL entry skipped: ${s}`);
      if (problems.errors.length) throw new AclLoadError(`the ACL in ${source} has broken entries: ${problems.errors.join("; ")}`);
      let acl: AclAuthorizer;
      try {
        acl = new AclAuthorizer(entries, (path) => where(seqs[path[1] as number]!, path.slice(2).join(".")), { literalLabelValues: this.o.literalLabelValues });
      } catch (e) {
        if (e instanceof ConfigError) throw new AclLoadError(`the ACL in ${source} has broken entries: ${e.issues.map((i) => `${i.key}: ${i.message}`).join("; ")}`);
        throw e;
      }
      if (this.#stopped) {
        await acl.stop();
        return;
      }
      const old = this.#current;
      this.#current = acl;
      this.#seqs = seqs;
      this.#loadedAt = Date.now();
      if (this.#lastError) log.info({ backend: name, source, entries: acl.size }, "ACL read again after a failure");
      else log.debug({ backend: name, source, entries: acl.size }, "ACL installed");
      this.#lastError = undefined;
      // Decisions are synchronous, so none is running on the old ACL at this point.
      await old?.stop();
    } catch (e) {
      if (!(e instanceof AclLoadError)) throw e;
      this.#lastError = e.message;
      if (strict) throw e;
      log.error({ backend: name, source, error: e.message, stale_seconds: this.#current ? Math.round((Date.now() - this.#loadedAt) / 1000) : undefined }, this.#current ? "ACL reload failed; the last good ACL stays in use" : "ACL reload failed; there is no ACL to use yet");
    }
  }

  async authorize(req: AuthzRequest): Promise<AuthzResult> {
    return this.decide(req);
  }

  /** The decision, synchronous: it never waits on the database. */
  decide(req: AuthzRequest): AuthzResult {
    const acl = this.#current;
    if (!acl) throw new BackendError(this.name, `no ACL loaded yet: ${this.#lastError ?? "still loading"}`, { publicMessage: `${this.name}: the ACL database cannot be used right now; try again later` });
    const r = acl.decide(req);
    if (r.kind === "match" && r.rule?.index !== undefined) return { ...r, rule: { ...r.rule, source: this.name, index: this.#seqs[r.rule.index] } };
    return r;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#loading?.catch(() => undefined);
    await this.#current?.stop();
    this.#current = undefined;
  }
}
