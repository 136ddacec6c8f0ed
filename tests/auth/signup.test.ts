/**
 * Sign-ups are rate-limited per client address: every registration counts (each creates a
 * tenant and costs a password hash), and so does every failed invitation acceptance (each costs
 * a hash before the token is checked). The counters are shared by all app instances.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTestApp, password, type TestApp, uniqueSlug } from "../helpers/app.js";

const limit = { SIGNUP_MAX_PER_ADDRESS: "3", SIGNUP_WINDOW_SECONDS: "3600" };
const registration = (slug: string) => ({
  tenant: { name: "Signup", slug },
  owner: { email: `owner@${slug}.test`, password, name: "Owner" },
});

let t: TestApp;
let sameAddress: TestApp;
let otherAddress: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: limit, peerAddress: "203.0.113.7" });
  sameAddress = await createTestApp({ db: t.db, env: limit, peerAddress: "203.0.113.7" });
  otherAddress = await createTestApp({ db: t.db, env: limit, peerAddress: "198.51.100.9" });
});
afterAll(async () => {
  await otherAddress.close();
  await sameAddress.close();
  await t.close();
});

const tenantsWithSlug = async (slug: string) =>
  JSON.stringify(await t.admin.execute(sql`select count(*)::int as n from tenants where slug = ${slug}`));

describe("sign-up throttling per client address", () => {
  it("refuses the 4th registration from one address, across app instances, with Retry-After, creating nothing", async () => {
    await t.client().auth.registerTenant.mutate(registration(uniqueSlug("s")));
    await sameAddress.client().auth.registerTenant.mutate(registration(uniqueSlug("s")));
    await t.client().auth.registerTenant.mutate(registration(uniqueSlug("s")));

    const refused = uniqueSlug("s");
    const response = await sameAddress.app.request("/trpc/auth.registerTenant", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: registration(refused) }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await tenantsWithSlug(refused)).toContain('"n":0');

    // Another address is not affected, and can take the refused slug.
    const other = await otherAddress.client().auth.registerTenant.mutate(registration(refused));
    expect(other.tenant.slug).toBe(refused);
  });

  it("counts failed invitation acceptances, and then refuses even a valid invitation from that address", async () => {
    const owner = await otherAddress.registerTenant("Inviter");
    const invite = await owner.client.members.invite.mutate({ email: "new@invited.test", role: "member" });

    const guesser = await createTestApp({ db: t.db, env: limit, peerAddress: "192.0.2.44" });
    try {
      const bogus = `${invite.token.slice(0, -4)}AAAA`;
      for (let i = 0; i < 3; i++) {
        expect(await codeOf(guesser.client().auth.acceptInvite.mutate({ token: bogus, name: "Guess", password }))).toBe(
          "UNAUTHORIZED",
        );
      }
      expect(
        await codeOf(guesser.client().auth.acceptInvite.mutate({ token: invite.token, name: "Guess", password })),
      ).toBe("TOO_MANY_REQUESTS");
      // The invitation is still open: from another address it is accepted.
      const session = await otherAddress
        .client()
        .auth.acceptInvite.mutate({ token: invite.token, name: "Invited", password });
      expect(session.user.email).toBe("new@invited.test");
    } finally {
      await guesser.close();
    }
  });

  it("leaves requests without a known client address unthrottled", async () => {
    const anonymous = await createTestApp({ db: t.db, env: limit });
    try {
      for (let i = 0; i < 4; i++) await anonymous.client().auth.registerTenant.mutate(registration(uniqueSlug("n")));
    } finally {
      await anonymous.close();
    }
  });
});
