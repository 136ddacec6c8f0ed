/**
 * A bench Worker (bench/p14-edge-hash.ts builds it): one argon2id verify per request, in
 * WebAssembly (what the Worker uses) or in JavaScript (what it used), and a request that does
 * nothing, whose round trip is subtracted. workerd freezes clocks inside a request, so the time
 * is read outside it.
 */
import { createPortableArgon2Hasher } from "../server/auth/argon2-portable.js";
import { createWasmArgon2Hasher } from "../server/auth/argon2-wasm.js";
import argon2Module from "../server/auth/argon2-wasm-module.js";

const hashers = { wasm: createWasmArgon2Hasher(argon2Module), js: createPortableArgon2Hasher() };
const password = "a bench password, long enough";
let stored: Promise<string> | undefined;

export default {
  async fetch(request: Request): Promise<Response> {
    const kind = new URL(request.url).pathname.slice(1);
    if (kind === "noop") return new Response("ok");
    const hasher = hashers[kind as keyof typeof hashers];
    if (!hasher) return new Response("unknown", { status: 404 });
    stored ??= hashers.wasm.hash(password);
    const ok = await hasher.verify(await stored, password);
    return new Response(ok ? "ok" : "wrong", { status: ok ? 200 : 500 });
  },
};
