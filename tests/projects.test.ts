import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTestApp, createTwoTenants, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
});
afterAll(() => t.close());

describe("projects", () => {
  it("creates, reads, updates and deletes a project", async () => {
    const created = await a.client.projects.create.mutate({ name: "  Roadmap  ", description: "Q3" });
    expect(created).toMatchObject({ name: "Roadmap", description: "Q3", createdBy: a.userId });
    expect(created.createdAt).toBeInstanceOf(Date);

    expect(await a.client.projects.get.query({ id: created.id })).toEqual(created);
    const updated = await a.client.projects.update.mutate({ id: created.id, name: "Roadmap 2" });
    expect(updated).toMatchObject({ id: created.id, name: "Roadmap 2", description: "Q3" });

    expect(await a.client.projects.delete.mutate({ id: created.id })).toEqual({ ok: true });
    expect(await codeOf(a.client.projects.get.query({ id: created.id }))).toBe("NOT_FOUND");
  });

  it("pages newest first with an opaque cursor", async () => {
    const t2 = await createTestApp({ db: t.db });
    const c = await t2.registerTenant("Paging");
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await c.client.projects.create.mutate({ name: `p${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const page: { items: { id: string }[]; nextCursor: string | null } = await c.client.projects.list.query({
        limit: 3,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...page.items.map((p) => p.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    expect(await codeOf(c.client.projects.list.query({ cursor: "not-a-cursor" }))).toBe("BAD_REQUEST");
    expect(await codeOf(c.client.projects.list.query({ limit: 101 }))).toBe("BAD_REQUEST");
  });

  it("rejects invalid input with field issues and writes nothing", async () => {
    const before = await a.client.projects.list.query({});
    const error = await a.client.projects.create.mutate({ name: "   " }).catch((e: unknown) => e);
    expect(
      (error as { data: { code: string; zodError: { fieldErrors: Record<string, string[]> } } }).data,
    ).toMatchObject({
      code: "BAD_REQUEST",
      zodError: { fieldErrors: { name: expect.any(Array) } },
    });
    expect(await codeOf(a.client.projects.get.query({ id: "not-a-uuid" }))).toBe("BAD_REQUEST");
    expect(await codeOf(a.client.projects.create.mutate({ name: "x".repeat(201) }))).toBe("BAD_REQUEST");
    expect(await a.client.projects.list.query({})).toEqual(before);
  });
});

describe("tenant isolation through the API", () => {
  it("tenant A cannot list, get, update or delete tenant B's projects", async () => {
    const secret = await b.client.projects.create.mutate({ name: "B secret plans" });
    const listed = await a.client.projects.list.query({ limit: 100 });
    expect(listed.items.map((p) => p.id)).not.toContain(secret.id);
    expect(JSON.stringify(listed)).not.toContain("B secret plans");

    expect(await codeOf(a.client.projects.get.query({ id: secret.id }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.projects.update.mutate({ id: secret.id, name: "pwned" }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.projects.delete.mutate({ id: secret.id }))).toBe("NOT_FOUND");

    // Still there, unchanged, for B.
    expect(await b.client.projects.get.query({ id: secret.id })).toMatchObject({ name: "B secret plans" });
  });

  it("a missing id and another tenant's id give identical errors", async () => {
    const secret = await b.client.projects.create.mutate({ name: "B only" });
    const strip = (e: unknown) => {
      const { data, message } = e as { data: Record<string, unknown>; message: string };
      const { requestId: _ignored, ...rest } = data;
      return { message, rest };
    };
    const foreign = await a.client.projects.get.query({ id: secret.id }).catch(strip);
    const missing = await a.client.projects.get.query({ id: crypto.randomUUID() }).catch(strip);
    expect(foreign).toEqual(missing);
  });
});
