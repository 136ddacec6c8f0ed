/**
 * Bad input as a property (fast-check). Hostile requests across every procedure of `appRouter`
 * and every HTTP route (the REST face included, and calls with an API key): inputs generated
 * from each procedure's own zod schema and then broken (wrong types, boundary numbers, huge
 * strings, control characters, lone surrogates, foreign ids), raw HTTP mutations (malformed
 * JSON, invalid UTF-8, superjson meta abuse, deep nesting, oversized batches, wrong methods and
 * content types), and forged, expired or foreign tokens and keys.
 *
 * Every response must be below 500, carry no SQL, stack or JavaScript-internal message, and come
 * back in bounded time; the server must still be ready afterwards.
 *
 * FUZZ_INPUTS (default 400 in `npm test`, 2,000 in `npm run test:slow`; CI runs 10,000 on
 * PostgreSQL) sets the count; FUZZ_SEED replays.
 */
import fc from "fast-check";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import { appRouter } from "../../server/routers/_app.js";
import { createTestApp, password, signedIn, type TenantHandle, type TestApp, testSecret } from "../helpers/app.js";
import { readStream } from "../helpers/events.js";
import { defOf } from "../helpers/zod.js";

const total = Number(process.env.FUZZ_INPUTS || 400);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** A hang or an algorithmic blow-up takes seconds; a slow machine does not take this long. */
const slowMs = 2000;

interface Procedure {
  path: string;
  type: "query" | "mutation";
  input: ZodType | undefined;
}

const procedures: Procedure[] = Object.entries(
  (appRouter._def as unknown as { procedures: Record<string, { _def: { type: string; inputs: ZodType[] } }> })
    .procedures,
).map(([path, procedure]) => ({
  path,
  type: procedure._def.type === "query" ? "query" : "mutation",
  input: procedure._def.inputs[0],
}));

// Procedures whose success would end the fuzzer's own sessions run with throwaway ones.
const sessionEnders = new Set(["auth.logout"]);

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
/** A member of A whose sessions `auth.logout` may end: logging out ends all of a user's sessions. */
let leaver: TenantHandle;
/** An admin API key of A: the REST face and every procedure that allows keys, as a script calls them. */
let apiKey: string;
/** Ids of B's rows: inputs that name them must get NOT_FOUND or the like, never B's data. */
const foreignIds: string[] = [];

beforeAll(async () => {
  t = await createTestApp({
    env: {
      LOGIN_MAX_FAILURES: "1000000",
      LOGIN_ADDRESS_MAX_FAILURES: "1000000",
      LOGIN_ACCOUNT_MAX_FAILURES: "1000000",
    },
  });
  a = await t.registerTenant("Fuzzed");
  b = await t.registerTenant("Bystander");
  const project = await b.client.projects.create.mutate({ name: "Bystander's secret project" });
  const task = await b.client.tasks.create.mutate({ projectId: project.id, title: "Bystander's secret task" });
  const invite = await b.client.members.invite.mutate({ email: "secret@bystander.test", role: "member" });
  foreignIds.push(project.id, task.id, b.userId, b.tenantId, invite.invitationId);
  await a.client.projects.create.mutate({ name: "Fuzzed project" });
  leaver = await t.addMember(a, "member", `leaver@${a.slug}.test`);
  apiKey = (await a.client.apiKeys.create.mutate({ name: "fuzzed key", role: "admin" })).key;
});
afterAll(() => t.close());

// --- values ---------------------------------------------------------------------------------

const hostileString = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udc00y",
    "\u202e evil",
    "\u0085",
    "\r\n",
    "'; drop table users; --",
    '" or 1=1 --',
    "$1",
    "%s%n",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "__proto__",
    "constructor",
    "NaN",
    "-0",
    "1e400",
    "0000-00-00T00:00:00.000Z",
    "2020-02-30T00:00:00Z",
    "bhrt_00000000-0000-0000-0000-000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  ),
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.string({ maxLength: 40, unit: "grapheme-composite" }),
  fc.nat({ max: 3 }).map((n) => "x".repeat([201, 5001, 70_000, 300_000][n] ?? 1)),
  fc.constantFrom(...foreignIdsLater()),
);

/** The foreign ids exist only after beforeAll: a stand-in that reads them when drawn. */
function foreignIdsLater(): string[] {
  return ["foreign:0", "foreign:1", "foreign:2", "foreign:3", "foreign:4"];
}

