/**
 * Behind PgBouncer in transaction mode (`npm run test:pgbouncer` runs this folder through it), a
 * read transaction's COMMIT used to be sent without waiting for its answer, and the connection
 * went back to the pool at once: the next statement on it travelled behind the COMMIT, PgBouncer
 * gave the server away at COMMIT's answer, and that statement's reply never came — its request
 * hung. Found by the hostile-input fuzzer. Runs on every engine; it means most through PgBouncer.
 *
 * And live streams: transaction mode cannot hold a LISTEN, so behind PgBouncer it goes over a
 * direct connection of its own (DATABASE_LISTEN_URL; tests/helpers/db.ts sets it so).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TenantHandle, type TestApp } from "../helpers/app.js";
import { watch } from "../helpers/events.js";

let t: TestApp;
let a: TenantHandle;
let foreignProject: string;
beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Pooled");
  const b = await t.registerTenant("Other");
  foreignProject = (await b.client.projects.create.mutate({ name: "theirs" })).id;
});
afterAll(() => t.close());

describe("statements after a read transaction", () => {
  it("a one-statement read right after a read transaction answers, refused or not", async () => {
    const own = (await a.client.projects.create.mutate({ name: "ours" })).id;
    const headers = { authorization: `Bearer ${a.session.accessToken}` };
    const tasksOf = (projectId: string) =>
      `/trpc/tasks.list?input=${encodeURIComponent(JSON.stringify({ json: { projectId } }))}`;
    for (let i = 0; i < 20; i++) {
      expect((await t.app.request("/trpc/tenant.get", { headers })).status).toBe(200);
      const listed = await t.app.request(tasksOf(i % 2 ? own : foreignProject), { headers });
      expect(listed.status).toBe(i % 2 ? 200 : 404);
    }
  }, 20_000);
});

describe("live streams behind the pooler", () => {
  it("are woken by the commit's NOTIFY on the listen connection, long before their poll", async () => {
    const slow = await createTestApp({ db: t.db, env: { EVENTS_POLL_MS: "20000" } });
    try {
      const stream = await watch(slow.client(a.session));
      await new Promise((resolve) => setTimeout(resolve, 200)); // the stream is waiting now
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        await a.client.projects.create.mutate({ name: `woken ${i}` });
        await stream.until(i + 1, 10_000);
        expect(stream.events).toHaveLength(i + 1);
        expect(Date.now() - started).toBeLessThan(2000);
      }
      stream.stop();
    } finally {
      await slow.close();
    }
  }, 30_000);
});
