// An in-memory MongoDB stand-in for tests: a real wire-protocol server on 127.0.0.1 that the
// official `mongodb` driver takes for a standalone mongod 7.0. No MongoDB server can be
// installed on the test machines (Debian ships no package), so this speaks OP_MSG / OP_QUERY,
// over plain TCP or TLS (1.2+, with a given certificate), SCRAM-SHA-256, and the commands the driver needs for CRUD (find/getMore/killCursors, insert,
// update, delete, findAndModify, count, aggregate), indexes (unique, sparse, partial) and
// collections, over data kept in memory; mingo evaluates filters, projections, sorts, update
// operators and aggregation pipelines.
//
// Not implemented (a real server would behave differently): replica sets, sessions and
// transactions (lsid/txnNumber are accepted and ignored), retryable-write bookkeeping, read
// and write concerns, OP_COMPRESSED, client certificates (and x509 auth), exhaust/streaming
// monitoring, SCRAM-SHA-1 and other mechanisms, users other than those given (no createUser, no roles: an authenticated
// connection may do anything), multikey (array) unique indexes, collation, text/geo indexes
// and hints, pipeline-style updates, $out/$merge, change streams, maxTimeMS, and exact numeric
// types (integral doubles come back as int32, int64 within 2^53 as a JS number).
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer } from "node:tls";
import { Aggregator, ProcessingMode, Query, update as mingoUpdate } from "mingo";
import { BSON } from "mongodb";
import { startOnFreePort } from "./ports.js";
import { declareSecret } from "./secret-ledger.js";

/** SCRAM credentials the server accepts (authSource admin). */
export interface MongoUser {
  username: string;
  password: string;
}

/** PEM file paths of the certificate (chain) and private key a TLS stand-in presents. */
export interface MongoTls {
  cert: string;
  key: string;
}

export interface RunningMongo {
  port: number;
  /** mongodb://127.0.0.1:PORT (no credentials) */
  url: string;
  /**
   * Direct access to the in-memory data for seeding/inspecting: db name → collection name →
   * documents. The array is the live store (the same array for the life of the stand-in).
   */
  collection(db: string, name: string): Record<string, unknown>[];
  /** Count of commands received by name (e.g. commands("find")), for tests that check caching. */
  commands(name: string): number;
  /** Stop listening and destroy every open connection; data is kept. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
  /** stop() for good. */
  close(): Promise<void>;
}

type Doc = Record<string, unknown>;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const HEADER_SIZE = 16;
const MAX_MESSAGE_SIZE = 48_000_000;
const MAX_BSON_SIZE = 16 * 1024 * 1024;
const DEFAULT_FIRST_BATCH = 101;
const SCRAM_ITERATIONS = 15000;
const MSG_CHECKSUM_PRESENT = 1;
const MSG_MORE_TO_COME = 2;

const HANDSHAKE = new Set(["hello", "isMaster", "ismaster"]);
/** What an unauthenticated connection may run when users are configured (as mongod allows). */
const OPEN_COMMANDS = new Set([...HANDSHAKE, "saslStart", "saslContinue", "ping", "buildInfo", "buildinfo"]);

/** A command failure: becomes {ok: 0, code, codeName, errmsg}. */
class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

const isDoc = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v) && (v.constructor === Object || Object.getPrototypeOf(v) === null);
const optDoc = (v: unknown): Doc | undefined => (isDoc(v) ? v : undefined);
const docs = (v: unknown): Doc[] => (Array.isArray(v) ? v.filter(isDoc) : []);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : v instanceof BSON.Long ? v.toNumber() : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Deep copy that keeps BSON types (ObjectId, Binary, Date…): what the wire would do anyway. */
const copyDoc = (d: Doc): Doc => BSON.deserialize(BSON.serialize(d)) as Doc;
const sameDoc = (a: Doc, b: Doc): boolean => Buffer.compare(BSON.serialize(a), BSON.serialize(b)) === 0;

/** A value at a dotted path, without descending into arrays (no multikey indexes). */
function valueAt(doc: Doc, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split(".")) {
    if (!isDoc(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** mingo runs user queries: no server-side JavaScript ($where, $function), as with `--noscripting`. */
const QUERY_OPTIONS = { scriptEnabled: false } as const;

/** mingo throws plain Errors for bad queries or operators: report them as the server would. */
function mingo<T>(f: () => T, code = 2, codeName = "BadValue"): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CommandError) throw e;
    const message = (e as Error).message;
    if (/immutable field/i.test(message)) throw new CommandError(66, "ImmutableField", message);
    throw new CommandError(code, codeName, message);
  }
}

const compile = (filter: Doc): Query => mingo(() => new Query(filter, QUERY_OPTIONS));

// ---------------------------------------------------------------------------------------------
// Storage

interface Index {
  name: string;
  key: Doc;
  unique: boolean;
  sparse: boolean;
  partial: Query | undefined;
  /** As listIndexes reports it. */
  spec: Doc;
}

interface Collection {
  docs: Doc[];
  indexes: Index[];
  /** Created explicitly (insert, create, createIndexes) rather than only seeded or looked at. */
  created: boolean;
}

const idIndex = (): Index => ({ name: "_id_", key: { _id: 1 }, unique: true, sparse: false, partial: undefined, spec: { v: 2, key: { _id: 1 }, name: "_id_" } });
const exists = (c: Collection | undefined): boolean => c !== undefined && (c.created || c.docs.length > 0);

/** The key a document has in a unique index, or undefined when the index does not cover it. */
function indexKey(index: Index, doc: Doc): string | undefined {
  const values = Object.keys(index.key).map((f) => valueAt(doc, f));
  if (index.sparse && values.every((v) => v === undefined)) return undefined;
  if (index.partial && !index.partial.test(doc)) return undefined;
  // A missing field indexes as null, so two documents without it collide (as in mongod).
  return BSON.EJSON.stringify(
    values.map((v) => v ?? null),
    { relaxed: true },
  );
}

