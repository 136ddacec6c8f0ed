/**
 * A software WebAuthn authenticator for tests: ES256 keys from node:crypto, "none" attestation,
 * a signature counter the test controls. It answers the options the server makes exactly as a
 * browser's authenticator would (client data, authenticator data, DER signatures), so the
 * server's real verification (@simplewebauthn/server) runs on them.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isoCBOR } from "@simplewebauthn/server/helpers";

interface Credential {
  id: Buffer;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest();
const uint32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
};

interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
}

interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: { id: string }[];
}

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];

  /** `origin`: where the "browser" runs (APP_URL's origin for the server to accept it). */
  constructor(readonly origin: string) {}

  /** A new credential for `navigator.credentials.create(options)`. */
  register(options: CreationOptions) {
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x ?? "", "base64url")],
      [-3, Buffer.from(jwk.y ?? "", "base64url")],
    ]);
    const id = randomBytes(16);
    const credential = { id, privateKey, rpId, userHandle: options.user.id, counter: 0 };
    this.credentials.push(credential);
    const attested = Buffer.concat([Buffer.alloc(16), Buffer.from([0, id.length]), id, isoCBOR.encode(cose)]);
    // Flags: user present, user verified, attested credential data.
    const authData = Buffer.concat([sha256(rpId), Buffer.from([0x45]), uint32(0), attested]);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", authData],
      ]) as never,
    );
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: "public-key" as const,
      response: {
        clientDataJSON: this.#clientData("webauthn.create", options.challenge),
        attestationObject: b64u(attestationObject),
        transports: ["internal" as const],
      },
      clientExtensionResults: {},
    };
  }

  /**
   * A signature for `navigator.credentials.get(options)` with `credential` (default: the first
   * one allowed, or the first made). `counter` sets the value the authenticator reports (a clone
   * reports an old one); by default it counts up.
   */
  authenticate(options: RequestOptions, use: { credential?: Credential; counter?: number; verified?: boolean } = {}) {
    const allowed = options.allowCredentials?.map((c) => c.id);
    const credential = use.credential ?? this.credentials.find((c) => !allowed?.length || allowed.includes(b64u(c.id)));
    if (!credential) throw new Error("no credential for these options");
    credential.counter = use.counter ?? credential.counter + 1;
    const flags = use.verified === false ? 0x01 : 0x05;
    const authenticatorData = Buffer.concat([
      sha256(options.rpId ?? credential.rpId),
      Buffer.from([flags]),
      uint32(credential.counter),
    ]);
    const clientDataJSON = this.#clientData("webauthn.get", options.challenge);
    const signature = sign(
      "sha256",
      Buffer.concat([authenticatorData, sha256(Buffer.from(clientDataJSON, "base64url"))]),
      credential.privateKey,
    );
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: "public-key" as const,
      response: {
        clientDataJSON,
        authenticatorData: b64u(authenticatorData),
        signature: b64u(signature),
        userHandle: credential.userHandle,
      },
      clientExtensionResults: {},
    };
  }

  #clientData(type: string, challenge: string, origin = this.origin) {
    return b64u(Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })));
  }
}
