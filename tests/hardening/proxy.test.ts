/**
 * Finding 3: with TRUST_PROXY, the leftmost X-Forwarded-For entry — the one the client writes
 * itself — was taken as the client's address: forged addresses were never throttled and were
 * written to the audit log.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAddressOf } from "../../server/app.js";
import { parseConfig, toAppConfig } from "../../server/config.js";
import { codeOf, createTestApp, password, type TestApp, testSecret } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { TRUST_PROXY: "true" }, peerAddress: "10.0.0.2" });
});
afterAll(() => t.close());

const addressOf = (forwarded: string | null, env: Record<string, string> = { TRUST_PROXY: "true" }) => {
  const config = toAppConfig(parseConfig(env), testSecret);
  const headers = forwarded === null ? undefined : { "x-forwarded-for": forwarded };
  return clientAddressOf(new Request("http://x/", { headers }), undefined, { config, peerAddress: () => "10.0.0.2" });
};

describe("the client address behind a proxy", () => {
  it("is the entry the trusted proxy appended: the rightmost, or TRUSTED_PROXY_HOPS from the right", () => {
    expect(addressOf("203.0.113.5, 198.51.100.7")).toBe("198.51.100.7");
    expect(addressOf("198.51.100.7")).toBe("198.51.100.7");
    expect(addressOf("203.0.113.5, 198.51.100.7, 10.1.1.1", { TRUST_PROXY: "true", TRUSTED_PROXY_HOPS: "2" })).toBe(
      "198.51.100.7",
    );
    // Fewer entries than proxies: it did not come through them all; the peer is what is known.
    expect(addressOf("198.51.100.7", { TRUST_PROXY: "true", TRUSTED_PROXY_HOPS: "2" })).toBe("10.0.0.2");
    expect(addressOf(null)).toBe("10.0.0.2");
    // Without TRUST_PROXY the header means nothing.
    expect(addressOf("198.51.100.7", {})).toBe("10.0.0.2");
    expect(addressOf("999.1.1.1")).toBeNull();
  });

  it("forged leftmost entries neither escape the login throttle nor reach the audit log", async () => {
    const c = await t.registerTenant("Proxied");
    const codes: (string | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const forged = t.client(null, { "x-forwarded-for": `203.0.113.${i}, 198.51.100.7` });
      codes.push(
        await codeOf(
          forged.auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password: "not it at all" }),
        ),
      );
    }
    expect(codes.slice(0, 5)).toEqual(Array(5).fill("UNAUTHORIZED"));
    expect(codes.slice(5)).toEqual(Array(3).fill("TOO_MANY_REQUESTS"));

    const forged = t.client(null, { "x-forwarded-for": "203.0.113.99, 198.51.100.8" });
    await forged.auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password });
    const logged = await t.admin.execute(
      sql`select host(client_address) as address from audit_events where tenant_id = ${c.tenantId} and action = 'auth.login'`,
    );
    expect(JSON.stringify(logged)).toContain("198.51.100.8");
    expect(JSON.stringify(logged)).not.toContain("203.0.113.99");
  });

  it("forged leftmost entries do not multiply the registration limit", async () => {
    const app = await createTestApp({ db: t.db, env: { TRUST_PROXY: "true", SIGNUP_MAX_PER_ADDRESS: "3" } });
    const stamp = Date.now().toString(36);
    const codes: (string | null)[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(
        await codeOf(
          app.client(null, { "x-forwarded-for": `203.0.113.${i}, 198.51.100.9` }).auth.registerTenant.mutate({
            tenant: { name: "Forged", slug: `forged-${stamp}-${i}` },
            owner: { email: `o@forged${i}.test`, password, name: "F" },
          }),
        ),
      );
    }
    expect(codes).toEqual([null, null, null, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS"]);
  });
});
