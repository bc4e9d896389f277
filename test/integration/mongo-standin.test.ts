// The MongoDB stand-in (test/helpers/mongo-server.ts) through the real `mongodb` driver.
//
// No MongoDB server can run on this machine (Debian has no package for it, and nothing may be
// downloaded), so the Mongo backends are tested against a wire-protocol stand-in: a TCP (or
// TLS) server speaking OP_MSG/OP_QUERY and SCRAM-SHA-256 over in-memory data, with mingo
// evaluating queries. These tests pin down that the unmodified driver takes it for a standalone
// mongod.
//
// What the stand-in does not implement: replica sets, sessions and transactions (lsid and
// txnNumber are ignored), read/write concerns, OP_COMPRESSED, client certificates, streaming
// (exhaust) monitoring, SCRAM-SHA-1/x509/LDAP and other mechanisms, user management and roles (any
// authenticated connection may do anything), multikey unique indexes, collation, text/geo
// indexes and hints, pipeline-style updates, $out/$merge, change streams, maxTimeMS, and exact
// numeric types (integral doubles come back as int32).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BSON, MongoClient, MongoServerError, MongoServerSelectionError, type Collection, type Document } from "mongodb";
import { startMongoStandIn, type RunningMongo } from "../helpers/mongo-server.js";
import { writeKeyPair } from "../helpers/regauth.js";