const hostileNumber = fc.oneof(
  fc.constantFrom(0, -1, 1, 100, 101, -0, 0.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, Number.MAX_VALUE),
  fc.double({ noNaN: true }),
  fc.integer(),
);

const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor")), tie("value"), {
      maxKeys: 4,
    }),
  ),
})).value;

/** A value of the schema's shape, usually well-formed: the closer to valid, the deeper it reaches. */
function wellFormed(schema: ZodType): fc.Arbitrary<unknown> {
  const def = defOf(schema);
  switch (def.type) {
    case "object":
      return fc.record(
        Object.fromEntries(Object.entries(def.shape ?? {}).map(([key, field]) => [key, valueFor(field)])),
        { requiredKeys: [] },
      );
    case "optional":
    case "nullable":
    case "default":
      return fc.option(valueFor(def.innerType as ZodType), { nil: undefined, freq: 4 });
    case "pipe":
      return valueFor(def.in as ZodType);
    case "enum":
      return fc.constantFrom(...Object.values(def.entries ?? { x: "x" }));
    case "literal":
      return fc.constantFrom(...(def.values ?? [null]));
    case "string":
      if (def.format === "uuid") return fc.oneof(fc.uuid(), fc.constantFrom(...foreignIdsLater()));
      if (def.format === "email") return fc.emailAddress();
      return fc.oneof(
        { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
        { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30, unit: "binary" }) },
        { weight: 1, arbitrary: hostileString },
      );
    case "number":
      return fc.integer({ min: -2, max: 120 });
    case "boolean":
      return fc.boolean();
    case "tuple":
      return fc.tuple(...(def.items ?? []).map(valueFor));
    default:
      return anyJson;
  }
}

/** Mostly the schema's shape, sometimes anything at all in its place. */
function valueFor(schema: ZodType): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary: wellFormed(schema) }, { weight: 1, arbitrary: anyJson });
}

/** Replaces the stand-ins for foreign ids with the real ones, anywhere in a value. */
function withForeignIds(value: unknown): unknown {
  if (typeof value === "string" && value.startsWith("foreign:")) return foreignIds[Number(value.slice(8))] ?? value;
  if (Array.isArray(value)) return value.map(withForeignIds);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withForeignIds(v)]));
  }
  return value;
}

// --- requests -------------------------------------------------------------------------------

type Credential = "member" | "key" | "wrong-key" | "none" | "forged" | "expired" | "foreign" | "garbage";
interface Call {
  kind: "call";
  procedure: number;
  input: unknown;
  credential: Credential;
  method: "right" | "GET" | "POST" | "PUT" | "DELETE";
  contentType: "json" | "text" | "none" | "form";
  meta: "none" | "date" | "undefined" | "set" | "map" | "referential" | "bad-path" | "garbage";
}
interface Raw {
  kind: "raw";
  route: string;
  method: string;
  body: "none" | "malformed-json" | "invalid-utf8" | "deep" | "huge-batch" | "null" | "array" | "empty";
  credential: Credential;
}
type Request_ = Call | Raw;

const credential = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Credential>("member") },
  { weight: 2, arbitrary: fc.constant<Credential>("key") },
  { weight: 1, arbitrary: fc.constantFrom<Credential>("none", "forged", "expired", "foreign", "garbage", "wrong-key") },
);

/** Mostly `usual`, one time in ten something else. */
const mostly = <T>(usual: T, ...others: T[]) =>
  fc.oneof({ weight: 9, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...others) });

const callArb: fc.Arbitrary<Call> = fc.nat({ max: procedures.length - 1 }).chain((index) => {
  const input = procedures[index]?.input;
  return fc.record({
    kind: fc.constant("call" as const),
    procedure: fc.constant(index),
    input: input ? valueFor(input) : anyJson,
    credential,
    method: mostly<Call["method"]>("right", "GET", "POST", "PUT", "DELETE"),
    contentType: mostly<Call["contentType"]>("json", "text", "none", "form"),
    meta: fc.oneof(
      { weight: 4, arbitrary: fc.constant<Call["meta"]>("none") },
      {
        weight: 1,
        arbitrary: fc.constantFrom<Call["meta"]>(
          "date",
          "undefined",
          "set",
          "map",
          "referential",
          "bad-path",
          "garbage",
        ),
      },
    ),
  });
});

