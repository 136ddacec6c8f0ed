import { TRPCError } from "@trpc/server";
import { DrizzleQueryError, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projects } from "../db/schema.js";
import { clientErrorFromDatabase, loggedError } from "../server/errors.js";
import { createCallerFactory, router, tenantProcedure } from "../server/trpc.js";
import { codeOf, createTestApp, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Alpha");
});
afterAll(() => t.close());

/** SQL, driver and stack fragments that must never reach a client. */
const leakPatterns = [
  /select /i,
  /insert into/i,
  /update "/i,
  /\bfrom "/i,
  /violates/i,
  /duplicate key/i,
  /constraint/i,
  /at .*\.(ts|js):\d+/,
  /node_modules/,
  /"stack"/,
];

function expectNoLeak(body: string) {
  for (const pattern of leakPatterns) expect(body).not.toMatch(pattern);
}

describe("a procedure that fails after writing", () => {
  it("leaves nothing behind (tenantProcedure rolls back when next() reports failure)", async () => {
    const testRouter = router({
      writeThenFail: tenantProcedure.mutation(async ({ ctx }) => {
        await ctx.db
          .insert(projects)
          .values({ tenantId: ctx.member.tenantId, name: "half-done", createdBy: ctx.member.userId });
        throw new TRPCError({ code: "CONFLICT", message: "changed my mind" });
      }),
    });
    const caller = createCallerFactory(testRouter)(t.requestContext(a.session.accessToken));
    await expect(caller.writeThenFail()).rejects.toMatchObject({ code: "CONFLICT" });
    const names = (await a.client.projects.list.query({ limit: 100 })).items.map((p) => p.name);
    expect(names).not.toContain("half-done");
  });

  it("through the API: accepting a second invitation for a taken email changes nothing", async () => {
    const first = await a.client.members.invite.mutate({ email: "twice@example.com", role: "member" });
    const second = await a.client.members.invite.mutate({ email: "twice@example.com", role: "admin" });
    await t.client().auth.acceptInvite.mutate({ token: first.token, name: "Once", password: "a long enough password" });
    // The second acceptance marks its invitation used, then the insert conflicts: all rolled back.
    expect(
      await codeOf(
        t.client().auth.acceptInvite.mutate({ token: second.token, name: "Twice", password: "a long enough password" }),
      ),
    ).toBe("CONFLICT");
    // The message names the conflict in the invitee's terms: the workspace they were invited to.
    const again = await t
      .client()
      .auth.acceptInvite.mutate({ token: second.token, name: "Again", password: "a long enough password" })
      .catch((e: Error) => e.message);
    expect(again).toBe("A member with this email already exists in this workspace");
    const accepted = await t.admin.execute(
      sql`select count(*)::int as n from invitations where id = ${second.invitationId} and accepted_at is not null`,
    );
    expect(JSON.stringify(accepted)).toContain('"n":0');
  });
});

