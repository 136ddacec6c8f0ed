/**
 * Browser sessions (issue 17): CORS for an allowlist only, secure headers on every response, the
 * refresh token only ever in an HttpOnly cookie in cookie mode, CSRF refused, and many tabs
 * refreshing one session at once.
 */
import { and, eq, isNull } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBulkheadClient } from "../../client/src/index.js";
import { refreshTokens } from "../../db/schema.js";
import {
  codeOf,
  createTestApp,
  password,
  signedIn,
  type TenantHandle,
  type TestApp,
  testEncryptionKey,
} from "../helpers/app.js";

const allowed = "https://app.bulkhead.test";
const foreign = "https://evil.example";
const api = "https://api.bulkhead.test";
const cookieName = "__Secure-bulkhead_refresh";

let t: TestApp;
let a: TenantHandle;

beforeAll(async () => {
  t = await createTestApp({ env: { CORS_ORIGINS: `${allowed},http://localhost:5173`, CORS_MAX_AGE_SECONDS: "900" } });
  a = await t.registerTenant("Browsers");
});
afterAll(() => t.close());

/** One tRPC mutation over HTTP, as a page's fetch would send it. */
function post(path: string, input: unknown, headers: Record<string, string> = {}, base = api) {
  return t.app.request(`${base}/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    // The tRPC client sends no body at all for a mutation without input.
    body: input === undefined ? "" : JSON.stringify({ json: input }),
  });
}

const cookieMode = (origin = allowed) => ({ origin, "x-bulkhead-session": "cookie" });
const login = (headers: Record<string, string>, base = api) =>
  post("auth.login", { tenantSlug: a.slug, email: a.session.user.email, password }, headers, base);

/** The refresh token a response set, with the cookie's attributes. */
function setCookie(response: Response): { token: string; attributes: string[] } | null {
  const line = response.headers.getSetCookie().find((value) => value.includes("bulkhead_refresh="));
  if (!line) return null;
  const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
  return { token: decodeURIComponent(pair.slice(pair.indexOf("=") + 1)), attributes };
}

async function liveTokens(tenantId: string) {
  // As the superuser: what is stored, whatever RLS would show.
  return t.db.admin
    .select({ familyId: refreshTokens.familyId, usedAt: refreshTokens.usedAt })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, tenantId), isNull(refreshTokens.revokedAt)));
}

describe("CORS", () => {
  it("gives an allowed origin credentialed CORS headers, and a foreign origin none", async () => {
    const ok = await t.app.request(`${api}/trpc/health`, { headers: { origin: allowed } });
    expect(ok.headers.get("access-control-allow-origin")).toBe(allowed);
    expect(ok.headers.get("access-control-allow-credentials")).toBe("true");
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(ok.headers.get("vary")).toContain("Origin");

    const bad = await t.app.request(`${api}/trpc/health`, { headers: { origin: foreign } });
    for (const [name] of bad.headers) expect(name).not.toMatch(/^access-control-/);
    expect(bad.headers.get("vary")).toContain("Origin");
  });

  it("answers an allowed preflight with what may be sent, cached; a foreign one reveals nothing", async () => {
    const preflight = (origin: string) =>
      t.app.request(`${api}/trpc/auth.refresh`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,x-bulkhead-session",
        },
      });
    const ok = await preflight(allowed);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe(allowed);
    expect(ok.headers.get("access-control-allow-credentials")).toBe("true");
    expect(ok.headers.get("access-control-allow-headers")).toContain("x-bulkhead-session");
    expect(ok.headers.get("access-control-max-age")).toBe("900");

    const bad = await preflight(foreign);
    expect(bad.status).toBe(403);
    const text = [...bad.headers].map(([name, value]) => `${name}: ${value}`).join("\n") + (await bad.text());
    expect(text).not.toMatch(/access-control-/i);
    expect(text).not.toContain("bulkhead.test");
    expect(text).not.toContain("localhost");
  });

  it("refuses a wildcard or a malformed origin in CORS_ORIGINS at start", async () => {
    for (const value of ["*", "https://app.test/", "app.test", "https://app.test/path"]) {
      await expect(createTestApp({ db: t.db, env: { CORS_ORIGINS: value } })).rejects.toThrow(/CORS_ORIGINS/);
    }
  });
});

describe("secure headers", () => {
  it("are on every response: JSON, tRPC, errors and 404s", async () => {
    const responses = [
      await t.app.request(`${api}/healthz`),
      await t.app.request(`${api}/trpc/health`),
      await t.app.request(`${api}/trpc/auth.me`),
      await t.app.request(`${api}/nowhere`),
    ];
    for (const response of responses) {
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
      expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    }
  });
});

describe("cookie mode", () => {
  it("puts the refresh token only in an HttpOnly, Secure, SameSite=Strict cookie scoped to refresh", async () => {
    const response = await login(cookieMode());
    expect(response.status).toBe(200);
    const cookie = setCookie(response);
    expect(cookie).not.toBeNull();
    expect(response.headers.getSetCookie()[0]).toMatch(new RegExp(`^${cookieName}=`));
    expect(cookie?.attributes).toEqual(
      expect.arrayContaining(["Path=/trpc/auth.refresh", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=2592000"]),
    );
    const body = await response.text();
    expect(body).toContain("accessToken");
    expect(body).not.toContain("refreshToken");
    expect(body).not.toContain(cookie?.token);

    // Bearer mode, chosen by the next request: the token in the body, no cookie.
    const bearer = await login({ origin: allowed });
    expect(setCookie(bearer)).toBeNull();
    expect(await bearer.text()).toContain("refreshToken");
  });

  it("drops Secure only for plain-HTTP localhost outside production", async () => {
    const local = setCookie(await login(cookieMode("http://localhost:5173"), "http://localhost:3000"));
    expect(local?.attributes).not.toContain("Secure");
    const plainRemote = setCookie(await login(cookieMode("http://localhost:5173"), "http://api.bulkhead.test"));
    expect(plainRemote?.attributes).toContain("Secure");

    const production = await createTestApp({
      db: t.db,
      env: { NODE_ENV: "production", CORS_ORIGINS: "http://localhost:5173", ENCRYPTION_KEY: testEncryptionKey },
    });
    const response = await production.app.request("http://localhost:3000/trpc/auth.login", {
      method: "POST",
      headers: { "content-type": "application/json", ...cookieMode("http://localhost:5173") },
      body: JSON.stringify({ json: { tenantSlug: a.slug, email: a.session.user.email, password } }),
    });
    expect(response.headers.getSetCookie()[0]).toMatch(/^__Secure-bulkhead_refresh=.*; Secure/);
  });

  it("refreshes from the cookie for an allowed origin, rotating it; the body never holds the token", async () => {
    const first = setCookie(await login(cookieMode()));
    const response = await post("auth.refresh", undefined, {
      ...cookieMode(),
      cookie: `${cookieName}=${first?.token}`,
    });
    expect(response.status).toBe(200);
    const next = setCookie(response);
    expect(next?.token).toMatch(/^bhrt_/);
    expect(next?.token).not.toBe(first?.token);
    const body = await response.text();
    expect(body).not.toContain("refreshToken");
    expect(body).not.toContain(next?.token);
  });

  it("refuses a refresh with the cookie from a foreign origin, without an origin, or without the header (403)", async () => {
    const token = setCookie(await login(cookieMode()))?.token;
    const cookie = `${cookieName}=${token}`;
    const attempts = [
      post("auth.refresh", undefined, { ...cookieMode(foreign), cookie }),
      post("auth.refresh", undefined, { "x-bulkhead-session": "cookie", cookie }),
      post("auth.refresh", undefined, { origin: allowed, cookie }),
      post("auth.refresh", undefined, { cookie }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
      expect(setCookie(response)).toBeNull();
    }
    // Nothing was spent: the cookie still refreshes, properly asked.
    expect((await post("auth.refresh", undefined, { ...cookieMode(), cookie })).status).toBe(200);
  });

  it("takes its own origin from APP_URL, never from the Host a request names", async () => {
    // A request to the attacker's host name, from a page there: Host and Origin agree, and neither is ours.
    const spoofed = await login(cookieMode("http://evil.example:3000"), "http://evil.example:3000");
    expect(spoofed.status).toBe(403);
    expect(setCookie(spoofed)).toBeNull();
    const served = await createTestApp({ db: t.db, env: { APP_URL: "http://127.0.0.1:8787/app" } });
    const own = await served.app.request("http://127.0.0.1:8787/trpc/auth.login", {
      method: "POST",
      headers: { "content-type": "application/json", ...cookieMode("http://127.0.0.1:8787") },
      body: JSON.stringify({ json: { tenantSlug: a.slug, email: a.session.user.email, password } }),
    });
    expect(own.status).toBe(200);
    expect(setCookie(own)?.token).toMatch(/^bhrt_/);
  });

  it("refuses cookie mode itself from a foreign origin, before any work", async () => {
    const response = await login(cookieMode(foreign));
    expect(response.status).toBe(403);
    expect(setCookie(response)).toBeNull();
    expect(await response.text()).not.toContain("accessToken");
  });

  it("sets the cookie on registration and invitation too, and logout clears it and ends that session", async () => {
    const slug = `cookie-${Date.now().toString(36)}`;
    const registered = await post(
      "auth.registerTenant",
      { tenant: { name: "Cookie Co", slug }, owner: { email: `o@${slug}.test`, password, name: "Owner" } },
      cookieMode(),
    );
    const owner = setCookie(registered);
    expect(owner?.token).toMatch(/^bhrt_/);
    const { accessToken } = (await registered.json()).result.data.json as { accessToken: string };

    const invite = await createBulkheadClient({
      url: `${api}/trpc`,
      fetch: async (input, init) => t.app.request(String(input), init),
      session: { accessToken },
    }).members.invite.mutate({ email: `m@${slug}.test`, role: "member" });
    const accepted = await post("auth.acceptInvite", { token: invite.token, name: "Member", password }, cookieMode());
    expect(setCookie(accepted)?.token).toMatch(/^bhrt_/);
    expect(await accepted.text()).not.toContain("refreshToken");

    const logout = await post("auth.logout", undefined, { ...cookieMode(), authorization: `Bearer ${accessToken}` });
    expect(logout.status).toBe(200);
    const cleared = setCookie(logout);
    expect(cleared?.token).toBe("");
    expect(cleared?.attributes).toContain("Max-Age=0");
    const again = await post("auth.refresh", undefined, { ...cookieMode(), cookie: `${cookieName}=${owner?.token}` });
    expect(again.status).toBe(401);
  });
});

describe("many tabs, one session", () => {
  it("five concurrent refreshes of one token all succeed, with one live family and one live token", async () => {
    const c = await t.registerTenant("Tabs");
    const results = await Promise.all(
      Array.from({ length: 5 }, () => t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken })),
    );
    const tokens = new Set(results.map((session) => session.refreshToken));
    expect(tokens.size).toBe(1);
    for (const session of results) expect(await codeOf(t.client(session).auth.me.query())).toBeNull();
    const live = await liveTokens(c.tenantId);
    expect(new Set(live.map((row) => row.familyId)).size).toBe(1);
    expect(live.filter((row) => row.usedAt === null)).toHaveLength(1);
  });

  it("after the window, a replay is theft again: the family is revoked", async () => {
    const c = await t.registerTenant("Late tab");
    const next = await t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken });
    t.clock.advance(10_001);
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBe("UNAUTHORIZED");
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: next.refreshToken }))).toBe("UNAUTHORIZED");
    expect(await liveTokens(c.tenantId)).toHaveLength(0);
  });

  it("inside the window, a replay of a revoked family's token gets nothing", async () => {
    const c = await t.registerTenant("Ended tab");
    const next = await t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken });
    await t.client(next).auth.logout.mutate({ refreshToken: next.refreshToken });
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBe("UNAUTHORIZED");
  });

  it("REFRESH_TOKEN_REUSE_SECONDS=0 turns the window off", async () => {
    const strict = await createTestApp({ db: t.db, env: { REFRESH_TOKEN_REUSE_SECONDS: "0" } });
    const c = await strict.registerTenant("Strict");
    await strict.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken });
    strict.clock.advance(1);
    expect(await codeOf(strict.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBe(
      "UNAUTHORIZED",
    );
    expect(await liveTokens(c.tenantId)).toHaveLength(0);
  });
});

describe("@bulkhead/client in cookie mode", () => {
  it("signs in, survives a reload through the cookie alone, and signs out", async () => {
    // A browser's cookie jar, enough for one host: the cookie goes only to its path.
    const jar = new Map<string, { value: string; path: string }>();
    const browserFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      const headers = new Headers(init?.headers);
      headers.set("origin", allowed);
      const sent = [...jar].filter(([, c]) => url.pathname === c.path).map(([n, c]) => `${n}=${c.value}`);
      if (sent.length && init?.credentials === "include") headers.set("cookie", sent.join("; "));
      const response = await t.app.request(url.href, { ...init, headers });
      for (const line of response.headers.getSetCookie()) {
        const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
        const name = pair.slice(0, pair.indexOf("="));
        const path = attributes.find((x) => x.startsWith("Path="))?.slice(5) ?? "/";
        if (attributes.includes("Max-Age=0")) jar.delete(name);
        else jar.set(name, { value: pair.slice(name.length + 1), path });
      }
      return response;
    };
    const tab = () => createBulkheadClient({ url: `${api}/trpc`, mode: "cookie", fetch: browserFetch });

    const seen: unknown[] = [];
    const first = createBulkheadClient({
      url: `${api}/trpc`,
      mode: "cookie",
      fetch: browserFetch,
      onSession: (s) => seen.push(s),
    });
    const session = signedIn(
      await first.auth.login.mutate({ tenantSlug: a.slug, email: a.session.user.email, password }),
    );
    expect(session.refreshToken).toBeUndefined();
    expect(seen).toEqual([{ accessToken: session.accessToken }]);
    expect(jar.size).toBe(1);

    // A reload: a new client with nothing in memory gets its session from the cookie.
    const reloaded = tab();
    expect((await reloaded.auth.me.query()).user.id).toBe(a.userId);

    await reloaded.auth.logout.mutate();
    expect(jar.size).toBe(0);
    expect(await codeOf(tab().auth.me.query())).toBe("UNAUTHORIZED");
  });
});
