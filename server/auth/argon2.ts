import { hash, verify } from "@node-rs/argon2";
import type { PasswordHasher } from "../deps.js";

/** OWASP's floor for argon2id: 19 MiB, 2 iterations, 1 lane. */
export const argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export type Argon2Params = typeof argon2Params;

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