describe("error responses", () => {
  it("map database errors to codes with fixed messages and no SQL", async () => {
    const before = t.bodies.length;
    expect(
      await codeOf(
        t.client().auth.registerTenant.mutate({
          tenant: { name: "Dup", slug: a.slug },
          owner: { email: "x@example.com", password: "a long enough password", name: "X" },
        }),
      ),
    ).toBe("CONFLICT");
    for (const body of t.bodies.slice(before)) expectNoLeak(body);
    expect(t.bodies.slice(before).join("")).toContain("A workspace with this slug already exists");
  });

  it("an unexpected database fault is INTERNAL_SERVER_ERROR with a request id, and no SQL or stack", async () => {
    const broken = await createTestApp();
    try {
      const c = await broken.registerTenant("Broken");
      await broken.admin.execute(sql`alter table projects rename column description to descr`);
      const error = await c.client.projects.list.query({}).catch((e: unknown) => e);
      const { message, data } = error as { message: string; data: { code: string; requestId: string } };
      expect(data.code).toBe("INTERNAL_SERVER_ERROR");
      expect(message).toBe(`Internal server error (request id ${data.requestId})`);
      expect(data.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const body = broken.bodies.at(-1) ?? "";
      expectNoLeak(body);
      expect(body).not.toContain("description");
      // The operator still gets the real cause, tagged with the same request id.
      expect(broken.logger.entries).toContainEqual(
        expect.objectContaining({ level: "error", fields: expect.objectContaining({ requestId: data.requestId }) }),
      );
    } finally {
      await broken.close();
    }
  });

  it("every response carries an x-request-id; /healthz and /readyz answer", async () => {
    const health = await t.app.request("/healthz");
    expect(health.status).toBe(200);
    expect(health.headers.get("x-request-id")).toBeTruthy();
    const ready = await t.app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: t.engine });
    const missing = await t.app.request("/nope");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBeTruthy();
    expect(await t.client().health.query()).toEqual({ status: "ok", database: t.engine });
  });

  it("/readyz is 503 when the database does not answer", async () => {
    const gone = await createTestApp();
    await gone.close();
    const ready = await gone.app.request("/readyz");
    expect(ready.status).toBe(503);
    const logged = gone.logger.entries.find((e) => e.message === "readiness check failed");
    expect(logged?.fields).toMatchObject({ error: "database error" });
    for (const entry of gone.logger.entries) expectNoLeak(JSON.stringify(entry));
  });

  it("names the constraint a Citus coordinator relays from a shard, and never one a query's text quotes", () => {
    // What the coordinator relays: no constraint field, the shard's copy named in the message.
    const relayed = Object.assign(
      new Error('insert or update on table "tasks_102265" violates foreign key constraint "tasks_project_fkey_102265"'),
      { code: "23503", severity: "ERROR" },
    );
    const wrapped = new DrizzleQueryError('insert into "tasks" ... constraint "tenants_slug_key"', [], relayed);
    expect(clientErrorFromDatabase(wrapped)?.message).toBe("Project not found");
    expect(loggedError(wrapped)).toMatchObject({ sqlState: "23503", constraint: "tasks_project_fkey" });
    // A wrapper's text (the query, its parameters) is not the database's error: not read.
    const quoted = new DrizzleQueryError("select 'constraint \"tenants_slug_key\"'", [], new Error("boom"));
    expect(loggedError(quoted)).not.toMatchObject({ constraint: "tenants_slug_key" });
  });

  it("logs a failed query without its text or parameters, whatever the error under it", () => {
    const params = ["0b6a1f7e-4a49-4a39-9d8e-5b1d6c1e2f30", "alice@example.com", "$argon2id$v=19$m=19456"];
    const cases = [
      // The driver's connection error, wrapped by drizzle: no SQLSTATE, the query in the message.
      new DrizzleQueryError(
        "select app.read($1, $2, $3)",
        params,
        Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), { code: "CONNECTION_CLOSED" }),
      ),
      // A wrapped error with no code at all.
      new DrizzleQueryError('select "id" from "users" where "email" = $2', params, new Error("socket hang up")),
      new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: new DrizzleQueryError("select 1 from users", params) }),
    ];
    for (const error of cases) {
      const line = JSON.stringify(loggedError(error));
      expect(line).toContain("database error");
      expectNoLeak(line);
      for (const value of [...params, "app.read", "users"]) expect(line).not.toContain(value);
    }
    expect(loggedError(cases[0])).toEqual({ error: "database error", code: "CONNECTION_CLOSED" });
  });
});

describe("request ids", () => {
  it("are on tRPC responses too, and an incoming well-formed id is kept", async () => {
    const response = await t.app.request("/trpc/health", { headers: { "x-request-id": "trace-123" } });
    expect(response.headers.get("x-request-id")).toBe("trace-123");
    const generated = await t.app.request("/trpc/health", { headers: { "x-request-id": "bad id with spaces" } });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const longest = "a=-_".repeat(32);
    const kept = await t.app.request("/trpc/health", { headers: { "x-request-id": longest } });
    expect(kept.headers.get("x-request-id")).toBe(longest);
    const tooLong = await t.app.request("/trpc/health", { headers: { "x-request-id": `${longest}a` } });
    expect(tooLong.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("bounded input", () => {
  it("refuses a body over 1 MiB (413) and a batch of more than 20 calls (400), running nothing", async () => {
    const big = await t.app.request("/trpc/projects.create", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${a.session.accessToken}` },
      body: JSON.stringify({ json: { name: "x", description: "y".repeat(1_100_000) } }),
    });
    expect(big.status).toBe(413);
    // Declared by its header (as over a socket, where Node's parser holds the body to it): refused
    // from the header, before the body is read.
    const body = JSON.stringify({ json: { name: "x", description: "y".repeat(1_100_000) } });
    const declared = await t.app.request("/trpc/projects.create", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        authorization: `Bearer ${a.session.accessToken}`,
      },
      body,
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: "Request body larger than 1048576 bytes" });
    const names = (await a.client.projects.list.query({ limit: 100 })).items.map((p) => p.name);
    expect(names).not.toContain("x"); // neither body reached projects.create

    const paths = Array.from({ length: 21 }, () => "health").join(",");
    const input = encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [i, {}]))));
    const batch = await t.app.request(`/trpc/${paths}?batch=1&input=${input}`);
    expect(batch.status).toBe(400);

    // The client splits larger batches, so 25 concurrent calls still all succeed.
    const results = await Promise.all(Array.from({ length: 25 }, () => t.client().health.query()));
    expect(results.every((r) => r.status === "ok")).toBe(true);
  });
});
