/**
 * Every procedure attacked, without a test written for it: a cross-tenant probe that walks the
 * whole app router. Tenant A (the victim) has rows in every tenant table; B's owner (the
 * attacker, with every right in B) calls each procedure that takes an id, once for each of A's
 * ids in each id field, every other field well-formed. A procedure added later is probed with
 * no edit here: the router and the catalogue say what to call and with what.
 *
 * For every call: no 5xx, and an answer of NOT_FOUND, FORBIDDEN, BAD_REQUEST or a result, with
 * none of A's ids or words in it. After every mutation, none of A's rows changed (a digest of A's
 * rows in every tenant table, from the catalogue). At the end, B's audit trail names nothing of A.
 *
 * `npm test` probes the `id` of one row per table of A; the slow tier every uuid A's rows hold.
 */

import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import { eventTypes } from "../../db/schema.js";
import { tenantTables } from "../../db/schema-rules.js";
import { rowsOf } from "../../db/types.js";
import { appRouter } from "../../server/routers/_app.js";
import { createTestApp, password, type TenantHandle, type TestApp } from "../helpers/app.js";
import { readStream } from "../helpers/events.js";
import { enrollTotp } from "../helpers/mfa.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";
import { defOf } from "../helpers/zod.js";

const full = process.env.BULKHEAD_TEST_TIER === "slow" || process.env.BULKHEAD_TEST_TIER === "all";
/** In every text of A's rows: a word that must never reach B. */
const marker = "zqvictim";
const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

const unwrap = (schema: ZodType): ZodType => {
  const def = defOf(schema);
  if (def.type === "optional" || def.type === "nullable" || def.type === "default")
    return unwrap(def.innerType as ZodType);
  if (def.type === "pipe") return unwrap(def.in as ZodType);
  return schema;
};
const isId = (schema: ZodType) => defOf(unwrap(schema)).type === "string" && defOf(unwrap(schema)).format === "uuid";
const isOptional = (schema: ZodType) => ["optional", "nullable", "default"].includes(defOf(schema).type);

/** A minimal well-formed value: required fields only, every id from `idFor`. */
function sample(schema: ZodType, idFor: (key: string) => string, key = ""): unknown {
  const def = defOf(schema);
  switch (def.type) {
    case "object":
      return Object.fromEntries(
        Object.entries(def.shape ?? {})
          .filter(([, field]) => !isOptional(field))
          .map(([name, field]) => [name, sample(field, idFor, name)]),
      );
    case "optional":
    case "nullable":
    case "default":
    case "pipe":
      return sample(unwrap(schema), idFor, key);
    case "enum":
      return Object.values(def.entries ?? {})[0];
    case "literal":
      return def.values?.[0];
    case "string":
      if (def.format === "uuid") return idFor(key);
      if (def.format === "email") return "probe@beta-probe.test";
      return "probe value long enough";
    case "number":
      return 1;
    case "boolean":
      return false;
    default:
      return undefined;
  }
}

interface Procedure {
  path: string;
  type: "query" | "mutation" | "subscription";
  input: ZodType;
  idFields: string[];
}
const procedures: Procedure[] = Object.entries(
  (appRouter._def as unknown as { procedures: Record<string, { _def: { type: string; inputs: ZodType[] } }> })
    .procedures,
).flatMap(([path, procedure]) => {
  const input = procedure._def.inputs[0];
  const shape = input && defOf(unwrap(input)).type === "object" ? (defOf(unwrap(input)).shape ?? {}) : {};
  const idFields = Object.entries(shape)
    .filter(([, field]) => isId(field))
    .map(([name]) => name);
  return input && idFields.length > 0
    ? [{ path, type: procedure._def.type as Procedure["type"], input, idFields }]
    : [];
});

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
/** A's ids, by the table and column they were read from. */
const victimIds = new Map<string, string>();
/** B's own ids, for the id fields a call does not aim at. */
const own: Record<string, string> = {};
let tables: string[];

/** A digest of A's rows per tenant table: equal before and after means nothing of A changed. */
async function digestOfA(): Promise<Record<string, string>> {
  const parts = tables.map(
    (table) =>
      sql`select ${table}::text as t, md5(coalesce(string_agg(to_jsonb(x)::text, ',' order by to_jsonb(x)::text), '')) as d from ${sql.raw(table)} x where x.tenant_id = ${a.tenantId}::uuid`,
  );
  const rows = rowsOf<{ t: string; d: string }>(await t.admin.execute(sql.join(parts, sql` union all `)));
  return Object.fromEntries(rows.map((row) => [row.t, row.d]));
}