const rawArb: fc.Arbitrary<Raw> = fc.record({
  kind: fc.constant("raw" as const),
  route: fc.constantFrom(
    "/healthz",
    "/readyz",
    "/trpc",
    "/trpc/",
    "/trpc/nope",
    "/trpc/projects.list,projects.get",
    "/trpc/auth.login?batch=1",
    "/trpc/projects.list?batch=1&input=%7B",
    "/trpc/projects.list?input=%ZZ",
    "/trpc/auth.login,auth.me?batch=1",
    "/nope",
    "/trpc/projects.list?batch=1",
    "/export",
    "/export?ticket=",
    "/export?ticket=garbage.not.ajwt",
    "/export?ticket=%ZZ",
    "/metrics",
    "/api/v1",
    "/api/v1/projects",
    "/api/v1/projects?limit=abc",
    "/api/v1/projects?limit=1e400&cursor=%ZZ",
    "/api/v1/projects/not-a-uuid",
    "/api/v1/projects/00000000-0000-4000-8000-000000000000",
    "/api/v1/projects/00000000-0000-4000-8000-000000000000/tasks?status=nope",
    "/api/v1/tasks/%00/comments",
    "/api/v1/comments/..%2F..%2Fetc",
    "/api/v1/audit?limit=-1",
    "/api/v1/openapi.json",
    "/api/docs",
  ),
  method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
  body: fc.constantFrom<Raw["body"]>(
    "none",
    "malformed-json",
    "invalid-utf8",
    "deep",
    "huge-batch",
    "null",
    "array",
    "empty",
  ),
  credential,
});

const requestArb: fc.Arbitrary<Request_> = fc.oneof(
  { weight: 4, arbitrary: callArb },
  { weight: 1, arbitrary: rawArb },
);

async function token(kind: Credential): Promise<string | null> {
  const now = Math.floor(Date.now() / 1000);
  const sign = (secret: string, exp: number, claims: Record<string, unknown> = {}) =>
    new SignJWT({ tid: a.tenantId, sid: crypto.randomUUID(), typ: "access", ...claims })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setIssuer("bulkhead")
      .setAudience("bulkhead-api")
      .setSubject(a.userId)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now - 60)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(secret));
  switch (kind) {
    case "member":
      return a.session.accessToken;
    case "key":
      return apiKey;
    case "wrong-key":
      return `${apiKey.slice(0, -4)}AAAA`;
    case "none":
      return null;
    case "forged":
      return sign("not-our-secret-but-long-enough-for-hs256-000000", now + 600);
    case "expired":
      return sign(testSecret, now - 30);
    case "foreign":
      return sign(testSecret, now + 600, { tid: b.tenantId });
    case "garbage":
      return "eyJhbGciOiJub25lIn0.e30.";
  }
}

function superjsonBody(input: unknown, meta: Call["meta"]): unknown {
  const json = withForeignIds(input);
  switch (meta) {
    case "none":
      return { json };
    case "date":
      return { json, meta: { values: { cursor: ["Date"] }, v: 1 } };
    case "undefined":
      return { json, meta: { values: ["undefined"], v: 1 } };
    case "set":
      return { json, meta: { values: { name: ["set"] }, v: 1 } };
    case "map":
      return { json, meta: { values: { id: ["map"] }, v: 1 } };
    case "referential":
      return { json, meta: { referentialEqualities: { a: ["b.c"] }, v: 1 } };
    case "bad-path":
      return { json, meta: { values: { "a.b.c.d.e": ["undefined"], "\\x": ["Date"] }, v: 1 } };
    case "garbage":
      return { json, meta: "garbage" };
  }
}

function nested(depth: number): string {
  return `${"[".repeat(depth)}1${"]".repeat(depth)}`;
}

