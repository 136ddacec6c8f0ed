import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouterOutputs } from "../client/src/index.js";
import { createTestApp, type TenantHandle, type TestApp } from "./helpers/app.js";

type ProjectsPage = RouterOutputs["projects"]["list"];

let t: TestApp;
let a: TenantHandle;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Pager");
});
afterAll(() => t.close());

describe("keyset pagination", () => {
  it("walking all pages while another writer inserts yields every pre-existing row exactly once", async () => {
    const existing: string[] = [];
    for (let i = 0; i < 45; i++) existing.push((await a.client.projects.create.mutate({ name: `seed ${i}` })).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    for (let page = 0; page < 20; page++) {
      // The writer inserts between (and concurrently with) page reads.
      const [result]: [ProjectsPage, unknown] = await Promise.all([
        a.client.projects.list.query({ limit: 7, ...(cursor ? { cursor } : {}) }),
        a.client.projects.create.mutate({ name: `during ${page}` }).then(() => inserted++),
      ]);
      seen.push(...result.items.map((p) => p.id));
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    expect(inserted).toBeGreaterThan(3);
    expect(new Set(seen).size).toBe(seen.length); // no duplicates
    const seenExisting = seen.filter((id) => existing.includes(id));
    expect(seenExisting).toEqual([...existing].reverse()); // no gaps, newest first
  });

  it("rejects malformed cursors and out-of-range limits as BAD_REQUEST", async () => {
    const bad = [
      "",
      "%%%",
      btoa("[]"),
      btoa(JSON.stringify(["yesterday", "x"])),
      btoa(JSON.stringify(["2026-01-01", "not-uuid"])),
    ];
    for (const cursor of bad.filter(Boolean)) {
      await expect(a.client.projects.list.query({ cursor })).rejects.toMatchObject({ data: { code: "BAD_REQUEST" } });
    }
    await expect(a.client.projects.list.query({ limit: 0 })).rejects.toMatchObject({ data: { code: "BAD_REQUEST" } });
    await expect(a.client.members.list.query({ limit: 101 })).rejects.toMatchObject({ data: { code: "BAD_REQUEST" } });
    expect((await a.client.projects.list.query({})).items).toHaveLength(20);
  });
});
