/**
 * The encryption of stored secrets (ENCRYPTION_KEY): AES-GCM bound to its row, keys rotated like
 * the JWT's, and production refusing to start without a key.
 */
import { describe, expect, it } from "vitest";
import { DecryptionError, Encryption } from "../../server/auth/encryption.js";
import { ConfigError, parseConfig, toAppConfig } from "../../server/config.js";
import { testEncryptionKey, testSecret } from "../helpers/app.js";

const keyA = Buffer.alloc(32, 1).toString("base64");
const keyB = Buffer.alloc(32, 2).toString("base64");
const plain = new TextEncoder().encode("a TOTP key, twenty b");

const encryptionOf = (env: Record<string, string>) =>
  new Encryption(toAppConfig(parseConfig({ NODE_ENV: "test", ...env }), testSecret).encryption, testSecret);

describe("stored-secret encryption", () => {
  it("round-trips under its context only, and a value changed by one character does not decrypt", async () => {
    const encryption = encryptionOf({ ENCRYPTION_KEY: keyA, ENCRYPTION_KEY_ID: "a" });
    const sealed = await encryption.encrypt(plain, "totp\u0000tenant\u0000user");
    expect(sealed).toMatch(/^v1\.a\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(await encryption.decrypt(sealed, "totp\u0000tenant\u0000user")).toEqual(plain);
    // Copied to another member's row, it does not decrypt.
    await expect(encryption.decrypt(sealed, "totp\u0000tenant\u0000other")).rejects.toThrow(DecryptionError);
    const last = sealed.at(-2) === "A" ? "B" : "A";
    await expect(
      encryption.decrypt(`${sealed.slice(0, -2)}${last}${sealed.at(-1)}`, "totp\u0000tenant\u0000user"),
    ).rejects.toThrow(DecryptionError);
    // The same plaintext twice: two ciphertexts (a fresh IV each time).
    expect(await encryption.encrypt(plain, "x")).not.toBe(await encryption.encrypt(plain, "x"));
  });

  it("rotates: a previous key still decrypts and asks for a rewrite; a key no longer listed does not", async () => {
    const before = encryptionOf({ ENCRYPTION_KEY: keyA, ENCRYPTION_KEY_ID: "a" });
    const sealed = await before.encrypt(plain, "row");
    const after = encryptionOf({ ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_ID: "b", ENCRYPTION_PREVIOUS_KEYS: `a:${keyA}` });
    expect(await after.decrypt(sealed, "row")).toEqual(plain);
    expect(after.needsRotation(sealed)).toBe(true);
    expect(after.needsRotation(await after.encrypt(plain, "row"))).toBe(false);
    const forgotten = encryptionOf({ ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_ID: "b" });
    await expect(forgotten.decrypt(sealed, "row")).rejects.toThrow(/no encryption key "a"/);
  });

  it("is required in production, and must be 32 bytes of base64", () => {
    const production = (env: Record<string, string>) =>
      toAppConfig(parseConfig({ NODE_ENV: "production", ...env }), testSecret);
    expect(() => production({})).toThrow(ConfigError);
    expect(() => production({})).toThrow(/ENCRYPTION_KEY must be set in production/);
    expect(() => production({ ENCRYPTION_KEY: Buffer.alloc(16).toString("base64") })).toThrow(/32 random bytes/);
    expect(() => production({ ENCRYPTION_KEY: "not base64 at all!" })).toThrow(/32 random bytes/);
    expect(() => production({ ENCRYPTION_KEY: testEncryptionKey, ENCRYPTION_PREVIOUS_KEYS: "old:c2hvcnQ=" })).toThrow(
      /ENCRYPTION_PREVIOUS_KEYS \("old"\)/,
    );
    expect(production({ ENCRYPTION_KEY: testEncryptionKey }).encryption.current.key).toHaveLength(32);
  });
});