function duplicateKeyMessage(ns: string, index: Index, doc: Doc): string {
  const fields = Object.keys(index.key).map((f) => `${f}: ${BSON.EJSON.stringify(valueAt(doc, f) ?? null, { relaxed: true })}`);
  return `E11000 duplicate key error collection: ${ns} index: ${index.name} dup key: { ${fields.join(", ")} }`;
}

class DuplicateKey extends CommandError {
  constructor(
    ns: string,
    readonly index: Index,
    readonly doc: Doc,
  ) {
    super(11000, "DuplicateKey", duplicateKeyMessage(ns, index, doc));
  }

  writeError(i: number): Doc {
    const keyValue: Doc = {};
    for (const f of Object.keys(this.index.key)) keyValue[f] = valueAt(this.doc, f) ?? null;
    return { index: i, code: 11000, keyPattern: this.index.key, keyValue, errmsg: this.message };
  }
}

/**
 * The unique keys of one collection, built once per write command so that a batch of N
 * writes costs O(N + size) rather than a scan per document.
 */
class UniqueKeys {
  readonly #maps: { index: Index; owners: Map<string, Doc> }[];

  constructor(
    private readonly ns: string,
    coll: Collection,
  ) {
    this.#maps = coll.indexes
      .filter((i) => i.unique)
      .map((index) => {
        const owners = new Map<string, Doc>();
        for (const d of coll.docs) {
          const k = indexKey(index, d);
          if (k !== undefined && !owners.has(k)) owners.set(k, d);
        }
        return { index, owners };
      });
  }

  /** Throws DuplicateKey when `doc` would collide with a document other than `replacing`. */
  check(doc: Doc, replacing?: Doc): void {
    for (const { index, owners } of this.#maps) {
      const k = indexKey(index, doc);
      const owner = k === undefined ? undefined : owners.get(k);
      if (owner !== undefined && owner !== replacing) throw new DuplicateKey(this.ns, index, doc);
    }
  }

  add(doc: Doc, replacing?: Doc): void {
    for (const { index, owners } of this.#maps) {
      if (replacing) {
        const old = indexKey(index, replacing);
        if (old !== undefined && owners.get(old) === replacing) owners.delete(old);
      }
      const k = indexKey(index, doc);
      if (k !== undefined) owners.set(k, doc);
    }
  }
}