beforeAll(async () => {
  t = await createTestApp({
    env: { LOGIN_MAX_FAILURES: "1000000", LOGIN_ADDRESS_MAX_FAILURES: "1000000", SIGNUP_MAX_PER_ADDRESS: "1000" },
  });
  // The victim: a row in every tenant table the API writes, every text carrying the marker.
  a = await t.registerTenant(`${marker} Corp`);
  // A webhook first: every change below then writes a delivery for it too.
  await a.client.webhooks.create.mutate({ url: `https://${marker}.example.com/hooks`, events: [...eventTypes] });
  const project = await a.client.projects.create.mutate({ name: `${marker} project`, description: `${marker} plans` });
  const task = await a.client.tasks.create.mutate({
    projectId: project.id,
    title: `${marker} task`,
    assigneeId: a.userId,
  });
  await a.client.comments.create.mutate({ taskId: task.id, body: `${marker} comment` });
  await a.client.members.invite.mutate({ email: `${marker}-invitee@victim.test`, role: "member" });
  await t.addMember(a, "member", `${marker}-member@victim.test`);
  await t.client().auth.requestPasswordReset.mutate({ tenantSlug: a.slug, email: a.session.user.email });
  // A workspace API key, used once (its budget row).
  const victimKey = await a.client.apiKeys.create.mutate({ name: `${marker} key`, role: "admin" });
  await t.keyClient(victimKey.key).projects.list.query({});
  // Two-factor sign-in: a TOTP factor, its recovery codes, and a login's challenge.
  await enrollTotp(a.client, t.clock);
  const device = new SoftAuthenticator("http://localhost:5173");
  const registration = device.register(await a.client.auth.passkeys.registerOptions.mutate());
  await a.client.auth.passkeys.register.mutate({ response: registration, name: `${marker} passkey` });
  await t.client().auth.login.mutate({ tenantSlug: a.slug, email: a.session.user.email, password });
  // Its limits, as an operator sets them (the only writer of tenant_limits).
  await t.admin.execute(sql`insert into tenant_limits (tenant_id, projects) values (${a.tenantId}::uuid, 500)`);

  // The attacker: B's owner, with a row of its own in each table an id field may name.
  b = await t.registerTenant("Beta");
  const ownProject = await b.client.projects.create.mutate({ name: "Beta project" });
  const ownTask = await b.client.tasks.create.mutate({ projectId: ownProject.id, title: "Beta task" });
  const ownComment = await b.client.comments.create.mutate({ taskId: ownTask.id, body: "Beta comment" });
  const ownInvite = await b.client.members.invite.mutate({ email: "invitee@beta-probe.test", role: "member" });
  const ownMember = await t.addMember(b, "member", "member@beta-probe.test");
  const ownWebhook = await b.client.webhooks.create.mutate({
    url: "https://beta.example.com/hooks",
    events: ["project.created"],
  });
  await b.client.projects.create.mutate({ name: "Beta delivered" });
  const ownKey = await b.client.apiKeys.create.mutate({ name: "Beta key", role: "member" });
  const [ownDelivery] = (await b.client.webhooks.deliveries.list.query({ webhookId: ownWebhook.id })).items;
  Object.assign(own, {
    projectId: ownProject.id,
    taskId: ownTask.id,
    commentId: ownComment.id,
    invitationId: ownInvite.invitationId,
    userId: ownMember.userId,
    assigneeId: ownMember.userId,
    webhookId: ownWebhook.id,
    deliveryId: ownDelivery?.id ?? "",
    apiKeyId: ownKey.id,
  });

  tables = await tenantTables(t.admin);
  for (const table of tables) {
    const rows = rowsOf<{ row: Record<string, unknown> }>(
      await t.admin.execute(
        sql`select to_jsonb(x) as row from ${sql.raw(table)} x where x.tenant_id = ${a.tenantId}::uuid`,
      ),
    );
    for (const row of full ? rows : rows.slice(0, 1)) {
      for (const [column, value] of Object.entries(row.row)) {
        if (typeof value === "string" && (full || column === "id") && /^[0-9a-f-]{36}$/.test(value)) {
          victimIds.set(value, `${table}.${column}`);
        }
      }
    }
  }
  victimIds.set(a.tenantId, "tenants.id");
});
afterAll(() => t.close());

/** The id B's owner would name in `field` of `path` when not aiming at A. */
function ownIdFor(path: string, field: string): string {
  if (field !== "id") return own[field] ?? crypto.randomUUID();
  const resource = path.split(".")[0] ?? "";
  const byResource: Record<string, string | undefined> = {
    projects: own.projectId,
    tasks: own.taskId,
    comments: own.commentId,
    webhooks: own.webhookId,
    apiKeys: own.apiKeyId,
  };
  return byResource[resource] ?? crypto.randomUUID();
}