/** Asserts that `p` rejects with a server error of this code; returns the error. */
async function rejectsWithCode(p: Promise<unknown>, code: number): Promise<MongoServerError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof MongoServerError, `expected a MongoServerError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe("MongoDB stand-in, no authentication", () => {
  let mongo: RunningMongo;
  let client: MongoClient;
  let people: Collection<Document>;

  before(async () => {
    mongo = await startMongoStandIn();
    client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 1500, heartbeatFrequencyMS: 500 });
    await client.connect();
    people = client.db("app").collection("people");
  });
  after(async () => {
    await client?.close();
    await mongo?.close();
  });

  test("ping and buildInfo", async () => {
    assert.equal((await client.db("admin").command({ ping: 1 }))["ok"], 1);
    const info = await client.db("admin").command({ buildInfo: 1 });
    assert.equal(info["version"], "7.0.0");
  });

  test("insertOne, insertMany, findOne with a filter and a projection", async () => {
    const one = await people.insertOne({ name: "alice", age: 31, tags: ["a"] });
    assert.ok(one.insertedId instanceof BSON.ObjectId);
    const many = await people.insertMany([
      { name: "bob", age: 25 },
      { name: "carol", age: 40, nested: { when: new Date(0) } },
    ]);
    assert.equal(many.insertedCount, 2);

    const carol = await people.findOne({ age: { $gt: 30 }, name: { $ne: "alice" } });
    assert.equal(carol?.["name"], "carol");
    assert.deepEqual(carol?.["nested"], { when: new Date(0) });
    assert.deepEqual(await people.findOne({ _id: one.insertedId }, { projection: { _id: 0, name: 1 } }), { name: "alice" });
    // Fields come back in the document's order, whatever the projection's.
    const projected = await people.findOne({ name: "alice" }, { projection: { tags: 1, age: 1 } });
    assert.deepEqual(Object.keys(projected ?? {}), ["_id", "age", "tags"]);
    assert.equal(await people.findOne({ name: "nobody" }), null);
    assert.equal(await people.countDocuments({ age: { $gte: 25 } }), 3);
  });

  test("the store is reachable directly, and holds copies the driver does not alias", async () => {
    const seeded = mongo.collection("app", "seeded");
    seeded.push({ _id: 1, label: "from the test" });
    const viaDriver = client.db("app").collection<{ _id: number; label?: string }>("seeded");
    const found = await viaDriver.findOne({ _id: 1 });
    assert.deepEqual(found, { _id: 1, label: "from the test" });
    found!.label = "changed by the caller";
    assert.equal(seeded[0]!["label"], "from the test");
    await viaDriver.insertOne({ _id: 2 });
    assert.deepEqual(
      mongo.collection("app", "seeded").map((d) => d["_id"]),
      [1, 2],
    );
  });

  test("find().sort().toArray() over several batches uses getMore", async () => {
    const numbers = client.db("app").collection("numbers");
    await numbers.insertMany(Array.from({ length: 250 }, (_, i) => ({ i, even: i % 2 === 0 })));
    const getMoresBefore = mongo.commands("getMore");
    const all = await numbers.find({}, { batchSize: 100 }).sort({ i: -1 }).toArray();
    assert.equal(all.length, 250);
    assert.deepEqual(
      all.map((d) => d["i"]),
      Array.from({ length: 250 }, (_, i) => 249 - i),
    );
    assert.equal(mongo.commands("getMore") - getMoresBefore, 2);

    const page = await numbers.find({ even: true }).sort({ i: 1 }).skip(10).limit(3).toArray();
    assert.deepEqual(
      page.map((d) => d["i"]),
      [20, 22, 24],
    );
    // An abandoned cursor is killed by the driver, which the server answers.
    const cursor = numbers.find({}, { batchSize: 10 });
    await cursor.next();
    await cursor.close();
    assert.equal(mongo.commands("killCursors"), 1);
  });

  test("updateOne ($set, $unset), replaceOne, upsert, deleteOne", async () => {
    const things = client.db("app").collection("things");
    await things.insertMany([
      { name: "x", colour: "red", size: 1 },
      { name: "y", colour: "blue", size: 2 },
    ]);
    const set = await things.updateOne({ name: "x" }, { $set: { colour: "green" }, $unset: { size: "" } });
    assert.equal(set.matchedCount, 1);
    assert.equal(set.modifiedCount, 1);
    assert.deepEqual(await things.findOne({ name: "x" }, { projection: { _id: 0 } }), { name: "x", colour: "green" });

    const same = await things.updateOne({ name: "x" }, { $set: { colour: "green" } });
    assert.equal(same.matchedCount, 1);
    assert.equal(same.modifiedCount, 0);

    const replaced = await things.replaceOne({ name: "y" }, { name: "y", replaced: true });
    assert.equal(replaced.modifiedCount, 1);
    assert.deepEqual(await things.findOne({ name: "y" }, { projection: { _id: 0 } }), { name: "y", replaced: true });

    const upsert = await things.updateOne({ name: "z" }, { $set: { colour: "black" } }, { upsert: true });
    assert.equal(upsert.upsertedCount, 1);
    assert.ok(upsert.upsertedId instanceof BSON.ObjectId);
    assert.deepEqual(await things.findOne({ name: "z" }, { projection: { _id: 0 } }), { name: "z", colour: "black" });

    const found = await things.findOneAndUpdate({ name: "z" }, { $inc: { n: 2 } }, { returnDocument: "after", projection: { _id: 0 } });
    assert.deepEqual(found, { name: "z", colour: "black", n: 2 });

    const many = await things.updateMany({}, { $set: { seen: true } });
    assert.equal(many.modifiedCount, 3);

    assert.equal((await things.deleteOne({ name: "x" })).deletedCount, 1);
    assert.equal((await things.deleteOne({ name: "x" })).deletedCount, 0);
    assert.equal(await things.countDocuments(), 2);
    assert.equal((await things.deleteMany({})).deletedCount, 2);
  });

  test("a unique index refuses a duplicate with E11000", async () => {
    const users = client.db("app").collection("users");
    assert.equal(await users.createIndex({ username: 1 }, { unique: true }), "username_1");
    await users.insertOne({ username: "alice" });
    const e = await rejectsWithCode(users.insertOne({ username: "alice" }), 11000);
    assert.match(e.message, /E11000 duplicate key error/);
    // ... and an update that would make a duplicate.
    await users.insertOne({ username: "bob" });
    await rejectsWithCode(users.updateOne({ username: "bob" }, { $set: { username: "alice" } }), 11000);
    assert.equal(await users.countDocuments(), 2);

    const names = (await users.listIndexes().toArray()).map((i) => [i["name"], i["unique"] ?? false]);
    assert.deepEqual(names, [
      ["_id_", false],
      ["username_1", true],
    ]);
    // An index over existing duplicates cannot be built.
    const dupes = client.db("app").collection("dupes");
    await dupes.insertMany([{ k: 1 }, { k: 1 }]);
    await rejectsWithCode(dupes.createIndex({ k: 1 }, { unique: true }), 11000);
    // _id is always unique.
    await rejectsWithCode(dupes.insertOne({ _id: (await dupes.findOne({}))!["_id"] }), 11000);
  });

  test("an unknown command is CommandNotFound", async () => {
    const e = await rejectsWithCode(client.db("admin").command({ noSuchThing: 1 }), 59);
    assert.equal(e.codeName, "CommandNotFound");
  });

  test("framing: one message split into bytes, two in one chunk, an oversized one", async () => {
    const hello = (requestId: number): Buffer => {
      const body = BSON.serialize({ hello: 1, $db: "admin" });
      const header = Buffer.alloc(21);
      header.writeInt32LE(21 + body.length, 0);
      header.writeInt32LE(requestId, 4);
      header.writeInt32LE(2013, 12);
      return Buffer.concat([header, body]);
    };
    const socket = connect({ host: "127.0.0.1", port: mongo.port });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const replies: number[] = [];
    let buffered = Buffer.alloc(0);
    const got = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (replies.length >= n ? resolve() : setTimeout(check, 5));
        check();
      });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        replies.push(buffered.readInt32LE(8)); // responseTo
        buffered = buffered.subarray(buffered.readInt32LE(0));
      }
    });
    for (const byte of hello(7)) {
      socket.write(Buffer.from([byte]));
    }
    await got(1);
    socket.write(Buffer.concat([hello(8), hello(9)]));
    await got(3);
    assert.deepEqual(replies, [7, 8, 9]);

    const closed = new Promise((resolve) => socket.once("close", resolve));
    const huge = Buffer.alloc(16);
    huge.writeInt32LE(49 * 1024 * 1024, 0);
    socket.write(huge);
    await closed;
  });
});

describe("MongoDB stand-in with SCRAM-SHA-256 users", () => {
  let mongo: RunningMongo;
  const userUrl = (password: string) => mongo.url.replace("mongodb://", `mongodb://alice:${password}@`) + "/?authSource=admin";

  before(async () => {
    mongo = await startMongoStandIn({ users: [{ username: "alice", password: "s3cret" }] });
  });
  after(async () => {
    await mongo?.close();
  });

  test("the right password authenticates, and the connection may then do anything", async () => {
    const client = new MongoClient(userUrl("s3cret"), { serverSelectionTimeoutMS: 1500 });
    try {
      await client.connect();
      const c = client.db("app").collection("c");
      await c.insertOne({ v: 1 });
      assert.deepEqual(await c.findOne({}, { projection: { _id: 0 } }), { v: 1 });
      assert.ok(mongo.commands("saslContinue") >= 1);
    } finally {
      await client.close();
    }
  });

  test("the same through the auth option rather than the URL", async () => {
    const client = new MongoClient(mongo.url, { auth: { username: "alice", password: "s3cret" }, authSource: "admin", serverSelectionTimeoutMS: 1500 });
    try {
      assert.equal(await client.db("app").collection("c").countDocuments(), 1);
    } finally {
      await client.close();
    }
  });

  test("a wrong password fails with AuthenticationFailed (18)", async () => {
    const client = new MongoClient(userUrl("wrong"), { serverSelectionTimeoutMS: 1500 });
    try {
      const e = await rejectsWithCode(client.connect(), 18);
      assert.equal(e.codeName, "AuthenticationFailed");
    } finally {
      await client.close();
    }
  });

  test("an unknown user fails with AuthenticationFailed (18)", async () => {
    const client = new MongoClient(mongo.url.replace("mongodb://", "mongodb://mallory:s3cret@"), { serverSelectionTimeoutMS: 1500 });
    try {
      // The driver authenticates each connection as it opens it, so even ping fails.
      await rejectsWithCode(client.db("app").command({ ping: 1 }), 18);
    } finally {
      await client.close();
    }
  });

  test("without credentials: ping answers, everything else is Unauthorized (13)", async () => {
    const client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 1500 });
    try {
      await client.db("admin").command({ ping: 1 });
      const e = await rejectsWithCode(client.db("app").collection("c").findOne({}), 13);
      assert.equal(e.codeName, "Unauthorized");
    } finally {
      await client.close();
    }
  });

  test("stop() then start() on the same port: the same client recovers, the data is kept", async () => {
    const client = new MongoClient(userUrl("s3cret"), { serverSelectionTimeoutMS: 1000, heartbeatFrequencyMS: 500 });
    try {
      const c = client.db("app").collection("restart");
      await c.insertOne({ kept: true });
      await mongo.stop();
      await assert.rejects(c.findOne({}));
      await mongo.start();
      assert.deepEqual(await c.findOne({}, { projection: { _id: 0 } }), { kept: true });
    } finally {
      await client.close();
    }
  });
});

