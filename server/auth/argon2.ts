import { hash, verify } from "@node-rs/argon2";
import type { PasswordHasher } from "../deps.js";

import { type Argon2Params, argon2Params } from "./params.js";

export { argon2Params };

/**
 * argon2id on Node through the native `@node-rs/argon2`, whose async calls run on libuv's thread
 * pool, off the event loop. (Its `Algorithm` const enum is undefined at runtime under
 * `verbatimModuleSyntax`; argon2id is the default, so it is not named.)
 */
export function createArgon2Hasher(params: Partial<Argon2Params> = {}): PasswordHasher {
  const options = { ...argon2Params, ...params };
  return {
    hash: (password) => hash(password, options),
    verify: async (stored, password) => {
      try {
        return await verify(stored, password);
      } catch {
        return false;
      }
    },
  };
}
