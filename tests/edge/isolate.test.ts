/**
 * The Worker entry builds its app once per isolate: the second request with a token is served
 * from the verified-token cache, and each invocation still gets (and closes) its own database
 * client. Runs the entry module in Node against PostgreSQL, where the isolate's state can be read.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import worker, { isolateState } from "../../server/worker.js";
import { testEncryptionKey, testSecret } from "../helpers/app.js";
import { openTestDatabase, type TestDatabase } from "../helpers/db.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db.close());

const pending: Promise<unknown>[] = [];
const ctx = { waitUntil: (p: Promise<unknown>) => pending.push(p), passThroughOnException: () => {}, props: {} };

async function call(path: string, init: RequestInit = {}) {
  const env = {
    DATABASE_URL: db.url ?? "",
    JWT_SECRET: testSecret,
    ENCRYPTION_KEY: testEncryptionKey,
    NODE_ENV: "production",
    DATABASE_PREPARE: "false",
  };
  const response = await worker.fetch(new Request(`http://worker.test/trpc/${path}`, init), env, ctx as never);
  await Promise.all(pending.splice(0));
  return response;
}

describe("the Worker entry", () => {
  it("builds its app once per isolate, so repeat requests hit the verified-token cache", async () => {
    expect(isolateState().built).toBe(false);
    const slug = `isolate-${Date.now().toString(36)}`;
    const registered = await call("auth.registerTenant", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        json: {
          tenant: { name: "Isolate", slug },
          owner: { email: "o@isolate.test", password: "a long enough password", name: "O" },
        },
      }),
    });
    expect(registered.status).toBe(200);
    const token = ((await registered.json()) as { result: { data: { json: { accessToken: string } } } }).result.data
      .json.accessToken;
    const me = () => call("auth.me", { headers: { authorization: `Bearer ${token}` } });
    expect((await me()).status).toBe(200);
    const afterFirst = { ...isolateState().tokenCache };
    expect((await me()).status).toBe(200);
    expect((await me()).status).toBe(200);
    const state = isolateState();
    expect(state.built).toBe(true);
    expect(state.tokenCache?.hits).toBe((afterFirst.hits ?? 0) + 2);
    expect(state.tokenCache?.misses).toBe(afterFirst.misses);
  });
});