describe("MongoDB stand-in over TLS", () => {
  let dir: string;
  let mongo: RunningMongo;
  let ca: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mongo-standin-tls-"));
    const files = await writeKeyPair(dir, "mongo", "ec");
    ca = await readFile(files.cert, "utf8");
    mongo = await startMongoStandIn({ tls: files });
  });
  after(async () => {
    await mongo?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Runs `f` with a client, closing it whatever happens. */
  async function withClient<T>(url: string, options: ConstructorParameters<typeof MongoClient>[1], f: (c: MongoClient) => Promise<T>): Promise<T> {
    const client = new MongoClient(url, options);
    try {
      return await f(client);
    } finally {
      await client.close();
    }
  }

  test("a client trusting the certificate pings, reads and writes", async () => {
    mongo.collection("app", "seeded").push({ _id: 1, over: "tls" });
    await withClient(mongo.url, { tls: true, ca, serverSelectionTimeoutMS: 2000 }, async (client) => {
      assert.equal((await client.db("admin").command({ ping: 1 }))["ok"], 1);
      const seeded = client.db("app").collection<{ _id: number; over?: string }>("seeded");
      assert.deepEqual(await seeded.findOne({ _id: 1 }), { _id: 1, over: "tls" });
      await seeded.insertMany(Array.from({ length: 150 }, (_, i) => ({ _id: i + 2 })));
      // Enough for a getMore, so more than one round trip goes over the TLS stream.
      assert.equal((await seeded.find({}, { batchSize: 50 }).toArray()).length, 151);
    });
  });

  test("the same by name (localhost is in the certificate too) and with tls=true in the url", async () => {
    const url = mongo.url.replace("127.0.0.1", "localhost") + "/?tls=true";
    await withClient(url, { ca, serverSelectionTimeoutMS: 2000 }, async (client) => {
      assert.equal((await client.db("admin").command({ ping: 1 }))["ok"], 1);
    });
  });

  test("without the CA the self-signed certificate is refused", async () => {
    await withClient(mongo.url, { tls: true, serverSelectionTimeoutMS: 2000 }, async (client) => {
      await assert.rejects(client.db("admin").command({ ping: 1 }), (e: unknown) => {
        assert.ok(e instanceof MongoServerSelectionError, String(e));
        assert.match(e.message, /self.signed|certificate/i);
        return true;
      });
    });
  });

  test("a plain (non-TLS) client cannot talk to it", async () => {
    const pings = mongo.commands("ping");
    await withClient(mongo.url, { serverSelectionTimeoutMS: 2000 }, async (client) => {
      await assert.rejects(client.db("admin").command({ ping: 1 }), MongoServerSelectionError);
    });
    assert.equal(mongo.commands("ping"), pings);
  });

  test("stop() ends TLS connections and ones still in their handshake; start() serves TLS again", async () => {
    await withClient(mongo.url, { tls: true, ca, serverSelectionTimeoutMS: 1000, heartbeatFrequencyMS: 500 }, async (client) => {
      const c = client.db("app").collection("restart");
      await c.insertOne({ kept: true });
      // A TCP connection that never starts its handshake must not hold stop() up.
      const idle = connect({ host: "127.0.0.1", port: mongo.port });
      await new Promise((resolve, reject) => idle.once("connect", resolve).once("error", reject));
      const idleClosed = new Promise((resolve) => idle.once("close", resolve));
      idle.on("error", () => {});
      await mongo.stop();
      await idleClosed;
      await assert.rejects(c.findOne({}));
      await mongo.start();
      assert.deepEqual(await c.findOne({}, { projection: { _id: 0 } }), { kept: true });
    });
  });
});
