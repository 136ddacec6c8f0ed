import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import type { AppConfig, SigningKey } from "../config.js";
import type { Clock } from "../deps.js";

const algorithm = "HS256";
/** Tolerated difference between our clock and the signer's, in seconds. */
const clockToleranceSeconds = 5;

export interface AccessClaims {
  userId: string;
  tenantId: string;
  /** The session (refresh-token family) the token was issued with; it dies with the session. */
  sessionId: string;
  jti: string;
}

const claimsSchema = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  typ: z.literal("access"),
  sid: z.uuid(),
  jti: z.string().min(1),
});

/** What a ticket (`signTicket`) may be for. */
export type TicketPurpose = "export" | "passkey-register" | "passkey-login";

/** Raised for any token that must not be accepted; always reported as UNAUTHORIZED. */
export class InvalidTokenError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "InvalidTokenError";
  }
}

/**
 * Signs and verifies access tokens: HS256 only, with `iss`, `aud` and `typ` pinned. The current
 * key signs; it and the previous keys verify, chosen by `kid`, so keys rotate without logging
 * anyone out.
 */
export class TokenService {
  /**
   * Tokens already verified, until they expire. A token is the signed bytes themselves, so a hit
   * proves exactly what a fresh verification would; it saves the HMAC and JSON work on every
   * request after a client's first (about 6% of a `projects.list` request's CPU).
   */
  readonly #verified = new Map<string, { claims: AccessClaims; expiresAt: number; notBefore: number }>();
  /** How often a token was found already verified, and how often it had to be verified. */
  readonly cache = { hits: 0, misses: 0 };
  readonly #keys: Map<string, Uint8Array>;
  readonly #current: SigningKey;
  readonly #encodedCurrent: Uint8Array;

