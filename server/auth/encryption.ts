/**
 * Secrets the server must read back (a TOTP factor's key) are stored AES-256-GCM encrypted
 * through WebCrypto, so Node and the Worker share one implementation, under ENCRYPTION_KEY:
 * `v1.<key id>.<iv>.<ciphertext>` (base64url). The additional data binds a ciphertext to the row
 * it was written for (`purpose`, tenant, user): a secret copied into another row does not decrypt.
 * Keys rotate as the JWT's do: ENCRYPTION_PREVIOUS_KEYS still decrypt, the current key encrypts,
 * and `needsRotation` tells a reader to write a value back under the current key.
 */
import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";

export interface EncryptionKeyConfig {
  kid: string;
  /** 32 bytes of key, or null in development: then derived from the JWT secret (HKDF). */
  key: Uint8Array | null;
}

export interface EncryptionConfig {
  current: EncryptionKeyConfig;
  previous: { kid: string; key: Uint8Array }[];
}

/** Thrown for a value that no configured key decrypts, or that is not one of ours. */
export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptionError";
  }
}

const encoder = new TextEncoder();

export class Encryption {
  readonly #keys: Promise<Map<string, CryptoKey>>;
  readonly #currentKid: string;

  constructor(config: EncryptionConfig, jwtSecret: string) {
    this.#currentKid = config.current.kid;
    this.#keys = loadKeys(config, jwtSecret);
    // A key that fails to import fails every use; never an unhandled rejection meanwhile.
    this.#keys.catch(() => undefined);
  }

  /** Encrypts `plaintext` for the row `context` names (purpose, tenant, user). */
  async encrypt(plaintext: Uint8Array, context: string): Promise<string> {
    const key = (await this.#keys).get(this.#currentKid) as CryptoKey;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
      key,
      new Uint8Array(plaintext),
    );
    return [
      "v1",
      this.#currentKid,
      encodeBase64urlNoPadding(iv),
      encodeBase64urlNoPadding(new Uint8Array(sealed)),
    ].join(".");
  }

  /** Decrypts a value `encrypt` made for the same `context`. */
  async decrypt(value: string, context: string): Promise<Uint8Array> {
    const [version, kid, iv, sealed, ...rest] = value.split(".");
    if (version !== "v1" || !kid || !iv || !sealed || rest.length > 0) {
      throw new DecryptionError("not an encrypted value");
    }
    const key = (await this.#keys).get(kid);
    if (!key) throw new DecryptionError(`no encryption key "${kid}" is configured (ENCRYPTION_PREVIOUS_KEYS)`);
    try {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: new Uint8Array(decodeBase64urlIgnorePadding(iv)),
          additionalData: encoder.encode(context),
        },
        key,
        new Uint8Array(decodeBase64urlIgnorePadding(sealed)),
      );
      return new Uint8Array(plain);
    } catch {
      throw new DecryptionError("the value does not decrypt under its key");
    }
  }

  /** True when `value` was encrypted under a key other than the current one. */
  needsRotation(value: string): boolean {
    return value.split(".")[1] !== this.#currentKid;
  }
}

async function loadKeys(config: EncryptionConfig, jwtSecret: string): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  const current = config.current.key ?? (await developmentKey(jwtSecret));
  for (const { kid, key } of [...config.previous, { kid: config.current.kid, key: current }]) {
    keys.set(kid, await crypto.subtle.importKey("raw", new Uint8Array(key), "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  return keys;
}

/** Development only (production refuses to start without ENCRYPTION_KEY): a key from the JWT secret. */
async function developmentKey(jwtSecret: string): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(jwtSecret), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: encoder.encode("bulkhead development encryption key"),
    },
    material,
    256,
  );
  return new Uint8Array(bits);
}
