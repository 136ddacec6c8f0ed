/**
 * A bounded spool in a temporary file (Node only): what an engine with one connection reads in
 * full before a client takes it at its own pace (decision 020). The file is unlinked as soon as it
 * is open, so nothing outlives the process, whatever ends it; only its owner can read it.
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Spool, SpoolFull } from "./types.js";

const chunkBytes = 64 * 1024;

/** Opens a spool of at most `maxBytes` in the system's temporary directory. */
export async function openFileSpool(maxBytes: number): Promise<Spool> {
  const dir = await mkdtemp(join(tmpdir(), "bulkhead-spool-"));
  const path = join(dir, "spool");
  const file = await open(path, "w+", 0o600);
  await rm(dir, { recursive: true, force: true });
  let size = 0;
  return {
    async write(text) {
      const bytes = Buffer.from(text, "utf8");
      if (size + bytes.length > maxBytes) throw new SpoolFull(maxBytes);
      await file.write(bytes, 0, bytes.length, size);
      size += bytes.length;
    },
    async *chunks() {
      for (let at = 0; at < size; ) {
        const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - at));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, at);
        if (bytesRead === 0) return;
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    },
    close: () => file.close(),
  };
}
