import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  codeOf,
  createTestApp,
  createTwoTenants,
  sessionOf,
  signedIn,
  type TenantHandle,
  type TestApp,
  testSecret,
} from "../helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
});
afterAll(() => t.close());

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>;

interface Forge {
  secret?: string;
  kid?: string;
  claims?: Record<string, unknown>;
  issuer?: string;
  audience?: string;
  issuedAt?: number;
  expiresAt?: number;
  notBefore?: number;
  /** Leave out `exp`: a token of the real key that would never expire. */
  noExpiry?: boolean;
  alg?: string;
}

/** A token shaped like ours, with any part overridden. */
function forge(options: Forge = {}) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ tid: a.tenantId, sid: sessionOf(a), typ: "access", ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? "HS256", kid: options.kid ?? "k1", typ: "JWT" })
    .setIssuer(options.issuer ?? "bulkhead")
    .setAudience(options.audience ?? "bulkhead-api")
    .setSubject(a.userId)
    .setJti(crypto.randomUUID())
    .setIssuedAt(options.issuedAt ?? now);
  if (!options.noExpiry) jwt.setExpirationTime(options.expiresAt ?? now + 600);
  if (options.notBefore) jwt.setNotBefore(options.notBefore);
  return jwt.sign(new TextEncoder().encode(options.secret ?? testSecret));
}

const meWith = (token: string, headers?: Record<string, string>) =>
  codeOf(t.client({ accessToken: token, refreshToken: "" } as never, headers).auth.me.query());

describe("access tokens", () => {
  it("a well-formed token of ours is accepted (the forge is faithful)", async () => {
    expect(await meWith(await forge())).toBeNull();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const attacks: [string, () => Promise<string>][] = [
    [
      "alg: none",
      async () => {
        const [, payload] = (await forge()).split(".");
        return `${encode({ alg: "none", typ: "JWT" })}.${payload}.`;
      },
    ],
    ["signed with another key", () => forge({ secret: "another-secret-that-is-long-enough-for-hs256-00" })],
    ["HS256 made with a public value as the key (the issuer)", () => forge({ secret: "bulkhead" })],
    ["HS256 made with a public value as the key (the key id)", () => forge({ secret: "k1" })],
    ["expired", () => forge({ issuedAt: now() - 3600, expiresAt: now() - 60 })],
    ["nbf in the future", () => forge({ notBefore: now() + 600 })],
    ["wrong iss", () => forge({ issuer: "someone-else" })],
    ["wrong aud", () => forge({ audience: "another-api" })],
    ["typ is not access", () => forge({ claims: { typ: "refresh" } })],
    ["no sid (session)", () => forge({ claims: { sid: undefined } })],
    ["a sid that is no session", () => forge({ claims: { sid: crypto.randomUUID() } })],
    ["another tenant's session as sid", () => forge({ claims: { sid: sessionOf(b) } })],
    ["unknown kid", () => forge({ kid: "k0" })],
    ["no exp (signed with the real key)", () => forge({ noExpiry: true })],
    ["HS512 (signed with the real key)", () => forge({ alg: "HS512" })],
    [
      "tid changed after signing",
      async () => {
        const [header, payload, signature] = (await forge()).split(".") as [string, string, string];
        return `${header}.${encode({ ...decode(payload), tid: b.tenantId })}.${signature}`;
      },
    ],
    [
      "sub changed after signing",
      async () => {
        const [header, payload, signature] = (await forge()).split(".") as [string, string, string];
        return `${header}.${encode({ ...decode(payload), sub: b.userId })}.${signature}`;
      },
    ],
    ["a refresh token", async () => a.session.refreshToken],
    [
      "an invitation token",
      async () => (await a.client.members.invite.mutate({ email: "inv@example.com", role: "member" })).token,
    ],
    ["garbage", async () => "not.a.token"],
  ];

  for (const [name, make] of attacks) {
    it(`rejects ${name} with UNAUTHORIZED`, async () => {
      expect(await meWith(await make())).toBe("UNAUTHORIZED");
    });
  }

  it("rejects a request without a token", async () => {
    expect(await codeOf(t.client().projects.list.query({}))).toBe("UNAUTHORIZED");
  });

  it("accepts a token from a previous key after rotation, and not after that key is dropped", async () => {
    const rotated = await createTestApp({
      db: t.db,
      env: { JWT_KEY_ID: "k2", JWT_PREVIOUS_KEYS: `k1:${testSecret}` },
    });
    const old = await forge({ kid: "k1" });
    expect(await codeOf(rotated.client({ accessToken: old, refreshToken: "" } as never).auth.me.query())).toBeNull();
    const dropped = await createTestApp({ db: t.db, env: { JWT_KEY_ID: "k2" } });
    expect(await codeOf(dropped.client({ accessToken: old, refreshToken: "" } as never).auth.me.query())).toBe(
      "UNAUTHORIZED",
    );
  });
});

describe("tenant hint", () => {
  it("X-Tenant of another tenant is FORBIDDEN; of the token's own tenant is fine", async () => {
    expect(await meWith(a.session.accessToken, { "x-tenant": b.slug })).toBe("FORBIDDEN");
    expect(await meWith(a.session.accessToken, { "x-tenant": a.slug })).toBeNull();
  });

  it("a <slug>.<BASE_DOMAIN> host of another tenant is FORBIDDEN", async () => {
    const hosted = await createTestApp({ db: t.db, env: { BASE_DOMAIN: "bulkhead.test" } });
    const call = (slug: string) =>
      hosted.app.request(`http://${slug}.bulkhead.test/trpc/auth.me`, {
        headers: { authorization: `Bearer ${a.session.accessToken}` },
      });
    expect((await call(b.slug)).status).toBe(403);
    expect((await call(a.slug)).status).toBe(200);
  });
});

describe("refresh tokens", () => {
  it("rotate: the new pair works, the old token is refused, and replaying it revokes the new one", async () => {
    const c = await t.registerTenant("Rotating");
    const first = c.session;
    const second = await t.client().auth.refresh.mutate({ refreshToken: first.refreshToken });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(await codeOf(t.client(second).auth.me.query())).toBeNull();

    // Replay of the spent token after the reuse window (10 s): refused, and the whole family is revoked.
    t.clock.advance(10_001);
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: first.refreshToken }))).toBe("UNAUTHORIZED");
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: second.refreshToken }))).toBe("UNAUTHORIZED");
  });

  it("are refused after 30 days, and when malformed or of another kind", async () => {
    const c = await t.registerTenant("Expiring");
    t.clock.advance(31 * 86_400_000);
    try {
      expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBe(
        "UNAUTHORIZED",
      );
    } finally {
      t.clock.advance(-31 * 86_400_000);
    }
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: "bhrt_nope" }))).toBe("UNAUTHORIZED");
    // A refresh token whose tenant part names another tenant finds nothing there.
    const forged = c.session.refreshToken.replace(c.tenantId, a.tenantId);
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: forged }))).toBe("UNAUTHORIZED");
  });

  it("logout revokes one session, or all of the caller's", async () => {
    const c = await t.registerTenant("Leaving");
    const other = signedIn(
      await t.client().auth.login.mutate({
        tenantSlug: c.slug,
        email: c.session.user.email,
        password: "correct horse battery staple",
      }),
    );
    await t.client(c.session).auth.logout.mutate({ refreshToken: c.session.refreshToken });
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBe("UNAUTHORIZED");
    const renewed = await t.client().auth.refresh.mutate({ refreshToken: other.refreshToken });
    await t.client(renewed).auth.logout.mutate({});
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: renewed.refreshToken }))).toBe("UNAUTHORIZED");
  });
});