async function send(request: Request_): Promise<Response> {
  const headers: Record<string, string> = {};
  const bearer = await token(request.credential);
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (request.kind === "raw") {
    let body: BodyInit | undefined;
    switch (request.body) {
      case "malformed-json":
        body = '{"0":{"json":';
        break;
      case "invalid-utf8":
        body = new Uint8Array([0x7b, 0x22, 0x6a, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]);
        break;
      case "deep":
        body = `{"0":{"json":${nested(50_000)}}}`;
        break;
      case "huge-batch":
        body = JSON.stringify(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [i, { json: {} }])));
        break;
      case "null":
        body = "null";
        break;
      case "array":
        body = "[]";
        break;
      case "empty":
        body = "";
        break;
      case "none":
        body = undefined;
    }
    const canHaveBody = request.method !== "GET" && request.method !== "HEAD";
    if (canHaveBody && body !== undefined) headers["content-type"] = "application/json";
    return t.app.request(`http://bulkhead.test${request.route}`, {
      method: request.method,
      headers,
      ...(canHaveBody && body !== undefined ? { body } : {}),
    });
  }
  const procedure = procedures[request.procedure] as Procedure;
  if (sessionEnders.has(procedure.path) && request.credential === "member") {
    const throwaway = signedIn(
      await t.client().auth.login.mutate({ tenantSlug: a.slug, email: leaver.session.user.email, password }),
    );
    headers.authorization = `Bearer ${throwaway.accessToken}`;
  }
  const payload = JSON.stringify(superjsonBody(request.input, request.meta));
  const method = request.method === "right" ? (procedure.type === "query" ? "GET" : "POST") : request.method;
  if (method === "GET") {
    return t.app.request(`http://bulkhead.test/trpc/${procedure.path}?input=${encodeURIComponent(payload)}`, {
      headers,
    });
  }
  if (request.contentType === "json") headers["content-type"] = "application/json";
  if (request.contentType === "text") headers["content-type"] = "text/plain";
  if (request.contentType === "form") headers["content-type"] = "application/x-www-form-urlencoded";
  return t.app.request(`http://bulkhead.test/trpc/${procedure.path}`, { method, headers, body: payload });
}

/** What must never reach a client: SQL, a stack, the JavaScript engine's own words, B's data. */
const leaks: [string, RegExp][] = [
  [
    "SQL",
    /\b(select|insert into|update|delete from)\b.*\b(from|into|set|where)\b|syntax error|violates|duplicate key|relation "|column "|SQLSTATE|pg_catalog/i,
  ],
  ["stack", /\n\s+at |\bat [\w.]+ \(|node_modules|\.ts:\d+/],
  [
    "JavaScript",
    /Cannot (read|destructure|convert)|Maximum call stack|is not a function|is not defined|Unexpected (token|end)|TypeError|RangeError|ReferenceError|\[object Object\]/,
  ],
  ["another tenant", /Bystander|secret@bystander/],
];

describe("bad input as a property", () => {
  it(
    `${total} hostile requests across every procedure and route: no 5xx, no leak, no hang`,
    async () => {
      expect(procedures.length).toBeGreaterThan(20);
      const slowest = { ms: 0, what: "" };
      const statuses = new Map<number, number>();
      let count = 0;
      const runStarted = performance.now();
      await fc.assert(
        fc.asyncProperty(requestArb, async (request) => {
          count++;
          const started = performance.now();
          const response = await send(request);
          // A live stream (a subscription a request got right) is read for 300 ms, then let go.
          const { text: body } = await readStream(response, 300);
          const ms = performance.now() - started;
          const what =
            request.kind === "call"
              ? (procedures[request.procedure]?.path ?? "?")
              : `${request.method} ${request.route}`;
          if (ms > slowest.ms) Object.assign(slowest, { ms, what });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status, `${what}: ${body.slice(0, 300)}`).toBeLessThan(500);
          for (const [kind, pattern] of leaks) expect(body, `${kind} in the answer to ${what}`).not.toMatch(pattern);
          expect(ms, `${what} took ${ms.toFixed(0)} ms`).toBeLessThan(slowMs);
        }),
        { numRuns: total, seed, endOnFailure: true },
      );
      const ready = await t.app.request("/readyz");
      expect(ready.status).toBe(200);
      // A request that kept a procedure's own session alive still works: nothing was left broken.
      expect((await a.client.auth.me.query()).user.id).toBe(a.userId);
      const summary = [...statuses]
        .sort(([x], [y]) => x - y)
        .map(([status, n]) => `${status}: ${n}`)
        .join(", ");
      console.log(
        `inputs: ${count} requests in ${((performance.now() - runStarted) / 1000).toFixed(1)} s, seed ${seed}, ${t.engine}; statuses ${summary}; slowest ${slowest.ms.toFixed(0)} ms (${slowest.what})`,
      );
    },
    Math.max(60_000, total * 40),
  );
});
