import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTwoTenants, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
let aProject: string;
let bProject: string;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  aProject = (await a.client.projects.create.mutate({ name: "A" })).id;
  bProject = (await b.client.projects.create.mutate({ name: "B" })).id;
});
afterAll(() => t.close());

const countTasks = async () => {
  const rows = await t.admin.execute(sql`select count(*)::int as n from tasks`);
  return JSON.stringify(rows).match(/"n":(\d+)/)?.[1];
};

describe("tasks", () => {
  it("create, get, list (with status filter), update and delete", async () => {
    const task = await a.client.tasks.create.mutate({
      projectId: aProject,
      title: " Write spec ",
      assigneeId: a.userId,
    });
    expect(task).toMatchObject({ projectId: aProject, title: "Write spec", status: "todo", assigneeId: a.userId });
    expect(await a.client.tasks.get.query({ id: task.id })).toEqual(task);

    const done = await a.client.tasks.update.mutate({ id: task.id, status: "done", assigneeId: null });
    expect(done).toMatchObject({ status: "done", assigneeId: null, title: "Write spec" });
    await a.client.tasks.create.mutate({ projectId: aProject, title: "Second" });

    const all = await a.client.tasks.list.query({ projectId: aProject });
    expect(all.items.map((x) => x.title)).toEqual(["Second", "Write spec"]);
    const onlyDone = await a.client.tasks.list.query({ projectId: aProject, status: "done" });
    expect(onlyDone.items.map((x) => x.id)).toEqual([task.id]);
    expect(await codeOf(a.client.tasks.list.query({ projectId: aProject, status: "blocked" as never }))).toBe(
      "BAD_REQUEST",
    );

    expect(await a.client.tasks.delete.mutate({ id: task.id })).toEqual({ ok: true });
    expect(await codeOf(a.client.tasks.get.query({ id: task.id }))).toBe("NOT_FOUND");
  });

  it("refuses another tenant's project or assignee, writing nothing", async () => {
    const before = await countTasks();
    expect(await codeOf(a.client.tasks.create.mutate({ projectId: bProject, title: "sneaky" }))).toBe("NOT_FOUND");
    expect(
      await codeOf(a.client.tasks.create.mutate({ projectId: aProject, title: "sneaky", assigneeId: b.userId })),
    ).toBe("NOT_FOUND");
    const mine = await a.client.tasks.create.mutate({ projectId: aProject, title: "mine" });
    expect(await codeOf(a.client.tasks.update.mutate({ id: mine.id, assigneeId: b.userId }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.tasks.list.query({ projectId: bProject }))).toBe("NOT_FOUND");
    // The foreign keys say which reference is missing, the same for B's id as for no id at all.
    const messageOf = (call: Promise<unknown>) =>
      call.then(
        () => null,
        (error: Error) => error.message,
      );
    for (const projectId of [bProject, crypto.randomUUID()]) {
      expect(await messageOf(a.client.tasks.create.mutate({ projectId, title: "x" }))).toBe("Project not found");
    }
    for (const assigneeId of [b.userId, crypto.randomUUID()]) {
      expect(await messageOf(a.client.tasks.create.mutate({ projectId: aProject, title: "x", assigneeId }))).toBe(
        "Assignee not found",
      );
      expect(await messageOf(a.client.tasks.update.mutate({ id: mine.id, assigneeId }))).toBe("Assignee not found");
    }
    expect(await countTasks()).toBe(String(Number(before) + 1));
    expect((await a.client.tasks.get.query({ id: mine.id })).assigneeId).toBeNull();
  });

  it("B's tasks are invisible and untouchable to A", async () => {
    const theirs = await b.client.tasks.create.mutate({ projectId: bProject, title: "B task" });
    expect(await codeOf(a.client.tasks.get.query({ id: theirs.id }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.tasks.update.mutate({ id: theirs.id, title: "x" }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.tasks.delete.mutate({ id: theirs.id }))).toBe("NOT_FOUND");
    expect(await b.client.tasks.get.query({ id: theirs.id })).toMatchObject({ title: "B task" });
  });

  it("deleting a project deletes its tasks", async () => {
    const project = await a.client.projects.create.mutate({ name: "Doomed" });
    const task = await a.client.tasks.create.mutate({ projectId: project.id, title: "goes too" });
    await a.client.projects.delete.mutate({ id: project.id });
    expect(await codeOf(a.client.tasks.get.query({ id: task.id }))).toBe("NOT_FOUND");
    const left = await t.admin.execute(sql`select count(*)::int as n from tasks where id = ${task.id}`);
    expect(JSON.stringify(left)).toContain('"n":0');
  });

  it("removing a member unassigns their tasks, each audited, and no one else's", async () => {
    const member = await t.addMember(a, "member");
    const other = await t.addMember(a, "member");
    const theirs = await Promise.all(
      ["theirs 1", "theirs 2"].map((title) =>
        a.client.tasks.create.mutate({ projectId: aProject, title, assigneeId: member.userId }),
      ),
    );
    const kept = await a.client.tasks.create.mutate({ projectId: aProject, title: "kept", assigneeId: other.userId });
    await a.client.members.remove.mutate({ userId: member.userId });
    for (const task of theirs) expect((await a.client.tasks.get.query({ id: task.id })).assigneeId).toBeNull();
    expect((await a.client.tasks.get.query({ id: kept.id })).assigneeId).toBe(other.userId);
    const events = await a.client.audit.list.query({ limit: 20 });
    const unassigned = events.items.filter((event) => event.action === "task.unassigned").map((e) => e.targetId);
    expect(unassigned.sort()).toEqual(theirs.map((task) => task.id).sort());
  });

  it("members may not delete projects (admin only)", async () => {
    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.projects.delete.mutate({ id: aProject }))).toBe("FORBIDDEN");
  });
});
