// The MongoDB stand-in in a process of its own, for the bench: it can then be pinned with the
// load generator without pinning the bench runner. argv[2]: JSON {db: {collection: [docs]}}.
// Prints the port on stdout once listening; stops on SIGTERM.
import { startMongoStandIn } from "../test/helpers/mongo-server.js";

const seed = JSON.parse(process.argv[2] ?? "{}") as Record<string, Record<string, Record<string, unknown>[]>>;
const mongo = await startMongoStandIn();
for (const [db, collections] of Object.entries(seed)) for (const [name, docs] of Object.entries(collections)) mongo.collection(db, name).push(...docs);
process.stdout.write(`${mongo.port}\n`);
process.once("SIGTERM", () => void mongo.close().then(() => process.exit(0)));