  constructor(
    private readonly config: AppConfig["jwt"],
    private readonly clock: Clock,
  ) {
    const encoder = new TextEncoder();
    this.#current = config.current;
    this.#encodedCurrent = encoder.encode(config.current.secret);
    this.#keys = new Map([
      ...config.previous.map((key) => [key.kid, encoder.encode(key.secret)] as const),
      [config.current.kid, this.#encodedCurrent] as const,
    ]);
  }

  /** Signs an access token; returns it with its expiry. */
  signAccess(claims: {
    userId: string;
    tenantId: string;
    sessionId: string;
  }): Promise<{ token: string; expiresAt: Date }> {
    return this.#sign("access", claims, this.config.accessTokenTtlSeconds);
  }

  async #sign(typ: "access" | TicketPurpose, claims: Omit<AccessClaims, "jti">, ttlSeconds: number) {
    const issuedAt = Math.floor(this.clock.now().getTime() / 1000);
    const expiresAt = issuedAt + ttlSeconds;
    const token = await new SignJWT({ tid: claims.tenantId, sid: claims.sessionId, typ })
      .setProtectedHeader({ alg: algorithm, kid: this.#current.kid, typ: "JWT" })
      .setIssuer(this.config.issuer)
      .setAudience(this.config.audience)
      .setSubject(claims.userId)
      .setJti(crypto.randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(this.#encodedCurrent);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }

  /**
   * A download ticket: a token for one purpose (`typ`), for the caller's session, valid for
   * `ttlSeconds`; never an access token (verifyAccess requires `typ: access`) and never cached.
   * It goes into a URL so a browser can download without holding the file in memory.
   */
  signTicket(purpose: TicketPurpose, claims: Omit<AccessClaims, "jti">, ttlSeconds: number) {
    return this.#sign(purpose, claims, ttlSeconds);
  }

  /** Verifies a ticket of `purpose`, or throws `InvalidTokenError`. */
  async verifyTicket(purpose: TicketPurpose, token: string): Promise<AccessClaims> {
    return this.#verify(token, claimsSchema.extend({ typ: z.literal(purpose) }));
  }

  /**
   * The refresh token a refresh token rotates into: an HMAC of the parent under the signing key,
   * so a tab that replays the parent inside the reuse window is given the very token the first
   * tab got (nothing else stays live), and no one without the key can compute it. The first
   * entry is the current key's; the others, the previous keys', for a rotation inside the window.
   */
  async childRefreshTokens(parent: string, tenantId: string): Promise<string[]> {
    const data = new TextEncoder().encode(`bulkhead refresh child\0${parent}`);
    const keys = [this.#encodedCurrent, ...[...this.#keys.values()].filter((key) => key !== this.#encodedCurrent)];
    return Promise.all(
      keys.map(async (raw) => {
        const key = await crypto.subtle.importKey(
          "raw",
          new Uint8Array(raw),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        );
        const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
        return `bhrt_${tenantId}_${base64url(mac)}`;
      }),
    );
  }

  #remember(token: string, claims: AccessClaims, expiresAt: number, notBefore: number) {
    if (this.#verified.size >= verifiedCacheSize) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    this.#verified.set(token, { claims, expiresAt, notBefore });
  }

  /** Verifies an access token, or throws `InvalidTokenError`. */
  async verifyAccess(token: string): Promise<AccessClaims> {
    const now = this.clock.now().getTime() / 1000;
    const known = this.#verified.get(token);
    if (known && now <= known.expiresAt + clockToleranceSeconds && now >= known.notBefore - clockToleranceSeconds) {
      this.cache.hits++;
      return known.claims;
    }
    this.cache.misses++;
    if (known) this.#verified.delete(token);
    return this.#verify(token, claimsSchema, (claims, exp, nbf) => this.#remember(token, claims, exp, nbf));
  }

  async #verify(
    token: string,
    schema: typeof claimsSchema | z.ZodObject<Omit<typeof claimsSchema.shape, "typ"> & { typ: z.ZodLiteral<string> }>,
    remember?: (claims: AccessClaims, expiresAt: number, notBefore: number) => void,
  ): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#keys.get(header.kid);
          if (!key) throw new InvalidTokenError("unknown key id");
          return key;
        },
        {
          algorithms: [algorithm],
          issuer: this.config.issuer,
          audience: this.config.audience,
          clockTolerance: clockToleranceSeconds,
          currentDate: this.clock.now(),
          requiredClaims: ["iss", "aud", "sub", "tid", "sid", "typ", "jti", "iat", "exp"],
        },
      );
      const claims = schema.safeParse(payload);
      if (!claims.success) throw new InvalidTokenError("unexpected claims");
      const verified = {
        userId: claims.data.sub,
        tenantId: claims.data.tid,
        sessionId: claims.data.sid,
        jti: claims.data.jti,
      };
      remember?.(verified, payload.exp ?? 0, payload.nbf ?? 0);
      return verified;
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError(error.code);
      throw new InvalidTokenError("malformed token");
    }
  }
}

const verifiedCacheSize = 10_000;

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

/** 256 random bits, base64url. */
export function randomSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Hex SHA-256; opaque tokens are stored only as this. */
export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opaque tokens carry their tenant so their lookup can run under RLS in that tenant:
 * `<prefix>_<tenant uuid>_<secret>`. The prefix keeps kinds apart (a refresh token is never an
 * invitation).
 */
export type OpaqueKind = "rt" | "inv" | "pr" | "ev" | "mc";

export function makeOpaqueToken(kind: OpaqueKind, tenantId: string): string {
  return `bh${kind}_${tenantId}_${randomSecret()}`;
}

const opaquePattern =
  /^bh(rt|inv|pr|ev|mc)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** Splits an opaque token, or returns null when it is not one of `kind`. */
export function parseOpaqueToken(kind: OpaqueKind, token: string): { tenantId: string } | null {
  const match = opaquePattern.exec(token);
  if (!match || match[1] !== kind || !match[2]) return null;
  return { tenantId: match[2] };
}