/**
 * A subscription, read for 300 ms from the first event B has (`lastEventId` "0"): its
 * serialized error's code, or null, and all it streamed.
 */
async function subscribe(path: string, input: Record<string, unknown>, headers: Record<string, string>) {
  const body = JSON.stringify({ json: { ...input, lastEventId: "0" } });
  const stop = new AbortController();
  const response = await t.app.request(`/trpc/${path}?input=${encodeURIComponent(body)}`, {
    headers,
    signal: stop.signal,
  });
  const { text, code } = await readStream(response, 300);
  stop.abort();
  return { status: response.status, code, text };
}

async function call(procedure: Procedure, input: Record<string, unknown>) {
  const headers = { authorization: `Bearer ${b.session.accessToken}`, "content-type": "application/json" };
  if (procedure.type === "subscription") return subscribe(procedure.path, input, headers);
  const body = JSON.stringify({ json: input });
  const response =
    procedure.type === "query"
      ? await t.app.request(`/trpc/${procedure.path}?input=${encodeURIComponent(body)}`, { headers })
      : await t.app.request(`/trpc/${procedure.path}`, { method: "POST", headers, body });
  const text = await response.text();
  const code = (JSON.parse(text) as { error?: { json: { data: { code: string } } } }).error?.json.data.code ?? null;
  return { status: response.status, code, text };
}

describe("the cross-tenant probe", () => {
  it("walks every procedure that takes an id, and the victim has rows in every tenant table", async () => {
    expect(procedures.length).toBeGreaterThan(15);
    const withRows = rowsOf<{ t: string }>(
      await t.admin.execute(
        sql.join(
          tables.map(
            (table) =>
              sql`select ${table}::text as t from ${sql.raw(table)} x where x.tenant_id = ${a.tenantId}::uuid having count(*) > 0`,
          ),
          sql` union all `,
        ),
      ),
    ).map((row) => row.t);
    expect(tables.filter((table) => !withRows.includes(table))).toEqual([]);
  });

  it("finds nothing of A through B: no row, id or word in any answer, no change to A", async () => {
    const findings: string[] = [];
    const allowed = new Set([null, "NOT_FOUND", "FORBIDDEN", "BAD_REQUEST"]);
    let calls = 0;
    let before = await digestOfA();
    for (const procedure of procedures) {
      for (const field of procedure.idFields) {
        for (const [id, source] of victimIds) {
          const input = sample(procedure.input, (key) =>
            key === field ? id : ownIdFor(procedure.path, key),
          ) as Record<string, unknown>;
          input[field] = id;
          const answer = await call(procedure, input);
          calls++;
          const where = `${procedure.path} with ${field} = A's ${source}`;
          if (answer.status >= 500 || !allowed.has(answer.code))
            findings.push(`${where}: ${answer.status} ${answer.code}`);
          const leaked = [...answer.text.matchAll(uuidPattern)]
            .map((m) => m[0])
            .filter((x) => victimIds.has(x) && x !== id);
          if (answer.code === null && answer.text.includes(id)) leaked.push(id);
          if (leaked.length > 0) findings.push(`${where}: answered A's ids ${leaked.join(", ")}`);
          if (answer.text.toLowerCase().includes(marker)) findings.push(`${where}: answered A's words`);
          if (procedure.type === "mutation") {
            const after = await digestOfA();
            const changed = tables.filter((table) => after[table] !== before[table]);
            if (changed.length > 0) findings.push(`${where}: changed A's ${changed.join(", ")}`);
            before = after;
          }
        }
      }
    }
    // B's own audit trail and event log name nothing of A.
    const trail = JSON.stringify([
      ...rowsOf(
        await t.admin.execute(sql`select to_jsonb(e) from audit_events e where e.tenant_id = ${b.tenantId}::uuid`),
      ),
      ...rowsOf(await t.admin.execute(sql`select to_jsonb(e) from events e where e.tenant_id = ${b.tenantId}::uuid`)),
    ]);
    const inTrail = [...trail.matchAll(uuidPattern)].map((m) => m[0]).filter((x) => victimIds.has(x));
    if (inTrail.length > 0) findings.push(`B's audit trail names A's ids ${[...new Set(inTrail)].join(", ")}`);
    console.log(`probe: ${calls} calls over ${procedures.length} procedures with ${victimIds.size} of A's ids`);
    expect(findings).toEqual([]);
  }, 120_000);
});
