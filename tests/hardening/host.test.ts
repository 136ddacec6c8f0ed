/**
 * Finding 10: the Host tenant hint failed open: `b.base.` (a trailing dot) and `x.b.base` were
 * ignored, so another tenant's token got 200, and X-Tenant overrode a subdomain that disagreed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantHintOf } from "../../server/context.js";
import { createTestApp, type TenantHandle, type TestApp } from "../helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
beforeAll(async () => {
  t = await createTestApp({ env: { BASE_DOMAIN: "Bulkhead.Test" } });
  a = await t.registerTenant("Alpha");
  b = await t.registerTenant("Beta");
});
afterAll(() => t.close());

const list = `projects.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;

async function as(who: TenantHandle, host: string, path = "auth.me", headers: Record<string, string> = {}) {
  const response = await t.app.request(`http://${host}/trpc/${path}`, {
    headers: { authorization: `Bearer ${who.session.accessToken}`, ...headers },
  });
  return response.status;
}

describe("the host's tenant hint", () => {
  it("is normalised: case, port and the root's trailing dot do not change which tenant it names", async () => {
    for (const path of ["auth.me", list]) {
      expect(await as(a, `${a.slug}.bulkhead.test.`, path)).toBe(200);
      expect(await as(a, `${a.slug.toUpperCase()}.BULKHEAD.TEST:8443`, path)).toBe(200);
      expect(await as(a, `${b.slug}.bulkhead.test.`, path)).toBe(403);
      expect(await as(a, `${b.slug.toUpperCase()}.Bulkhead.Test.:3000`, path)).toBe(403);
    }
  });

  it("refuses a host under BASE_DOMAIN that is not exactly <slug>.<BASE_DOMAIN>", async () => {
    expect(await as(a, `x.${a.slug}.bulkhead.test`)).toBe(403);
    expect(await as(a, `x.${b.slug}.bulkhead.test`)).toBe(403);
    expect(await as(a, `x.${b.slug}.bulkhead.test`, list)).toBe(403);
    // The apex and unrelated hosts name no tenant.
    expect(await as(a, "bulkhead.test")).toBe(200);
    expect(await as(a, "api.example.com")).toBe(200);
  });

  it("must agree with X-Tenant when both are given", async () => {
    expect(await as(a, `${a.slug}.bulkhead.test`, "auth.me", { "x-tenant": a.slug })).toBe(200);
    expect(await as(a, `${b.slug}.bulkhead.test`, "auth.me", { "x-tenant": a.slug })).toBe(403);
    expect(await as(a, `${a.slug}.bulkhead.test`, list, { "x-tenant": b.slug })).toBe(403);
    expect(await as(a, "bulkhead.test", "auth.me", { "x-tenant": "" })).toBe(403);
  });

  it("is read the same way by tenantHintOf", () => {
    const hint = (url: string, headers: Record<string, string> = {}) => {
      try {
        return tenantHintOf(new Request(url, { headers }), "bulkhead.test.");
      } catch (error) {
        return (error as Error).name;
      }
    };
    expect(hint("http://acme.bulkhead.test./")).toBe("acme");
    expect(hint("http://ACME.bulkhead.test:81/")).toBe("acme");
    expect(hint("http://a.acme.bulkhead.test/")).toBe("TenantHintError");
    expect(hint("http://bulkhead.test/")).toBeNull();
    expect(hint("http://evilbulkhead.test/")).toBeNull();
    expect(hint("http://acme.bulkhead.test/", { "x-tenant": "ACME " })).toBe("acme");
    expect(hint("http://acme.bulkhead.test/", { "x-tenant": "other" })).toBe("TenantHintError");
  });
});
