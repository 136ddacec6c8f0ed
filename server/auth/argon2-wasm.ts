import Argon2, { Argon2Type, Argon2Version } from "@phi-ag/argon2";
import type { PasswordHasher } from "../deps.js";
import { parsePhc } from "./argon2-portable.js";
import { type Argon2Params, argon2Params } from "./params.js";

/**
 * argon2id in WebAssembly (@phi-ag/argon2, the reference C code with SIMD), for the Worker: workerd
 * refuses to compile WebAssembly from bytes at run time, so the module arrives compiled, imported
 * as a module (`argon2-wasm-module.ts`). About ten times faster there than the JavaScript one
 * (BENCHMARKS.md), and it writes and reads the same PHC strings as the native hasher on Node.
 * A hash runs synchronously: the isolate does nothing else for its ~30 ms.
 */
export function createWasmArgon2Hasher(module: WebAssembly.Module, params: Partial<Argon2Params> = {}): PasswordHasher {
  const { memoryCost, timeCost, parallelism } = { ...argon2Params, ...params };
  let argon2: Promise<Argon2> | undefined;
  const ready = () => {
    argon2 ??= WebAssembly.instantiate(module).then((instance) => new Argon2(instance));
    return argon2;
  };
  return {
    async hash(password) {
      const { encoded } = (await ready()).hash(password, {
        salt: crypto.getRandomValues(new Uint8Array(16)),
        hashLength: 32,
        timeCost,
        memoryCost,
        parallelism,
        type: Argon2Type.Argon2id,
        version: Argon2Version.Version13,
      });
      return encoded;
    },
    async verify(stored, password) {
      // Refuse parameters no hash of ours has, rather than let a stored value choose the cost.
      if (!parsePhc(stored)) return false;
      return (await ready()).tryVerify(stored, password, Argon2Type.Argon2id).success;
    },
  };
}
