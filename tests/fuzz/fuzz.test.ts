/**
 * Randomized multi-tenant fuzzing with a model (fast-check). Ten tenants with four members and two API keys each
 * run random operations concurrently — over a connection pool smaller than the concurrency on
 * PostgreSQL — including attempts with ids taken from other tenants. Every response must equal
 * what the tenant's own model predicts, and no response may contain another tenant's id or text.
 *
 * FUZZ_OPS (default 300 in `npm test`, 2,000 in `npm run test:slow`; CI runs 10,000) sets the
 * total; FUZZ_SEED replays a failing run.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BulkheadClient, createBulkheadClient, errorCode } from "../../client/src/index.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { openTestDatabase } from "../helpers/db.js";
import { type Watch, watch } from "../helpers/events.js";
import { type Status, TenantModel } from "./model.js";

const tenantCount = 10;
const totalOps = Number(process.env.FUZZ_OPS || 300);
const opsPerTenant = Math.ceil(totalOps / tenantCount);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

type Ref = { foreign: boolean; pick: number; tenant: number };
type Op =
  | { kind: "createProject"; actor: number; name: string; description: string | null }
  | { kind: "getProject" | "deleteProject"; actor: number; target: Ref }
  | { kind: "updateProject"; actor: number; target: Ref; name: string }
  | { kind: "listProjects"; actor: number }
  | { kind: "createTask"; actor: number; project: Ref; title: string; assignee: Ref | null }
  | { kind: "getTask" | "deleteTask"; actor: number; target: Ref }
  | { kind: "updateTask"; actor: number; target: Ref; status: Status; assignee: Ref | null | undefined }
  | { kind: "listTasks"; actor: number; project: Ref; status: Status | undefined };

// Actors 0–3 are people (owner, admin, two members); 4 and 5 the tenant's API keys (admin, member).
const actor = fc.nat({ max: 5 });
// One reference in four is taken from another tenant (or is an id that never existed).

const foreignOften = fc
  .tuple(fc.nat({ max: 3 }), fc.nat(), fc.nat({ max: tenantCount - 1 }))
  .map(([coin, pick, tenant]): Ref => ({ foreign: coin === 0, pick, tenant }));
const text = fc
  .string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(..."abcdefghij klmnop") })
  .filter((s) => s.trim().length > 0);
const status = fc.constantFrom<Status>("todo", "in_progress", "done");

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("createProject" as const),
      actor,
      name: text,
      description: fc.option(text, { nil: null }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("getProject" as const), actor, target: foreignOften }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("updateProject" as const), actor, target: foreignOften, name: text }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deleteProject" as const), actor, target: foreignOften }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("listProjects" as const), actor }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("createTask" as const),
      actor,
      project: foreignOften,
      title: text,
      assignee: fc.option(foreignOften, { nil: null }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("getTask" as const), actor, target: foreignOften }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("updateTask" as const),
      actor,
      target: foreignOften,
      status,
      assignee: fc.option(fc.option(foreignOften, { nil: null }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deleteTask" as const), actor, target: foreignOften }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("listTasks" as const),
      actor,
      project: foreignOften,
      status: fc.option(status, { nil: undefined }),
    }),
  },
);

let t: TestApp;
let models: TenantModel[];
let clients: BulkheadClient[][];
/** Each tenant's actors: its people, then its API keys (principals of their own, never assignable). */
let actors: { userId: string; role: "owner" | "admin" | "member" }[][];
let lastBody: string[][];
let ownerOfId: Map<string, number>;
/** Each tenant's owner watches its live event stream for the whole run, from its head then. */
const sessions: { accessToken: string; refreshToken?: string }[] = [];
let watchers: { client: BulkheadClient; stream: Watch; from: number }[];

const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