class Store {
  readonly #dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.#dbs.get(db)?.get(name);
  }

  /** The collection, made (not yet `created`) when missing. */
  ensure(db: string, name: string): Collection {
    let colls = this.#dbs.get(db);
    if (!colls) this.#dbs.set(db, (colls = new Map()));
    let c = colls.get(name);
    if (!c) colls.set(name, (c = { docs: [], indexes: [idIndex()], created: false }));
    return c;
  }

  /** Collections of a db that exist. */
  list(db: string): [string, Collection][] {
    return [...(this.#dbs.get(db) ?? new Map<string, Collection>())].filter(([, c]) => exists(c));
  }

  /** Emptied in place: callers of collection() keep seeing the live array. */
  drop(c: Collection): void {
    c.docs.length = 0;
    c.indexes = [idIndex()];
    c.created = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Wire protocol

interface Connection {
  id: number;
  /** The TCP socket, or the TLS socket over it. */
  socket: Duplex;
  pending: Buffer;
  /** Messages are handled one after another, in arrival order. */
  queue: Promise<void>;
  user: string | undefined;
  sasl: Sasl | undefined;
}

interface Sasl {
  conversationId: number;
  user: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  gs2Header: string;
  done: boolean;
}

interface ScramKeys {
  salt: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

interface OpenCursor {
  ns: string;
  remaining: Doc[];
}

const hmac = (key: Buffer, text: string): Buffer => createHmac("sha256", key).update(text).digest();

function scramKeys(password: string): ScramKeys {
  const salt = randomBytes(16);
  // SASLprep is approximated by NFKC: exact for the ASCII passwords tests use.
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, SCRAM_ITERATIONS, 32, "sha256");
  const clientKey = hmac(salted, "Client Key");
  return { salt, clientKey, storedKey: createHash("sha256").update(clientKey).digest(), serverKey: hmac(salted, "Server Key") };
}

/** SCRAM attributes ("n=user,r=nonce") → map; values may contain "=". */
function scramAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

const binaryText = (v: unknown): string => {
  if (v instanceof BSON.Binary) return Buffer.from(v.buffer.subarray(0, v.position)).toString("utf8");
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  throw new CommandError(18, "AuthenticationFailed", "Authentication failed.");
};
const binary = (text: string): InstanceType<typeof BSON.Binary> => new BSON.Binary(Buffer.from(text, "utf8"));
const authFailed = (): CommandError => new CommandError(18, "AuthenticationFailed", "Authentication failed.");

type Handler = (cmd: Doc, db: string, conn: Connection) => Doc | Promise<Doc>;

class MongoStandIn {
  readonly #store = new Store();
  readonly #counts = new Map<string, number>();
  readonly #cursors = new Map<string, OpenCursor>();
  readonly #users: Map<string, ScramKeys> | undefined;
  /** PEM contents, read once: a restart does not need the files any more. */
  readonly #tls: { cert: Buffer; key: Buffer } | undefined;
  /** Every open TCP socket, TLS ones still in their handshake included. */
  readonly #sockets = new Set<Socket>();
  readonly #handlers: Map<string, Handler>;
  #server: Server | undefined;
  #nextConnectionId = 1;
  #nextRequestId = 1;
  #nextCursorId = 1;

  constructor(users: MongoUser[] | undefined, tls: MongoTls | undefined) {
    this.#users = users && new Map(users.map((u) => [u.username, scramKeys(u.password)]));
    this.#tls = tls && { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
    this.#handlers = this.#commandTable();
  }

  collection(db: string, name: string): Doc[] {
    return this.#store.ensure(db, name).docs;
  }

  commands(name: string): number {
    return this.#counts.get(name) ?? 0;
  }

  async listen(port: number): Promise<void> {
    if (this.#server) return;
    const server: Server = this.#tls ? createTlsServer({ ...this.#tls, minVersion: "TLSv1.2" }) : createServer();
    // Both kinds report each TCP connection; a TLS server then reports the secured stream over it.
    server.on("connection", (raw: Socket) => this.#track(raw));
    server.on(this.#tls ? "secureConnection" : "connection", (socket: Duplex) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    // A restarted mongod has no cursors; the data here outlives it as if it were on disk.
    this.#cursors.clear();
    await closed;
  }

  /** stop() destroys these: destroying the TCP socket ends a TLS one over it too. */
  #track(raw: Socket): void {
    raw.setNoDelay(true);
    this.#sockets.add(raw);
    // Clients vanish mid-conversation (stop(), client.close()) or fail the handshake: nothing to report.
    raw.on("error", () => {});
    raw.on("close", () => this.#sockets.delete(raw));
  }

  #accept(socket: Duplex): void {
    const conn: Connection = { id: this.#nextConnectionId++, socket, pending: Buffer.alloc(0), queue: Promise.resolve(), user: undefined, sasl: undefined };
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => this.#receive(conn, chunk));
  }

  /** TCP (and TLS) is a stream: frame it into whole messages, however the chunks split them. */
  #receive(conn: Connection, chunk: Buffer): void {
    conn.pending = conn.pending.length === 0 ? chunk : Buffer.concat([conn.pending, chunk]);
    while (conn.pending.length >= 4) {
      const length = conn.pending.readInt32LE(0);
      if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE) {
        conn.socket.destroy();
        return;
      }
      if (conn.pending.length < length) return;
      const message = conn.pending.subarray(0, length);
      conn.pending = conn.pending.subarray(length);
      conn.queue = conn.queue.then(() =>
        this.#handle(conn, message).catch(() => {
          // A message we cannot parse leaves the stream in an unknown state: drop the client.
          conn.socket.destroy();
        }),
      );
    }
  }

  async #handle(conn: Connection, message: Buffer): Promise<void> {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_MSG) {
      const { body, moreToCome } = parseOpMsg(message);
      const db = str(body["$db"]);
      const reply = db === undefined ? failure(new CommandError(40571, "Location40571", "OP_MSG requests require a $db argument")) : await this.#run(conn, body, db);
      if (!moreToCome) this.#send(conn, requestId, OP_MSG, opMsgBody(reply));
    } else if (opCode === OP_QUERY) {
      const { ns, query } = parseOpQuery(message);
      const body = optDoc(query["$query"]) ?? query;
      const name = Object.keys(body)[0] ?? "";
      // Like mongod 6+: OP_QUERY only carries the pre-OP_MSG handshake.
      const reply =
        ns.endsWith(".$cmd") && HANDSHAKE.has(name)
          ? await this.#run(conn, body, ns.slice(0, ns.indexOf(".")))
          : failure(new CommandError(352, "UnsupportedOpQueryCommand", `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade.`));
      this.#send(conn, requestId, OP_REPLY, opReplyBody(reply));
    } else {
      throw new Error(`unsupported opCode ${opCode}`);
    }
  }

  #send(conn: Connection, responseTo: number, opCode: number, body: Buffer): void {
    if (conn.socket.destroyed) return;
    const header = Buffer.alloc(HEADER_SIZE);
    header.writeInt32LE(HEADER_SIZE + body.length, 0);
    header.writeInt32LE(this.#nextRequestId++, 4);
    header.writeInt32LE(responseTo, 8);
    header.writeInt32LE(opCode, 12);
    conn.socket.write(Buffer.concat([header, body]));
  }

  async #run(conn: Connection, body: Doc, db: string): Promise<Doc> {
    const name = Object.keys(body)[0] ?? "";
    this.#counts.set(name, this.commands(name) + 1);
    try {
      if (this.#users && conn.user === undefined && !OPEN_COMMANDS.has(name)) throw new CommandError(13, "Unauthorized", `Command ${name} requires authentication`);
      const handler = this.#handlers.get(name);
      if (!handler) throw new CommandError(59, "CommandNotFound", `no such command: '${name}'`);
      return { ...(await handler(body, db, conn)), ok: 1 };
    } catch (e) {
      if (e instanceof CommandError) return failure(e);
      return { ok: 0, code: 1, codeName: "InternalError", errmsg: (e as Error).message };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  #commandTable(): Map<string, Handler> {
    const hello: Handler = (cmd, _db, conn) => this.#hello(cmd, conn);
    const buildInfo: Handler = () => ({ version: "7.0.0", versionArray: [7, 0, 0, 0], maxBsonObjectSize: MAX_BSON_SIZE });
    return new Map<string, Handler>([
      ["hello", hello],
      ["isMaster", hello],
      ["ismaster", hello],
      ["saslStart", (cmd, db, conn) => this.#saslStart(cmd, db, conn)],
      ["saslContinue", (cmd, _db, conn) => this.#saslContinue(cmd, conn)],
      ["ping", () => ({})],
      ["buildInfo", buildInfo],
      ["buildinfo", buildInfo],
      ["endSessions", () => ({})],
      ["find", (cmd, db) => this.#find(cmd, db)],
      ["getMore", (cmd) => this.#getMore(cmd)],
      ["killCursors", (cmd) => this.#killCursors(cmd)],
      ["insert", (cmd, db) => this.#insert(cmd, db)],
      ["update", (cmd, db) => this.#update(cmd, db)],
      ["delete", (cmd, db) => this.#delete(cmd, db)],
      ["findAndModify", (cmd, db) => this.#findAndModify(cmd, db)],
      ["count", (cmd, db) => this.#count(cmd, db)],
      ["aggregate", (cmd, db) => this.#aggregate(cmd, db)],
      ["createIndexes", (cmd, db) => this.#createIndexes(cmd, db)],
      ["listIndexes", (cmd, db) => this.#listIndexes(cmd, db)],
      ["dropIndexes", (cmd, db) => this.#dropIndexes(cmd, db)],
      ["create", (cmd, db) => this.#create(cmd, db)],
      ["drop", (cmd, db) => this.#drop(cmd, db)],
      ["listCollections", (cmd, db) => this.#listCollections(cmd, db)],
      ["dropDatabase", (_cmd, db) => this.#dropDatabase(db)],
    ]);
  }

  #hello(cmd: Doc, conn: Connection): Doc {
    // No topologyVersion: the driver then polls with hello instead of streaming (exhaust).
    const reply: Doc = {
      helloOk: true,
      isWritablePrimary: true,
      ismaster: true,
      maxBsonObjectSize: MAX_BSON_SIZE,
      maxMessageSizeBytes: MAX_MESSAGE_SIZE,
      maxWriteBatchSize: 100000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: conn.id,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
    };
    // speculativeAuthenticate is ignored on purpose: the driver falls back to saslStart.
    const mechsFor = str(cmd["saslSupportedMechs"]);
    if (mechsFor?.startsWith("admin.") && this.#users?.has(mechsFor.slice("admin.".length))) reply["saslSupportedMechs"] = ["SCRAM-SHA-256"];
    return reply;
  }

  #saslStart(cmd: Doc, db: string, conn: Connection): Doc {
    conn.sasl = undefined;
    if (cmd["mechanism"] !== "SCRAM-SHA-256") throw new CommandError(18, "AuthenticationFailed", `Authentication failed: mechanism ${String(cmd["mechanism"])} is not supported (SCRAM-SHA-256 only)`);
    const clientFirst = binaryText(cmd["payload"]);
    // client-first = gs2-header ("n,," : no channel binding, no authzid) + client-first-bare.
    const m = /^([ny]),,(.*)$/s.exec(clientFirst);
    if (!m) throw authFailed();
    const clientFirstBare = m[2]!;
    const attrs = scramAttributes(clientFirstBare);
    const user = attrs.get("n")?.replace(/=2C/g, ",").replace(/=3D/g, "=");
    const clientNonce = attrs.get("r");
    const keys = user === undefined ? undefined : this.#users?.get(user);
    if (db !== "admin" || user === undefined || !clientNonce || !keys) throw authFailed();
    const nonce = clientNonce + randomBytes(24).toString("base64");
    const serverFirst = `r=${nonce},s=${keys.salt.toString("base64")},i=${SCRAM_ITERATIONS}`;
    conn.sasl = { conversationId: 1, user, clientFirstBare, serverFirst, nonce, gs2Header: `${m[1]},,`, done: false };
    return { conversationId: 1, done: false, payload: binary(serverFirst) };
  }

  #saslContinue(cmd: Doc, conn: Connection): Doc {
    const s = conn.sasl;
    if (!s || num(cmd["conversationId"]) !== s.conversationId) throw authFailed();
    // The driver may send one empty message after the server's final one.
    if (s.done) return { conversationId: s.conversationId, done: true, payload: binary("") };
    conn.sasl = undefined;
    const clientFinal = binaryText(cmd["payload"]);
    const at = clientFinal.lastIndexOf(",p=");
    if (at < 0) throw authFailed();
    const withoutProof = clientFinal.slice(0, at);
    const proof = Buffer.from(clientFinal.slice(at + 3), "base64");
    const attrs = scramAttributes(withoutProof);
    if (attrs.get("c") !== Buffer.from(s.gs2Header).toString("base64") || attrs.get("r") !== s.nonce) throw authFailed();
    const keys = this.#users?.get(s.user);
    if (!keys) throw authFailed();
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    const signature = hmac(keys.storedKey, authMessage);
    const expected = Buffer.from(keys.clientKey.map((b, i) => b ^ signature[i]!));
    if (proof.length !== expected.length || !timingSafeEqual(proof, expected)) throw authFailed();
    conn.user = s.user;
    conn.sasl = { ...s, done: true };
    return { conversationId: s.conversationId, done: true, payload: binary(`v=${hmac(keys.serverKey, authMessage).toString("base64")}`) };
  }

  /** Name of the collection a command is about (its first value). */
  #target(cmd: Doc, name: string): string {
    const coll = str(cmd[name]);
    if (!coll) throw new CommandError(73, "InvalidNamespace", `collection name must be a non-empty string, not ${String(cmd[name])}`);
    return coll;
  }

  /** A first batch, keeping the rest as a cursor for getMore. */
  #cursorReply(ns: string, results: Doc[], batchSize: number | undefined, singleBatch: boolean): Doc {
    const firstBatch = takeBatch(results, batchSize ?? DEFAULT_FIRST_BATCH);
    let id = 0;
    if (results.length > 0 && !singleBatch) {
      id = this.#nextCursorId++;
      this.#cursors.set(String(id), { ns, remaining: results });
    }
    return { cursor: { id: BSON.Long.fromNumber(id), ns, firstBatch } };
  }

  #find(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "find");
    const source = this.#store.get(db, name)?.docs ?? [];
    const projection = optDoc(cmd["projection"]);
    const sort = optDoc(cmd["sort"]);
    const skip = num(cmd["skip"]) ?? 0;
    const limit = num(cmd["limit"]) ?? 0;
    const query = compile(optDoc(cmd["filter"]) ?? {});
    const results = mingo(() => {
      const cursor = query.find<Doc>(source);
      const order = sort && Object.fromEntries(Object.entries(sort).filter(([k]) => k !== "$natural"));
      if (order && Object.keys(order).length) cursor.sort(order);
      if (skip > 0) cursor.skip(skip);
      if (limit !== 0) cursor.limit(Math.abs(limit));
      return cursor.all().map((d) => project(query, d, projection));
    });
    // A negative limit is the legacy spelling of singleBatch.
    return this.#cursorReply(`${db}.${name}`, results, num(cmd["batchSize"]), cmd["singleBatch"] === true || limit < 0);
  }

  #getMore(cmd: Doc): Doc {
    const key = String(cmd["getMore"]);
    const cursor = this.#cursors.get(key);
    if (!cursor) throw new CommandError(43, "CursorNotFound", `cursor id ${key} not found`);
    const coll = str(cmd["collection"]);
    if (coll !== cursor.ns.slice(cursor.ns.indexOf(".") + 1)) throw new CommandError(13, "Unauthorized", `Requested getMore on namespace '${coll}', but cursor belongs to a different namespace ${cursor.ns}`);
    const batchSize = num(cmd["batchSize"]);
    const nextBatch = takeBatch(cursor.remaining, batchSize && batchSize > 0 ? batchSize : Infinity);
    const done = cursor.remaining.length === 0;
    if (done) this.#cursors.delete(key);
    return { cursor: { id: BSON.Long.fromNumber(done ? 0 : Number(key)), ns: cursor.ns, nextBatch } };
  }

  #killCursors(cmd: Doc): Doc {
    const ids = Array.isArray(cmd["cursors"]) ? (cmd["cursors"] as unknown[]) : [];
    const killed: unknown[] = [];
    const notFound: unknown[] = [];
    for (const id of ids) (this.#cursors.delete(String(id)) ? killed : notFound).push(BSON.Long.fromString(String(id)));
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
  }

  #insert(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "insert");
    const ns = `${db}.${name}`;
    const coll = this.#store.ensure(db, name);
    coll.created = true;
    const keys = new UniqueKeys(ns, coll);
    const ordered = cmd["ordered"] !== false;
    const writeErrors: Doc[] = [];
    let n = 0;
    for (const [index, given] of docs(cmd["documents"]).entries()) {
      // mongod stores _id first, generating one when missing.
      const doc = { _id: given["_id"] === undefined ? new BSON.ObjectId() : given["_id"], ...given };
      try {
        keys.check(doc);
      } catch (e) {
        if (!(e instanceof DuplicateKey)) throw e;
        writeErrors.push(e.writeError(index));
        if (ordered) break;
        continue;
      }
      keys.add(doc);
      coll.docs.push(doc);
      n++;
    }
    return writeErrors.length ? { n, writeErrors } : { n };
  }

  #update(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "update");
    const ns = `${db}.${name}`;
    const coll = this.#store.ensure(db, name);
    const keys = new UniqueKeys(ns, coll);
    const ordered = cmd["ordered"] !== false;
    const writeErrors: Doc[] = [];
    const upserted: Doc[] = [];
    let n = 0;
    let nModified = 0;
    for (const [index, spec] of docs(cmd["updates"]).entries()) {
      try {
        const u = spec["u"];
        const arrayFilters = docs(spec["arrayFilters"]);
        if (!isDoc(u)) throw new CommandError(9, "FailedToParse", "the stand-in supports update documents only (no pipeline-style updates)");
        const multi = spec["multi"] === true;
        if (multi && !isOperatorUpdate(u)) throw new CommandError(9, "FailedToParse", "multi update is not supported for replacement-style update");
        const query = compile(optDoc(spec["q"]) ?? {});
        const matches = coll.docs.flatMap((d, at) => (query.test(d) ? [at] : []));
        if (!multi) matches.splice(1);
        if (matches.length === 0 && spec["upsert"] === true) {
          const doc = upsertDocument(optDoc(spec["q"]) ?? {}, u, arrayFilters);
          keys.check(doc);
          keys.add(doc);
          coll.docs.push(doc);
          coll.created = true;
          upserted.push({ index, _id: doc["_id"] });
          n++;
          continue;
        }
        for (const at of matches) {
          n++;
          const orig = coll.docs[at]!;
          const next = applyUpdate(orig, u, arrayFilters);
          if (sameDoc(orig, next)) continue;
          keys.check(next, orig);
          keys.add(next, orig);
          coll.docs[at] = next;
          nModified++;
        }
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
        writeErrors.push(e instanceof DuplicateKey ? e.writeError(index) : { index, code: e.code, codeName: e.codeName, errmsg: e.message });
        if (ordered) break;
      }
    }
    return { n, nModified, ...(upserted.length ? { upserted } : {}), ...(writeErrors.length ? { writeErrors } : {}) };
  }

  #findAndModify(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "findAndModify");
    const coll = this.#store.ensure(db, name);
    const q = optDoc(cmd["query"]) ?? {};
    const query = compile(q);
    const sort = optDoc(cmd["sort"]);
    let matches = coll.docs.filter((d) => query.test(d));
    if (sort && Object.keys(sort).length) matches = mingo(() => compile({}).find<Doc>(matches).sort(sort).all());
    const target = matches[0];
    const fields = optDoc(cmd["fields"]);
    const shown = (d: Doc | undefined): Doc | null => (d ? mingo(() => project(query, d, fields)) : null);
    if (cmd["remove"] === true) {
      if (target) coll.docs.splice(coll.docs.indexOf(target), 1);
      return { lastErrorObject: { n: target ? 1 : 0 }, value: shown(target) };
    }
    const u = cmd["update"];
    if (!isDoc(u)) throw new CommandError(9, "FailedToParse", "findAndModify needs remove: true or an update document (pipeline-style updates are not supported)");
    const keys = new UniqueKeys(`${db}.${name}`, coll);
    const returnNew = cmd["new"] === true;
    if (!target) {
      if (cmd["upsert"] !== true) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null };
      const doc = upsertDocument(q, u, docs(cmd["arrayFilters"]));
      keys.check(doc);
      coll.docs.push(doc);
      coll.created = true;
      return { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc["_id"] }, value: returnNew ? shown(doc) : null };
    }
    const next = applyUpdate(target, u, docs(cmd["arrayFilters"]));
    if (!sameDoc(target, next)) {
      keys.check(next, target);
      coll.docs[coll.docs.indexOf(target)] = next;
    }
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: shown(returnNew ? next : target) };
  }

  #delete(cmd: Doc, db: string): Doc {
    const coll = this.#store.get(db, this.#target(cmd, "delete"));
    let n = 0;
    for (const spec of docs(cmd["deletes"])) {
      if (!coll) break;
      const query = compile(optDoc(spec["q"]) ?? {});
      if (num(spec["limit"]) === 1) {
        const at = coll.docs.findIndex((d) => query.test(d));
        if (at >= 0) {
          coll.docs.splice(at, 1);
          n++;
        }
      } else {
        // In place, so the array collection() handed out stays the live one.
        const keep = coll.docs.filter((d) => !query.test(d));
        n += coll.docs.length - keep.length;
        coll.docs.splice(0, coll.docs.length, ...keep);
      }
    }
    return { n };
  }

  #count(cmd: Doc, db: string): Doc {
    const source = this.#store.get(db, this.#target(cmd, "count"))?.docs ?? [];
    const query = compile(optDoc(cmd["query"]) ?? {});
    let n = source.filter((d) => query.test(d)).length;
    n = Math.max(0, n - (num(cmd["skip"]) ?? 0));
    const limit = Math.abs(num(cmd["limit"]) ?? 0);
    return { n: limit ? Math.min(n, limit) : n };
  }

  #aggregate(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "aggregate");
    const pipeline = docs(cmd["pipeline"]);
    const writing = pipeline.find((s) => "$out" in s || "$merge" in s);
    if (writing) throw new CommandError(9, "FailedToParse", `${Object.keys(writing)[0]} is not supported by the MongoDB stand-in`);
    const source = this.#store.get(db, name)?.docs ?? [];
    const results = mingo(() =>
      new Aggregator(pipeline, {
        ...QUERY_OPTIONS,
        // Stages like $set would otherwise write into the stored documents.
        processingMode: ProcessingMode.CLONE_INPUT,
        collectionResolver: (other) => (this.#store.get(db, other)?.docs ?? []).map(copyDoc),
      })
        .run(source)
        .map((d) => copyDoc(d as Doc)),
    );
    return this.#cursorReply(`${db}.${name}`, results, num(optDoc(cmd["cursor"])?.["batchSize"]), false);
  }

  #createIndexes(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "createIndexes");
    const ns = `${db}.${name}`;
    const existed = exists(this.#store.get(db, name));
    const coll = this.#store.ensure(db, name);
    coll.created = true;
    const before = coll.indexes.length;
    for (const spec of docs(cmd["indexes"])) {
      const key = optDoc(spec["key"]);
      if (!key || Object.keys(key).length === 0) throw new CommandError(67, "CannotCreateIndex", "index key pattern must be a non-empty object");
      const index = makeIndex(key, spec);
      const sameName = coll.indexes.find((i) => i.name === index.name);
      const sameKey = coll.indexes.find((i) => sameDoc(i.key, key));
      if (sameName || sameKey) {
        const other = (sameName ?? sameKey)!;
        if (other.name === index.name && sameDoc(other.key, key) && other.unique === index.unique && other.sparse === index.sparse) continue;
        if (sameName && !sameDoc(sameName.key, key)) throw new CommandError(86, "IndexKeySpecsConflict", `An existing index has the same name as the requested index but a different key: ${index.name}`);
        throw new CommandError(85, "IndexOptionsConflict", `An equivalent index already exists with a different name or options: ${other.name}`);
      }
      if (index.unique) {
        const owners = new Map<string, Doc>();
        for (const d of coll.docs) {
          const k = indexKey(index, d);
          if (k === undefined) continue;
          if (owners.has(k)) throw new CommandError(11000, "DuplicateKey", `Index build failed: ${duplicateKeyMessage(ns, index, d)}`);
          owners.set(k, d);
        }
      }
      coll.indexes.push(index);
    }
    const reply: Doc = { numIndexesBefore: before, numIndexesAfter: coll.indexes.length, createdCollectionAutomatically: !existed };
    if (before === coll.indexes.length) reply["note"] = "all indexes already exist";
    return reply;
  }

  #existing(db: string, name: string): Collection {
    const coll = this.#store.get(db, name);
    if (!coll || !exists(coll)) throw new CommandError(26, "NamespaceNotFound", `ns does not exist: ${db}.${name}`);
    return coll;
  }

  #listIndexes(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "listIndexes");
    const specs = this.#existing(db, name).indexes.map((i) => copyDoc(i.spec));
    return this.#cursorReply(`${db}.${name}`, specs, num(optDoc(cmd["cursor"])?.["batchSize"]), false);
  }

  #dropIndexes(cmd: Doc, db: string): Doc {
    const coll = this.#existing(db, this.#target(cmd, "dropIndexes"));
    const nIndexesWas = coll.indexes.length;
    const which = cmd["index"];
    const names = which === "*" ? coll.indexes.map((i) => i.name).filter((n) => n !== "_id_") : Array.isArray(which) ? which.map(String) : isDoc(which) ? coll.indexes.filter((i) => sameDoc(i.key, which)).map((i) => i.name) : [String(which)];
    if (names.length === 0 && which !== "*") throw new CommandError(27, "IndexNotFound", `can't find index with key: ${BSON.EJSON.stringify(which)}`);
    for (const n of names) {
      if (n === "_id_") throw new CommandError(72, "InvalidOptions", "cannot drop _id index");
      if (!coll.indexes.some((i) => i.name === n)) throw new CommandError(27, "IndexNotFound", `index not found with name [${n}]`);
    }
    coll.indexes = coll.indexes.filter((i) => !names.includes(i.name));
    return { nIndexesWas };
  }

  #create(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "create");
    const coll = this.#store.ensure(db, name);
    if (exists(coll)) throw new CommandError(48, "NamespaceExists", `Collection ${db}.${name} already exists.`);
    coll.created = true;
    return {};
  }

  #drop(cmd: Doc, db: string): Doc {
    const name = this.#target(cmd, "drop");
    const coll = this.#store.get(db, name);
    // Since 7.0 dropping a collection that does not exist succeeds.
    if (!coll || !exists(coll)) return { ns: `${db}.${name}` };
    const nIndexesWas = coll.indexes.length;
    this.#store.drop(coll);
    return { ns: `${db}.${name}`, nIndexesWas };
  }

  #listCollections(cmd: Doc, db: string): Doc {
    const all = this.#store.list(db).map(([name]) => ({ name, type: "collection", options: {}, info: { readOnly: false }, idIndex: idIndex().spec }));
    const filter = compile(optDoc(cmd["filter"]) ?? {});
    const nameOnly = cmd["nameOnly"] === true;
    const listed = all.filter((c) => filter.test(c)).map((c): Doc => (nameOnly ? { name: c.name, type: c.type } : copyDoc(c)));
    return this.#cursorReply(`${db}.$cmd.listCollections`, listed, num(optDoc(cmd["cursor"])?.["batchSize"]), false);
  }

  #dropDatabase(db: string): Doc {
    for (const [, coll] of this.#store.list(db)) this.#store.drop(coll);
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers for commands and messages

const failure = (e: CommandError): Doc => ({ ok: 0, code: e.code, codeName: e.codeName, errmsg: e.message });

/** Up to `n` documents off the front of `from`, within the 16 MB a reply document may hold. */
function takeBatch(from: Doc[], n: number): Doc[] {
  let count = 0;
  let bytes = 0;
  while (count < from.length && count < n) {
    bytes += BSON.calculateObjectSize(from[count]!);
    // Leave room for the reply around the batch; a batch always carries at least one document.
    if (count > 0 && bytes > MAX_BSON_SIZE - 16 * 1024) break;
    count++;
  }
  return from.splice(0, count);
}

/** A copy of `doc` (which matches `query`) through a find projection, if any. */
function project(query: Query, doc: Doc, projection: Doc | undefined): Doc {
  if (!projection || Object.keys(projection).length === 0) return copyDoc(doc);
  // The query goes along for positional projections ("arr.$": 1).
  const [out] = query.find<Doc>([doc], projection).all();
  return copyDoc(inDocumentOrder(out, doc) as Doc);
}

/** mingo emits included fields in the projection's order (and _id last); mongod keeps the document's. */
function inDocumentOrder(projected: unknown, source: unknown): unknown {
  if (Array.isArray(projected) && Array.isArray(source)) return projected.map((v, i) => inDocumentOrder(v, source[i]));
  if (!isDoc(projected) || !isDoc(source)) return projected;
  const out: Doc = {};
  for (const k of Object.keys(source)) if (Object.hasOwn(projected, k)) out[k] = inDocumentOrder(projected[k], source[k]);
  for (const k of Object.keys(projected)) if (!Object.hasOwn(out, k)) out[k] = projected[k];
  return out;
}

const isOperatorUpdate = (u: Doc): boolean => Object.keys(u)[0]?.startsWith("$") ?? false;

function makeIndex(key: Doc, spec: Doc): Index {
  const name = str(spec["name"]) ?? Object.entries(key).map(([k, v]) => `${k}_${String(v)}`).join("_");
  const partialFilter = optDoc(spec["partialFilterExpression"]);
  const listed: Doc = { v: 2, key, name };
  if (spec["unique"] === true) listed["unique"] = true;
  if (spec["sparse"] === true) listed["sparse"] = true;
  if (partialFilter) listed["partialFilterExpression"] = partialFilter;
  return { name, key, unique: spec["unique"] === true, sparse: spec["sparse"] === true, partial: partialFilter && compile(partialFilter), spec: listed };
}

type Modifier = Parameters<typeof mingoUpdate<Doc>>[1];

/**
 * The document after update `u`: operators applied to a copy, or a replacement keeping _id.
 * Never in place, so that the stored document changes only once the result passed its checks.
 */
function applyUpdate(orig: Doc, u: Doc, arrayFilters: Doc[]): Doc {
  if (!isOperatorUpdate(u)) {
    if (u["_id"] !== undefined && !sameDoc({ _id: u["_id"] }, { _id: orig["_id"] })) {
      throw new CommandError(66, "ImmutableField", "After applying the update, the (immutable) field '_id' was found to have been altered");
    }
    const { _id: _ignored, ...rest } = copyDoc(u);
    return { _id: orig["_id"], ...rest };
  }
  const ops: Doc = { ...u };
  delete ops["$setOnInsert"];
  const next = copyDoc(orig);
  mingo(() => mingoUpdate(next, ops as Modifier, arrayFilters, undefined, { cloneMode: "deep", queryOptions: QUERY_OPTIONS }), 9, "FailedToParse");
  if (!sameDoc({ _id: next["_id"] }, { _id: orig["_id"] })) throw new CommandError(66, "ImmutableField", "Performing an update on the path '_id' would modify the immutable field '_id'");
  return next;
}

/** The document an upsert inserts: the query's equality fields, then the update (or replacement). */
function upsertDocument(q: Doc, u: Doc, arrayFilters: Doc[]): Doc {
  const equalities: Doc = {};
  for (const [k, v] of Object.entries(q)) {
    if (k.startsWith("$")) continue;
    if (!isDoc(v)) equalities[k] = v;
    else if (Object.keys(v).length === 1 && "$eq" in v) equalities[k] = v["$eq"];
    else if (!Object.keys(v).some((op) => op.startsWith("$"))) equalities[k] = v;
  }
  let doc: Doc;
  if (isOperatorUpdate(u)) {
    doc = {};
    const ops: Doc = { ...u };
    const onInsert = optDoc(ops["$setOnInsert"]);
    delete ops["$setOnInsert"];
    const set = { ...equalities, ...optDoc(ops["$set"]), ...onInsert };
    if (Object.keys(set).length) ops["$set"] = set;
    if (Object.keys(ops).length) mingo(() => mingoUpdate(doc, ops as Modifier, arrayFilters, undefined, { cloneMode: "deep", queryOptions: QUERY_OPTIONS }), 9, "FailedToParse");
  } else {
    doc = copyDoc(u);
    if (doc["_id"] === undefined && equalities["_id"] !== undefined) doc = { _id: equalities["_id"], ...doc };
  }
  return doc["_id"] === undefined ? { _id: new BSON.ObjectId(), ...doc } : doc;
}

const deserialize = (b: Buffer): Doc => BSON.deserialize(b) as Doc;

/** Reads one BSON document at `pos`: [document, position after it]. */
function readDoc(message: Buffer, pos: number, end: number): [Doc, number] {
  const size = message.readInt32LE(pos);
  if (size < 5 || pos + size > end) throw new Error("BSON document overruns its message");
  return [deserialize(message.subarray(pos, pos + size)), pos + size];
}

function parseOpMsg(message: Buffer): { body: Doc; moreToCome: boolean } {
  const flags = message.readUInt32LE(HEADER_SIZE);
  // The CRC-32C trailer is for unreliable links; TCP (or TLS) on loopback is not one.
  const end = flags & MSG_CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let body: Doc | undefined;
  const sequences: [string, Doc[]][] = [];
  let pos = HEADER_SIZE + 4;
  while (pos < end) {
    const kind = message[pos++];
    if (kind === 0) {
      [body, pos] = readDoc(message, pos, end);
    } else if (kind === 1) {
      const sectionEnd = pos + message.readInt32LE(pos);
      if (sectionEnd > end) throw new Error("OP_MSG document sequence overruns its message");
      const nul = message.indexOf(0, pos + 4);
      if (nul < 0 || nul >= sectionEnd) throw new Error("OP_MSG document sequence without identifier");
      const identifier = message.toString("utf8", pos + 4, nul);
      const seq: Doc[] = [];
      for (let p = nul + 1; p < sectionEnd; ) {
        let d: Doc;
        [d, p] = readDoc(message, p, sectionEnd);
        seq.push(d);
      }
      sequences.push([identifier, seq]);
      pos = sectionEnd;
    } else {
      throw new Error(`unknown OP_MSG section kind ${String(kind)}`);
    }
  }
  if (!body) throw new Error("OP_MSG without a body section");
  // A document sequence is the body's array field of that name, sent outside the body.
  for (const [identifier, seq] of sequences) body[identifier] = [...(Array.isArray(body[identifier]) ? (body[identifier] as unknown[]) : []), ...seq];
  return { body, moreToCome: (flags & MSG_MORE_TO_COME) !== 0 };
}

function parseOpQuery(message: Buffer): { ns: string; query: Doc } {
  const nsStart = HEADER_SIZE + 4; // after flags
  const nul = message.indexOf(0, nsStart);
  if (nul < 0) throw new Error("OP_QUERY without a collection name");
  const ns = message.toString("utf8", nsStart, nul);
  const [query] = readDoc(message, nul + 1 + 8, message.length); // after skip and numberToReturn
  return { ns, query };
}

function opMsgBody(reply: Doc): Buffer {
  const prefix = Buffer.alloc(5); // flagBits 0, then section kind 0
  return Buffer.concat([prefix, BSON.serialize(reply)]);
}

function opReplyBody(reply: Doc): Buffer {
  const prefix = Buffer.alloc(20); // responseFlags, cursorID (int64), startingFrom: all 0
  prefix.writeInt32LE(1, 16); // numberReturned
  return Buffer.concat([prefix, BSON.serialize(reply)]);
}

/**
 * Start a MongoDB stand-in on a free loopback port. With `users`, every command but the
 * handshake, SCRAM, ping and buildInfo needs a connection authenticated as one of them. With
 * `tls`, it accepts only TLS (1.2 or later) connections, presenting that certificate; clients
 * need `tls: true` (the url does not say so) and a CA that trusts it.
 */
export async function startMongoStandIn(opts: { users?: MongoUser[]; tls?: MongoTls } = {}): Promise<RunningMongo> {
  for (const u of opts.users ?? []) declareSecret(u.password);
  const standIn = new MongoStandIn(opts.users, opts.tls);
  const port = await startOnFreePort((p) => standIn.listen(p), /EADDRINUSE/, async () => {});
  let closed = false;
  return {
    port,
    url: `mongodb://127.0.0.1:${port}`,
    collection: (db, name) => standIn.collection(db, name),
    commands: (name) => standIn.commands(name),
    stop: () => standIn.stop(),
    async start() {
      if (closed) throw new Error("the MongoDB stand-in was closed");
      await standIn.listen(port);
    },
    async close() {
      closed = true;
      await standIn.stop();
    },
  };
}
