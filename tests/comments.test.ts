import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTwoTenants, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
let aTask: string;
let bTask: string;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  const aProject = (await a.client.projects.create.mutate({ name: "A" })).id;
  const bProject = (await b.client.projects.create.mutate({ name: "B" })).id;
  aTask = (await a.client.tasks.create.mutate({ projectId: aProject, title: "A task" })).id;
  bTask = (await b.client.tasks.create.mutate({ projectId: bProject, title: "B task" })).id;
});
afterAll(() => t.close());

const countComments = async () => {
  const rows = await t.admin.execute(sql`select count(*)::int as n from comments`);
  return Number(JSON.stringify(rows).match(/"n":(\d+)/)?.[1]);
};

describe("comments", () => {
  it("create and list a task's comments, newest first, page by page", async () => {
    const first = await a.client.comments.create.mutate({ taskId: aTask, body: "  First line\nsecond line  " });
    expect(first).toMatchObject({ taskId: aTask, authorId: a.userId, body: "First line\nsecond line" });
    expect(first.createdAt).toBeInstanceOf(Date);
    for (const body of ["two", "three", "four"]) await a.client.comments.create.mutate({ taskId: aTask, body });

    const page = await a.client.comments.list.query({ taskId: aTask, limit: 3 });
    expect(page.items.map((c) => c.body)).toEqual(["four", "three", "two"]);
    const rest = await a.client.comments.list.query({ taskId: aTask, limit: 3, cursor: page.nextCursor });
    expect(rest).toEqual({ items: [first], nextCursor: null });
  });

  it("are deleted by their author or an admin, and by no other member", async () => {
    const member = await t.addMember(a, "member");
    const other = await t.addMember(a, "member");
    const admin = await t.addMember(a, "admin");
    const byMember = await member.client.comments.create.mutate({ taskId: aTask, body: "mine" });
    const another = await member.client.comments.create.mutate({ taskId: aTask, body: "mine too" });

    expect(await codeOf(other.client.comments.delete.mutate({ id: byMember.id }))).toBe("FORBIDDEN");
    expect(await member.client.comments.delete.mutate({ id: byMember.id })).toEqual({ ok: true });
    expect(await codeOf(member.client.comments.delete.mutate({ id: byMember.id }))).toBe("NOT_FOUND");
    expect(await admin.client.comments.delete.mutate({ id: another.id })).toEqual({ ok: true });
    const left = await a.client.comments.list.query({ taskId: aTask, limit: 100 });
    expect(left.items.map((c) => c.id)).not.toContain(another.id);
  });

  it("never reach another tenant's task or comment, and write nothing trying", async () => {
    const theirs = await b.client.comments.create.mutate({ taskId: bTask, body: "B's" });
    const before = await countComments();
    expect(await codeOf(a.client.comments.create.mutate({ taskId: bTask, body: "sneaky" }))).toBe("NOT_FOUND");
    for (const taskId of [bTask, crypto.randomUUID()]) {
      const refused = await a.client.comments.create.mutate({ taskId, body: "x" }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(refused).toBe("Task not found");
    }
    expect(await codeOf(a.client.comments.list.query({ taskId: bTask }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.comments.list.query({ taskId: crypto.randomUUID() }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.comments.delete.mutate({ id: theirs.id }))).toBe("NOT_FOUND");
    expect(await countComments()).toBe(before);
    expect((await b.client.comments.list.query({ taskId: bTask })).items).toEqual([theirs]);
  });

  it("refuse an empty or oversized body, or control characters", async () => {
    expect(await codeOf(a.client.comments.create.mutate({ taskId: aTask, body: "   " }))).toBe("BAD_REQUEST");
    expect(await codeOf(a.client.comments.create.mutate({ taskId: aTask, body: "x".repeat(10_001) }))).toBe(
      "BAD_REQUEST",
    );
    expect(await codeOf(a.client.comments.create.mutate({ taskId: aTask, body: "bell\u0007" }))).toBe("BAD_REQUEST");
  });

  it("leave an audit event for each creation and deletion, and go with their task", async () => {
    const comment = await a.client.comments.create.mutate({ taskId: aTask, body: "audited" });
    await a.client.comments.delete.mutate({ id: comment.id });
    const events = (await a.client.audit.list.query({ limit: 100 })).items.filter((e) => e.targetId === comment.id);
    expect(events.map((e) => e.action).sort()).toEqual(["comment.created", "comment.deleted"]);

    await a.client.comments.create.mutate({ taskId: aTask, body: "goes with the task" });
    await a.client.tasks.delete.mutate({ id: aTask });
    expect(await codeOf(a.client.comments.list.query({ taskId: aTask }))).toBe("NOT_FOUND");
    const rows = await t.admin.execute(sql`select count(*)::int as n from comments where task_id = ${aTask}`);
    expect(JSON.stringify(rows)).toContain('"n":0');
  });
});
