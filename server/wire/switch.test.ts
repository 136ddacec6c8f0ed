/** WIRE_SERIALIZER: superjson itself writes the responses, byte for byte what the default writes. */
import superjson from "superjson";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createTestApp, type TestApp } from "../../tests/helpers/app.js";

const apps: TestApp[] = [];
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  for (const app of apps) await app.close();
});

describe("WIRE_SERIALIZER", () => {
  it("switches the responses to superjson, which writes the same bytes", async () => {
    const bodies: Record<string, string> = {};
    const calls: Record<string, number> = {};
    for (const serializer of ["bulkhead", "superjson"] as const) {
      const t = await createTestApp({ env: { WIRE_SERIALIZER: serializer } });
      apps.push(t);
      const owner = await t.registerTenant(`Wire ${serializer}`);
      await owner.client.projects.create.mutate({ name: "one" });
      const spy = vi.spyOn(superjson, "serialize");
      const response = await t.fetch(
        `http://bulkhead.test/trpc/projects.list?input=${encodeURIComponent(JSON.stringify({ json: { limit: 5 } }))}`,
        { headers: { authorization: `Bearer ${owner.session.accessToken}` } },
      );
      bodies[serializer] = (await response.text()).replace(/"[0-9a-f-]{36}"|"\d{4}-[^"]+Z"/g, '"x"');
      calls[serializer] = spy.mock.calls.length;
      spy.mockRestore();
    }
    expect(calls).toEqual({ bulkhead: 0, superjson: 1 });
    expect(bodies.superjson).toBe(bodies.bulkhead);
    expect(bodies.bulkhead).toContain('"name":"one"');
  });
});
