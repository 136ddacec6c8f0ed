import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBulkheadClient, errorCode, type SessionTokens } from "../client/src/index.js";
import { createTestApp, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Client");
});
afterAll(() => t.close());

describe("@bulkhead/client", () => {
  it("refreshes once for N concurrent calls after the access token expires, and reports the new session", async () => {
    const paths: string[] = [];
    const sessions: (SessionTokens | null)[] = [];
    const api = createBulkheadClient({
      url: "http://bulkhead.test/trpc",
      session: a.session,
      onSession: (s) => sessions.push(s),
      fetch: async (input, init) => {
        paths.push(new URL(String(input instanceof Request ? input.url : input)).pathname);
        return t.fetch(input, init);
      },
    });
    await api.projects.create.mutate({ name: "before expiry" });
    t.clock.advance(16 * 60_000); // past the 15-minute access token
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => api.projects.list.query({ limit: 5 })));
      expect(results.every((r) => r.items.some((p) => p.name === "before expiry"))).toBe(true);
    } finally {
      t.clock.advance(-16 * 60_000);
    }
    expect(paths.filter((p) => p.includes("auth.refresh"))).toHaveLength(1);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.refreshToken).not.toBe(a.session.refreshToken);
  });

  it("adopts the session of a login and exposes error codes", async () => {
    const seen: (SessionTokens | null)[] = [];
    const api = createBulkheadClient({
      url: "http://bulkhead.test/trpc",
      fetch: t.fetch,
      onSession: (s) => seen.push(s),
    });
    const error = await api.auth.me.query().catch((e: unknown) => e);
    expect(errorCode(error)).toBe("UNAUTHORIZED");
    await api.auth.login.mutate({
      tenantSlug: a.slug,
      email: a.session.user.email,
      password: "correct horse battery staple",
    });
    expect((await api.auth.me.query()).user.id).toBe(a.userId);
    expect(seen).toHaveLength(1);
    expect(errorCode(new Error("plain"))).toBeNull();
  });

  it("gives up (UNAUTHORIZED, session cleared) when the refresh token is spent too", async () => {
    const sessions: (SessionTokens | null)[] = [];
    const c = await t.registerTenant("Spent");
    await t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }); // spends it
    const api = createBulkheadClient({
      url: "http://bulkhead.test/trpc",
      session: c.session,
      fetch: t.fetch,
      onSession: (s) => sessions.push(s),
    });
    t.clock.advance(16 * 60_000);
    try {
      expect(errorCode(await api.projects.list.query({}).catch((e: unknown) => e))).toBe("UNAUTHORIZED");
    } finally {
      t.clock.advance(-16 * 60_000);
    }
    expect(sessions).toEqual([null]);
  });
});
