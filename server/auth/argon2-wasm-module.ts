/**
 * The compiled argon2 WebAssembly module. On Node it is compiled from the package's file; the
 * Worker bundle replaces this module with an import of `argon2.wasm` itself, which workerd
 * compiles at upload (server/build-worker.ts), since it will not compile bytes at run time.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const path = createRequire(import.meta.url).resolve("@phi-ag/argon2/argon2.wasm");
export default new WebAssembly.Module(await readFile(path));
