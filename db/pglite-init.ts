/**
 * Run as a child process by `prepareDataDir` (db/pglite.ts): creates a PGlite data directory
 * (initdb) and migrates it, then exits — taking the memory initdb grew with it.
 *   argv[2]: the data directory
 */
import { migratePgliteDb } from "./migrate.js";
import { connectPglite } from "./pglite.js";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: pglite-init <data directory>");
const database = await connectPglite({ dataDir });
await migratePgliteDb(database.db);
await database.close();