beforeAll(async () => {
  // On PostgreSQL a pool of 4 serves 10 concurrent tenants.
  // API keys' budgets are tested in tests/api-keys.test.ts; here they must not run out.
  t = await createTestApp({
    db: await openTestDatabase({ poolMax: 4 }),
    env: { API_KEY_REQUESTS_PER_MINUTE: "1000000" },
  });
  actors = [];
  models = [];
  clients = [];
  lastBody = [];
  ownerOfId = new Map();
  for (let i = 0; i < tenantCount; i++) {
    const owner = await t.registerTenant(`T${i}-tenant`);
    sessions.push(owner.session);
    const admin = await t.addMember(owner, "admin");
    const m1 = await t.addMember(owner, "member");
    const m2 = await t.addMember(owner, "member");
    const handles = [owner, admin, m1, m2];
    models.push(
      new TenantModel(
        i,
        owner.tenantId,
        handles.map((h) => ({ userId: h.userId, role: h.session.user.role })),
      ),
    );
    const keys = [
      await owner.client.apiKeys.create.mutate({ name: `T${i} admin key`, role: "admin" }),
      await owner.client.apiKeys.create.mutate({ name: `T${i} member key`, role: "member" }),
    ];
    actors.push([
      ...handles.map((h) => ({ userId: h.userId, role: h.session.user.role })),
      ...keys.map((key) => ({ userId: key.id, role: key.role })),
    ]);
    const credentials = [...handles.map((h) => ({ session: h.session })), ...keys.map((key) => ({ apiKey: key.key }))];
    lastBody.push(credentials.map(() => ""));
    clients.push(
      credentials.map((credential, slot) =>
        createBulkheadClient({
          url: "http://bulkhead.test/trpc",
          ...credential,
          fetch: async (input, init) => {
            const response = await t.app.fetch(new Request(input, init));
            const row = lastBody[i];
            if (row) row[slot] = await response.clone().text();
            return response;
          },
        }),
      ),
    );
  }
  for (const model of models) for (const id of model.everId) ownerOfId.set(id, model.index);
  watchers = [];
  for (const model of models) {
    const owner = clients[model.index]?.[0];
    if (!owner) continue;
    // t.client: with an EventSource, and without buffering the stream's body.
    const client = t.client(sessions[model.index] ?? null);
    const from = Number((await client.events.head.query()).lastEventId);
    watchers.push({ client, stream: await watch(client, { lastEventId: String(from) }), from });
  }
}, 120_000);
afterAll(async () => {
  for (const watcher of watchers ?? []) watcher.stream.stop();
  await t.close();
  await t.db.close();
});

/** Resolves a reference: an own live id, another tenant's id (live or deleted), or a fresh one. */
function resolve(model: TenantModel, reference: Ref, own: string[]): { id: string; mine: boolean } {
  if (reference.foreign || own.length === 0) {
    const other = models[(model.index + 1 + (reference.tenant % (tenantCount - 1))) % tenantCount];
    const theirs = other ? [...other.everId] : [];
    const id = theirs.length > 0 && reference.pick % 5 !== 0 ? theirs[reference.pick % theirs.length] : undefined;
    return { id: id ?? crypto.randomUUID(), mine: false };
  }
  return { id: own[reference.pick % own.length] ?? crypto.randomUUID(), mine: true };
}

async function outcome<T>(call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, code: errorCode(error) ?? `unexpected: ${String(error)}` };
  }
}

