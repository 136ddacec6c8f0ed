/**
 * The Worker's argon2id (WebAssembly) and Node's (native) read each other's PHC strings, and the
 * JavaScript one's: a password set through any runtime verifies through the others. The Worker
 * itself runs it in tests/edge (workerd).
 */
import { describe, expect, it } from "vitest";
import { createArgon2Hasher } from "../../server/auth/argon2.js";
import { createPortableArgon2Hasher } from "../../server/auth/argon2-portable.js";
import { createWasmArgon2Hasher } from "../../server/auth/argon2-wasm.js";
import argon2Module from "../../server/auth/argon2-wasm-module.js";

const wasm = createWasmArgon2Hasher(argon2Module);
const native = createArgon2Hasher();
const portable = createPortableArgon2Hasher();
const password = "a password for every runtime";

describe("argon2id in WebAssembly", () => {
  it("writes the PHC string of the deployment's parameters, which native Node verifies, and the reverse", async () => {
    const made = await wasm.hash(password);
    expect(made).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await native.verify(made, password)).toBe(true);
    expect(await native.verify(made, "not the password")).toBe(false);
    const fromNode = await native.hash(password);
    expect(await wasm.verify(fromNode, password)).toBe(true);
    expect(await wasm.verify(fromNode, "not the password")).toBe(false);
    // The JavaScript hasher's strings too (accounts made through the Worker before).
    expect(await wasm.verify(await portable.hash(password), password)).toBe(true);
  });

  it("refuses what is not an argon2id PHC string of bounded cost", async () => {
    const made = await wasm.hash(password);
    expect(await wasm.verify("not a hash", password)).toBe(false);
    expect(await wasm.verify(made.replace("argon2id", "argon2i"), password)).toBe(false);
  });
});
