import { argon2idAsync } from "@noble/hashes/argon2.js";
import type { PasswordHasher } from "../deps.js";
import { type Argon2Params, argon2Params } from "./params.js";

/**
 * argon2id in plain JavaScript (@noble/hashes), for runtimes where the native binding cannot load
 * (workerd). It writes and reads the same PHC strings as the native hasher on Node, so a password
 * set through either verifies through the other. It is ~50x slower than native (see README), and
 * yields to the event loop while it works so one login does not stall the isolate.
 */
export function createPortableArgon2Hasher(params: Partial<Argon2Params> = {}): PasswordHasher {
  const { memoryCost, timeCost, parallelism } = { ...argon2Params, ...params };
  return {
    async hash(password) {
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const key = await derive(password, salt, { m: memoryCost, t: timeCost, p: parallelism }, 32);
      return `$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$${toB64(salt)}$${toB64(key)}`;
    },
    async verify(stored, password) {
      const phc = parsePhc(stored);
      if (!phc) return false;
      const key = await derive(password, phc.salt, phc.params, phc.hash.length);
      return constantTimeEqual(key, phc.hash);
    },
  };
}

const derive = (password: string, salt: Uint8Array, params: { m: number; t: number; p: number }, dkLen: number) =>
  argon2idAsync(new TextEncoder().encode(password), salt, { ...params, dkLen, version: 0x13, asyncTick: 10 });

const phcPattern = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export function parsePhc(stored: string) {
  const match = phcPattern.exec(stored);
  if (!match) return null;
  const [, m, t, p, salt, hash] = match;
  const params = { m: Number(m), t: Number(t), p: Number(p) };
  // Refuse parameters no hash of ours has, rather than let a stored value choose the cost.
  if (params.m > 1_048_576 || params.t > 16 || params.p > 16 || !salt || !hash) return null;
  return { params, salt: fromB64(salt), hash: fromB64(hash) };
}

/** PHC strings use standard base64 without padding. */
function toB64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
}

function fromB64(text: string): Uint8Array {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
