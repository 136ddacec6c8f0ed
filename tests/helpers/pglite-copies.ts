/**
 * Test copies of a migrated PGlite: global setup migrates one database, dumps it once, and each
 * test file (and P4 of the bench) starts an in-memory copy from the dump in a fraction of a
 * migration's time (BENCHMARKS.md, P4).
 */
import { PGlite } from "@electric-sql/pglite";
import { fromPglite } from "../../db/pglite.js";
import type { Database } from "../../db/types.js";

/**
 * A new in-memory PGlite to migrate and then pass to `dumpForCopies`. Its WAL segments are 1 MB
 * instead of 16 MB: a checkpointed data directory still carries a few segments, and each copy
 * unpacks every byte of the tarball (BENCHMARKS.md, P4: 26 MB -> 15 MB).
 */
export async function connectCopySource(): Promise<Database & { client: PGlite }> {
  const client = await PGlite.create({ initDbStartParams: ["--wal-segsize=1"] });
  return { ...fromPglite(client), client };
}

/**
 * The data directory of `client` as a tarball to start copies from (`openCopy`), made quick to
 * start (BENCHMARKS.md, P4). Copies get 4 MB of shared buffers instead of PGlite's 128 MB:
 * starting PostgreSQL zeroes all of them in fresh WebAssembly memory, which was most of a copy's
 * start (128 MB ~0.7 s, 16 MB ~0.3 s, 4 MB ~0.16 s here), and a test database never holds more
 * than a few MB. The template databases go — `template0` and `template1` (7.5 MB and ~300 files
 * each) only ever serve as sources of `CREATE DATABASE`, which nothing here runs; the app's
 * database is `postgres` — and a checkpoint comes first, so a copy starts without WAL to replay.
 * Closes `client`.
 */
export async function dumpForCopies(client: PGlite): Promise<Uint8Array> {
  // Written to postgresql.auto.conf, inside the dump: read when a copy starts.
  await client.exec("alter system set shared_buffers = '4MB'");
  // One statement each: DROP DATABASE refuses to run inside a multi-statement (implicit) transaction.
  await client.exec(
    "update pg_database set datistemplate = false, datallowconn = false where datname in ('template0', 'template1')",
  );
  await client.exec("drop database template0");
  await client.exec("drop database template1");
  await client.exec("checkpoint");
  const dump = await client.dumpDataDir("none");
  await client.close();
  return new Uint8Array(await dump.arrayBuffer());
}

/**
 * A tarball PGlite can load (`loadDataDir`) that hands over its bytes at once. Node 20's own
 * `Blob.arrayBuffer()` reads a blob in small chunks and joins them: 80-150 ms for a 26 MB data
 * directory here, paid by every copy. Only `size` and `arrayBuffer()` carry the bytes — what
 * PGlite 0.5 reads of a `loadDataDir` (with `type`); `stream()`, `text()` and `slice()` see an
 * empty blob, so this is for PGlite only.
 */
export class Tarball extends Blob {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    super([]);
    this.#bytes = bytes;
  }
  override get size(): number {
    return this.#bytes.byteLength;
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    // A copy: PGlite may keep or change what it is given, and the next copy needs the original.
    return this.#bytes.slice().buffer;
  }
}

/** A new in-memory PGlite started from a `dumpForCopies` tarball. */
export function openCopy(dump: Uint8Array): Promise<PGlite> {
  return PGlite.create({ loadDataDir: new Tarball(dump) });
}
