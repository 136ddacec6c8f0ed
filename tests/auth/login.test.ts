import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArgon2Hasher } from "../../server/auth/argon2.js";
import {
  CountingHasher,
  codeOf,
  createTestApp,
  fastHasher,
  password,
  signedIn,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";

let t: TestApp;
let hasher: CountingHasher;
let a: TenantHandle;

beforeAll(async () => {
  hasher = new CountingHasher(fastHasher);
  t = await createTestApp({ hasher });
  a = await t.registerTenant("Alpha");
});
afterAll(() => t.close());

describe("registration", () => {
  it("stores argon2id at OWASP's floor or above (m=19456, t=2, p=1)", async () => {
    const real = await createTestApp({ db: t.db, hasher: createArgon2Hasher() });
    const c = await real.registerTenant("Hashing");
    const rows = await t.admin.execute(sql`select password_hash from users where id = ${c.userId}`);
    expect(JSON.stringify(rows)).toMatch(/\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("validates slug, email, password and names", async () => {
    const register = (
      tenant: { name: string; slug: string },
      owner: { email: string; password: string; name: string },
    ) => codeOf(t.client().auth.registerTenant.mutate({ tenant, owner }));
    const owner = { email: "o@example.com", password, name: "Owner" };
    expect(await register({ name: "X", slug: "ab" }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "-abc" }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "abc-" }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "a_bc" }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "a".repeat(41) }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "  ", slug: "valid-slug-1" }, owner)).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "valid-slug-2" }, { ...owner, email: "not-an-email" })).toBe(
      "BAD_REQUEST",
    );
    expect(await register({ name: "X", slug: "valid-slug-3" }, { ...owner, password: "short" })).toBe("BAD_REQUEST");
    expect(await register({ name: "X", slug: "valid-slug-4" }, { ...owner, password: "x".repeat(257) })).toBe(
      "BAD_REQUEST",
    );
    expect(await register({ name: "X", slug: a.slug }, owner)).toBe("CONFLICT");
  });

  it("20 parallel registrations of one slug: exactly one succeeds, the rest CONFLICT", async () => {
    const slug = `race-${Date.now().toString(36)}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        codeOf(
          t.client().auth.registerTenant.mutate({
            tenant: { name: `Racer ${i}`, slug },
            owner: { email: `racer${i}@example.com`, password, name: `Racer ${i}` },
          }),
        ),
      ),
    );
    expect(results.filter((r) => r === null)).toHaveLength(1);
    expect(results.filter((r) => r === "CONFLICT")).toHaveLength(19);
  });

  it("is atomic: a failure after the tenant row leaves nothing of it behind", async () => {
    // The verification mail is the registration's last write; make it fail for this one.
    const slug = `atomic-${Date.now().toString(36)}`;
    const email = `${slug}@example.com`;
    await t.admin.execute(
      sql.raw(`alter table outbox add constraint fail_registration check (payload->>'to' <> '${email}')`),
    );
    try {
      const refused = await codeOf(
        t.client().auth.registerTenant.mutate({
          tenant: { name: "Atomic", slug },
          owner: { email, password, name: "Atomic" },
        }),
      );
      expect(refused).toBe("BAD_REQUEST"); // a CHECK violation, as the server maps it
    } finally {
      await t.admin.execute(sql.raw("alter table outbox drop constraint fail_registration"));
    }
    const left = await t.admin.execute(
      sql`select (select count(*) from tenants where slug = ${slug})::int as tenants,
                 (select count(*) from users where email = ${email})::int as users`,
    );
    expect(JSON.stringify(left)).toContain('"tenants":0,"users":0');
    // And the slug is free: the same registration now succeeds.
    const session = await t.client().auth.registerTenant.mutate({
      tenant: { name: "Atomic", slug },
      owner: { email, password, name: "Atomic" },
    });
    expect(session.tenant.slug).toBe(slug);
  });
});

describe("login", () => {
  it("signs in with slug, email (any case) and password", async () => {
    const session = signedIn(
      await t.client().auth.login.mutate({
        tenantSlug: a.slug,
        email: a.session.user.email.toUpperCase(),
        password,
      }),
    );
    expect(session.user.id).toBe(a.userId);
    expect(session.tenant.slug).toBe(a.slug);
  });

  it("gives byte-identical errors for unknown tenant, unknown email and wrong password, and always hashes", async () => {
    const attempt = async (tenantSlug: string, email: string, pass: string) => {
      const before = hasher.verifications;
      const response = await t.app.request("/trpc/auth.login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { tenantSlug, email, password: pass } }),
      });
      const id = response.headers.get("x-request-id") ?? "";
      return {
        status: response.status,
        body: (await response.text()).replaceAll(id, "<id>"),
        hashed: hasher.verifications - before,
      };
    };
    const unknownTenant = await attempt("no-such-tenant", "someone@example.com", "wrong password!");
    const unknownEmail = await attempt(a.slug, "nobody@example.com", "wrong password!");
    const wrongPassword = await attempt(a.slug, a.session.user.email, "wrong password!");
    expect(unknownTenant.status).toBe(401);
    expect(unknownEmail).toEqual(unknownTenant);
    expect(wrongPassword).toEqual(unknownTenant);
    expect(unknownTenant.hashed).toBe(1);
  });

  it("throttles the 6th failure within the window, across app instances, with Retry-After", async () => {
    const c = await t.registerTenant("Brute");
    const second = await createTestApp({ db: t.db });
    const fail = (app: TestApp) =>
      codeOf(
        app
          .client()
          .auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password: "guess guess guess" }),
      );
    for (let i = 0; i < 3; i++) expect(await fail(t)).toBe("UNAUTHORIZED");
    for (let i = 0; i < 2; i++) expect(await fail(second)).toBe("UNAUTHORIZED");
    expect(await fail(second)).toBe("TOO_MANY_REQUESTS");
    expect(await fail(t)).toBe("TOO_MANY_REQUESTS");
    // Even the right password waits out the window.
    expect(
      await codeOf(t.client().auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password })),
    ).toBe("TOO_MANY_REQUESTS");
    const response = await t.app.request("/trpc/auth.login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: { tenantSlug: c.slug, email: c.session.user.email, password } }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a success resets the account's counter", async () => {
    const c = await t.registerTenant("Reset");
    const login = (pass: string) =>
      codeOf(t.client().auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password: pass }));
    for (let i = 0; i < 4; i++) expect(await login("guess guess guess")).toBe("UNAUTHORIZED");
    expect(await login(password)).toBeNull();
    for (let i = 0; i < 4; i++) expect(await login("guess guess guess")).toBe("UNAUTHORIZED");
    expect(await login(password)).toBeNull();
  });

  it("throttles one client address spraying many accounts", async () => {
    const sprayer = await createTestApp({ db: t.db, peerAddress: "203.0.113.7" });
    const bystander = await createTestApp({ db: t.db, peerAddress: "198.51.100.9" });
    const c = await t.registerTenant("Sprayed");
    const tryEmail = (app: TestApp, i: number) =>
      codeOf(
        app
          .client()
          .auth.login.mutate({ tenantSlug: c.slug, email: `user${i}@example.com`, password: "guess guess guess" }),
      );
    const limit = sprayer.config.login.addressMaxFailures;
    for (let i = 0; i < limit; i++) expect(await tryEmail(sprayer, i)).toBe("UNAUTHORIZED");
    expect(await tryEmail(sprayer, 99)).toBe("TOO_MANY_REQUESTS");
    expect(await tryEmail(bystander, 99)).toBe("UNAUTHORIZED");
  });
});