/** Runs one op, checks it against the model, and updates the model. */
async function step(model: TenantModel, op: Op) {
  const api = clients[model.index]?.[op.actor];
  const member = actors[model.index]?.[op.actor];
  if (!api || !member) throw new Error("bad actor");
  const isAdmin = member.role !== "member";
  const projectIds = [...model.projects.keys()];
  const taskIds = [...model.tasks.keys()];
  const memberIds = model.members.map((m) => m.userId);
  const label = `tenant ${model.index} ${op.kind}`;

  switch (op.kind) {
    case "createProject": {
      const r = await outcome(() =>
        api.projects.create.mutate({ name: model.tag + op.name, description: op.description }),
      );
      expect(r.ok, label).toBe(true);
      if (r.ok) {
        expect(r.value, label).toMatchObject({
          name: (model.tag + op.name).trim(),
          description: op.description?.trim() ?? null,
        });
        model.addProject({ id: r.value.id, name: r.value.name, description: r.value.description });
        ownerOfId.set(r.value.id, model.index);
      }
      return;
    }
    case "getProject": {
      const target = resolve(model, op.target, projectIds);
      const r = await outcome(() => api.projects.get.query({ id: target.id }));
      const expected = model.projects.get(target.id);
      if (target.mine && expected)
        expect(r.ok && { id: r.value.id, name: r.value.name, description: r.value.description }, label).toEqual(
          expected,
        );
      else expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      return;
    }
    case "updateProject": {
      const target = resolve(model, op.target, projectIds);
      const r = await outcome(() => api.projects.update.mutate({ id: target.id, name: model.tag + op.name }));
      const existing = model.projects.get(target.id);
      if (target.mine && existing) {
        expect(r.ok, label).toBe(true);
        existing.name = (model.tag + op.name).trim();
        if (r.ok) expect(r.value.name, label).toBe(existing.name);
      } else expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      return;
    }
    case "deleteProject": {
      const target = resolve(model, op.target, projectIds);
      const r = await outcome(() => api.projects.delete.mutate({ id: target.id }));
      if (!isAdmin) expect(r, label).toEqual({ ok: false, code: "FORBIDDEN" });
      else if (target.mine && model.projects.has(target.id)) {
        expect(r, label).toEqual({ ok: true, value: { ok: true } });
        model.deleteProject(target.id);
      } else expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      return;
    }
    case "listProjects": {
      const r = await outcome(() => api.projects.list.query({ limit: 100 }));
      expect(r.ok, label).toBe(true);
      if (!r.ok) return;
      const ids = r.value.items.map((p) => p.id);
      if (model.projects.size <= 100) expect(new Set(ids), label).toEqual(new Set(model.projects.keys()));
      else for (const id of ids) expect(model.projects.has(id), label).toBe(true);
      return;
    }
    case "createTask": {
      const project = resolve(model, op.project, projectIds);
      const assignee = op.assignee ? resolve(model, op.assignee, memberIds) : null;
      const r = await outcome(() =>
        api.tasks.create.mutate({
          projectId: project.id,
          title: model.tag + op.title,
          assigneeId: assignee?.id ?? null,
        }),
      );
      const valid = project.mine && model.projects.has(project.id) && (!assignee || assignee.mine);
      if (!valid) expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      else {
        expect(r.ok, label).toBe(true);
        if (r.ok) {
          expect(r.value, label).toMatchObject({
            projectId: project.id,
            status: "todo",
            assigneeId: assignee?.id ?? null,
          });
          model.addTask({
            id: r.value.id,
            projectId: project.id,
            title: r.value.title,
            status: "todo",
            assigneeId: assignee?.id ?? null,
          });
          ownerOfId.set(r.value.id, model.index);
        }
      }
      return;
    }
    case "getTask": {
      const target = resolve(model, op.target, taskIds);
      const r = await outcome(() => api.tasks.get.query({ id: target.id }));
      const expected = model.tasks.get(target.id);
      if (target.mine && expected)
        expect(
          r.ok && {
            id: r.value.id,
            projectId: r.value.projectId,
            title: r.value.title,
            status: r.value.status,
            assigneeId: r.value.assigneeId,
          },
          label,
        ).toEqual(expected);
      else expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      return;
    }
    case "updateTask": {
      const target = resolve(model, op.target, taskIds);
      const assignee =
        op.assignee === undefined ? undefined : op.assignee === null ? null : resolve(model, op.assignee, memberIds);
      const r = await outcome(() =>
        api.tasks.update.mutate({
          id: target.id,
          status: op.status,
          ...(assignee === undefined ? {} : { assigneeId: assignee?.id ?? null }),
        }),
      );
      const existing = model.tasks.get(target.id);
      const valid = target.mine && existing && (!assignee || assignee.mine);
      if (!valid || !existing) expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      else {
        expect(r.ok, label).toBe(true);
        existing.status = op.status;
        if (assignee !== undefined) existing.assigneeId = assignee?.id ?? null;
        if (r.ok)
          expect({ status: r.value.status, assigneeId: r.value.assigneeId }, label).toEqual({
            status: existing.status,
            assigneeId: existing.assigneeId,
          });
      }
      return;
    }
    case "deleteTask": {
      const target = resolve(model, op.target, taskIds);
      const r = await outcome(() => api.tasks.delete.mutate({ id: target.id }));
      if (target.mine && model.tasks.has(target.id)) {
        expect(r, label).toEqual({ ok: true, value: { ok: true } });
        model.tasks.delete(target.id);
      } else expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
      return;
    }
    case "listTasks": {
      const project = resolve(model, op.project, projectIds);
      const r = await outcome(() => api.tasks.list.query({ projectId: project.id, status: op.status, limit: 100 }));
      if (!(project.mine && model.projects.has(project.id))) {
        expect(r, label).toEqual({ ok: false, code: "NOT_FOUND" });
        return;
      }
      expect(r.ok, label).toBe(true);
      if (!r.ok) return;
      const expected = model.tasksOf(project.id, op.status);
      if (expected.length <= 100)
        expect(new Set(r.value.items.map((x) => x.id)), label).toEqual(new Set(expected.map((x) => x.id)));
      return;
    }
  }
}

