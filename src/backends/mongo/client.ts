import { MongoClient, type Collection, type Document } from "mongodb";
import type { AclDocument } from "../../authz/acl-documents.js";
import type { DbUserRecord } from "../db-users.js";
import type { MongoConfig } from "./section.js";

/** One MongoClient per section, on the collection it names. */
export interface MongoCollection {
  readonly description: string;
  readonly timeoutMs: number;
  collection: Collection<Document>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function openMongo(c: MongoConfig): MongoCollection {
  const client = new MongoClient(c.uri, {
    auth: c.username !== undefined ? { username: c.username, password: c.password } : undefined,
    authSource: c.authSource,
    // Left to the URI unless asked for: mongodb+srv:// turns TLS on by itself.
    tls: c.tls || undefined,
    ca: c.ca,
    serverSelectionTimeoutMS: c.timeoutMs,
    connectTimeoutMS: c.timeoutMs,
    // A server that stops answering on an open connection fails the operation instead of holding
    // the request (timeoutMS, the driver's newer way, is deprecated again in driver 7).
    socketTimeoutMS: c.timeoutMs,
    maxPoolSize: 10,
    appName: "regauth",
  });
  const db = client.db(c.database);
  return {
    description: c.description,
    timeoutMs: c.timeoutMs,
    collection: db.collection(c.collection),
    async ping() {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
}

/**
 * The user document with exactly this username (a string, so never an operator).
 * docker_auth makes username a unique index; where it is not, two documents are an error
 * to fix rather than a coin toss between two passwords.
 */
export async function findMongoUser(m: MongoCollection, user: string): Promise<DbUserRecord | undefined> {
  const docs = await m.collection.find({ username: { $eq: user } }, { limit: 2, projection: { _id: 0, password: 1, labels: 1 }, maxTimeMS: m.timeoutMs }).toArray();
  if (docs.length > 1) throw new Error(`two documents have username ${JSON.stringify(user)}; make username unique (createIndex({username: 1}, {unique: true}))`);
  const d = docs[0];
  return d && { passwordHash: d["password"], labels: d["labels"] ?? null };
}

/** Every ACL document: {seq, match, actions, comment}. */
export async function readMongoAcl(m: MongoCollection): Promise<AclDocument[]> {
  const docs = await m.collection.find({}, { projection: { _id: 0 }, maxTimeMS: m.timeoutMs }).toArray();
  return docs.map((d) => ({ seq: d["seq"], entry: d }));
}
