/**
 * The REST face, black box: a real server on 127.0.0.1 driven with nothing but `fetch` and an API
 * key, as a curl or Python user would. Create, list, get and the errors, for projects, tasks and
 * comments, and the audit trail; answers are the procedures' outputs with dates as ISO strings.
 * And `/api/v1/openapi.json` validates as OpenAPI 3.1.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
let server: ReturnType<typeof serve>;
let base: string;
let key: string;
let memberKey: string;

const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Alpha");
  b = await t.registerTenant("Beta");
  key = (await a.client.apiKeys.create.mutate({ name: "script", role: "admin" })).key;
  memberKey = (await a.client.apiKeys.create.mutate({ name: "member script", role: "member" })).key;
  server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await t.close();
});

async function rest(method: string, path: string, body?: unknown, credential = key) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${credential}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: a black-box client reads JSON it has no types for
  const json = (await response.json()) as Record<string, any>;
  return { status: response.status, headers: response.headers, json };
}

describe("REST with an API key", () => {
  it("creates, lists and gets projects, tasks and comments; dates are ISO strings", async () => {
    const created = await rest("POST", "/projects", { name: "Made over REST", description: "by curl" });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ name: "Made over REST", description: "by curl" });
    expect(created.json.createdAt).toMatch(iso);
    // The very procedure: what tRPC returns for it, as JSON.
    const viaTrpc = await a.client.projects.get.query({ id: created.json.id });
    expect(created.json).toEqual(JSON.parse(JSON.stringify(viaTrpc)));

    const list = await rest("GET", "/projects?limit=1");
    expect(list.status).toBe(200);
    expect(list.json.items).toHaveLength(1);
    expect(list.json.items[0].id).toBe(created.json.id);
    expect(typeof list.json.nextCursor === "string" || list.json.nextCursor === null).toBe(true);
    expect((await rest("GET", `/projects/${created.json.id}`)).json).toEqual(created.json);

    const task = await rest("POST", `/projects/${created.json.id}/tasks`, { title: "Ship it" });
    expect(task.status).toBe(200);
    expect(task.json).toMatchObject({ projectId: created.json.id, title: "Ship it", status: "todo", assigneeId: null });
    const tasks = await rest("GET", `/projects/${created.json.id}/tasks?status=todo`);
    expect(tasks.json.items.map((item: { id: string }) => item.id)).toEqual([task.json.id]);
    expect((await rest("GET", `/tasks/${task.json.id}`)).json).toEqual(task.json);

    const comment = await rest("POST", `/tasks/${task.json.id}/comments`, { body: "From a script" });
    expect(comment.status).toBe(200);
    expect(comment.json.createdAt).toMatch(iso);
    const comments = await rest("GET", `/tasks/${task.json.id}/comments`);
    expect(comments.json.items).toEqual([comment.json]);
    expect((await rest("GET", `/comments/${comment.json.id}`)).json).toEqual(comment.json);
  });

  it("gives the audit trail to an admin key, naming the key; FORBIDDEN to a member key", async () => {
    const trail = await rest("GET", "/audit?limit=5");
    expect(trail.status).toBe(200);
    expect(trail.json.items[0]).toMatchObject({ actorType: "api_key" });
    expect(trail.json.items[0].createdAt).toMatch(iso);
    const refused = await rest("GET", "/audit", undefined, memberKey);
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe("FORBIDDEN");
  });

  it("maps errors to status codes with clear messages, and leaks nothing", async () => {
    const theirs = await b.client.projects.create.mutate({ name: "Beta's" });
    const cases = [
      { call: rest("GET", `/projects/${theirs.id}`), status: 404, code: "NOT_FOUND" },
      { call: rest("GET", "/projects/not-a-uuid"), status: 400, code: "BAD_REQUEST" },
      { call: rest("POST", "/projects", { name: "" }), status: 400, code: "BAD_REQUEST" },
      { call: rest("GET", "/projects?limit=1000"), status: 400, code: "BAD_REQUEST" },
      { call: rest("GET", "/projects", undefined, "bhk_nonsense"), status: 401, code: "UNAUTHORIZED" },
      { call: rest("GET", "/projects", undefined, ""), status: 401, code: "UNAUTHORIZED" },
      { call: rest("POST", `/projects/${theirs.id}/tasks`, { title: "x" }), status: 404, code: "NOT_FOUND" },
      { call: rest("GET", "/no-such-route"), status: 404, code: "NOT_FOUND" },
    ];
    for (const { call, status, code } of cases) {
      const response = await call;
      expect({ status: response.status, code: response.json.code }).toEqual({ status, code });
      expect(typeof response.json.message).toBe("string");
      expect(JSON.stringify(response.json)).not.toMatch(/select |stack|at .*\.ts:|bhk_[0-9a-f]{64}/i);
    }
    // A body that is not JSON.
    const malformed = await fetch(`${base}/api/v1/projects`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    // A body over 1 MiB: refused before any procedure runs, as on /trpc; nothing is created.
    // (In process: over a socket the server's early 413 cuts off a client still sending.)
    const before = (await rest("GET", "/projects?limit=100")).json as { items: unknown[] };
    const big = await t.app.request("/api/v1/projects", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "too big", description: "y".repeat(1_100_000) }),
    });
    expect(big.status).toBe(413);
    const after = (await rest("GET", "/projects?limit=100")).json as { items: unknown[] };
    expect(after.items).toHaveLength(before.items.length);
    // Another tenant's slug with this key.
    const other = await fetch(`${base}/api/v1/projects`, {
      headers: { authorization: `Bearer ${key}`, "x-tenant": b.slug },
    });
    expect(other.status).toBe(403);
    expect((await b.client.projects.get.query({ id: theirs.id })).name).toBe("Beta's");
  });

  it("accepts a member's access token too, and reports the key's budget in RateLimit headers", async () => {
    const withToken = await rest("GET", "/projects", undefined, a.session.accessToken);
    expect(withToken.status).toBe(200);
    expect(withToken.headers.get("ratelimit-limit")).toBeNull();
    const withKey = await rest("GET", "/projects");
    expect(withKey.headers.get("ratelimit-limit")).toBe(String(t.config.apiKeys.requestsPerMinute));
    expect(Number(withKey.headers.get("ratelimit-remaining"))).toBeGreaterThan(0);
  });
});

describe("the OpenAPI document", () => {
  it("validates as OpenAPI 3.1 and describes every REST route", async () => {
    const response = await fetch(`${base}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe("3.1.0");
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(document.paths).sort()).toEqual([
      "/audit",
      "/comments/{id}",
      "/projects",
      "/projects/{id}",
      "/projects/{projectId}/tasks",
      "/tasks/{id}",
      "/tasks/{taskId}/comments",
    ]);
    expect(Object.keys(document.paths["/projects"] ?? {}).sort()).toEqual(["get", "post"]);
  });

  it("serves the interactive reference at /api/docs, pointing at the document", async () => {
    const response = await fetch(`${base}/api/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();
    expect(html).toContain("/api/v1/openapi.json");
    expect(response.headers.get("content-security-policy")).toContain("https://cdn.jsdelivr.net");
    // Every other page keeps the strict policy.
    const other = await fetch(`${base}/healthz`);
    expect(other.headers.get("content-security-policy")).not.toContain("cdn.jsdelivr.net");
  });
});