/** No response may carry another tenant's id or text. */
function assertNoLeak(model: TenantModel, actorSlot: number) {
  const body = lastBody[model.index]?.[actorSlot] ?? "";
  for (const id of body.match(uuidPattern) ?? []) {
    const owner = ownerOfId.get(id);
    if (owner !== undefined)
      expect(owner, `tenant ${model.index} received tenant ${owner}'s id ${id}`).toBe(model.index);
  }
  for (const tag of body.match(/T\d+-/g) ?? [])
    expect(tag, `tenant ${model.index} received text of ${tag}`).toBe(model.tag);
}

describe("randomized multi-tenant fuzzing", () => {
  it(`${totalOps} random operations by ${tenantCount} concurrent tenants match each tenant's model and never leak`, async () => {
    let executed = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(opArb, { minLength: opsPerTenant, maxLength: opsPerTenant }), {
            minLength: tenantCount,
            maxLength: tenantCount,
          }),
          async (lanes) => {
            await Promise.all(
              lanes.map(async (ops, index) => {
                const model = models[index];
                if (!model) return;
                for (const op of ops) {
                  await step(model, op);
                  assertNoLeak(model, op.actor);
                  executed++;
                }
              }),
            );
          },
        ),
        { numRuns: 1, seed, endOnFailure: true },
      );
    } catch (error) {
      throw new Error(
        `fuzzing failed after ${executed} operations; replay with FUZZ_SEED=${seed} FUZZ_OPS=${totalOps}\n${String(error)}`,
      );
    }
    expect(executed).toBe(opsPerTenant * tenantCount);

    // Each owner's live stream got exactly its tenant's events of the run: every id once, in
    // order, and nothing that names another tenant's ids or words.
    for (const [index, watcher] of watchers.entries()) {
      const head = Number((await watcher.client.events.head.query()).lastEventId);
      const got = await watcher.stream.until(head - watcher.from, 30_000);
      expect(watcher.stream.ids, `tenant ${index}'s stream`).toEqual(
        Array.from({ length: head - watcher.from }, (_, i) => String(watcher.from + i + 1)),
      );
      for (const event of got) {
        for (const id of [event.entityId, event.projectId, event.actorId]) {
          const owner = id ? ownerOfId.get(id) : undefined;
          if (owner !== undefined)
            expect(owner, `tenant ${index}'s stream carried tenant ${owner}'s ${id}`).toBe(index);
        }
        for (const tag of JSON.stringify(event).match(/T\d+-/g) ?? []) expect(tag).toBe(`T${index}-`);
      }
    }
    const streamed = watchers.reduce((sum, watcher) => sum + watcher.stream.events.length, 0);
    console.log(
      `fuzz: ${executed} operations, seed ${seed}, ${t.engine}; 0 leaks, 0 model mismatches; ${streamed} events streamed to ${watchers.length} subscribers, each its own tenant's, in order`,
    );
  }, 600_000);
});
