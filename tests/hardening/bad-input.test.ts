/**
 * Findings 5, 6 and 9: inputs PostgreSQL refuses answered 500; some 400s quoted JavaScript's
 * own words; the log kept failed queries' parameters, password hashes included; a one-byte
 * previous JWT key was accepted.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig, toAppConfig } from "../../server/config.js";
import {
  codeOf,
  createTestApp,
  password,
  type TenantHandle,
  type TestApp,
  testSecret,
  uniqueSlug,
} from "../helpers/app.js";

let t: TestApp;
let a: TenantHandle;
beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Inputs");
});
afterAll(() => t.close());

interface ErrorBody {
  error: {
    json: { message: string; data: { code: string; zodError: { fieldErrors: Record<string, string[]> } | null } };
  };
}

/** Calls a procedure by hand: `json` as the body of a POST, or the input of a GET. */
async function call(path: string, json: unknown, kind: "query" | "mutation", token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response =
    kind === "query"
      ? await t.app.request(`/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json }))}`, { headers })
      : await t.app.request(`/trpc/${path}`, { method: "POST", headers, body: JSON.stringify({ json }) });
  return { status: response.status, body: (await response.json()) as ErrorBody };
}

const cursorOf = (timestamp: string) =>
  btoa(JSON.stringify([timestamp, crypto.randomUUID()]))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

describe("bad input is a 400 that names the field", () => {
  it("refuses cursors whose timestamp PostgreSQL would not read", async () => {
    for (const timestamp of [
      "1",
      "2020",
      "2020-02-30T00:00:00Z",
      "+275760-09-13T00:00:00.000Z",
      "2020-01-01T00:00:00.000Z\u0000",
    ]) {
      for (const path of ["projects.list", "members.list", "audit.list"]) {
        const { status, body } = await call(path, { cursor: cursorOf(timestamp) }, "query", a.session.accessToken);
        expect(status, `${path} ${JSON.stringify(timestamp)}`).toBe(400);
        expect(body.error.json.message).toMatch(/^Invalid input: cursor: /);
      }
    }
    const walked = await a.client.projects.list.query({ limit: 1 });
    expect(walked.nextCursor).toBeNull();
  });

  it("refuses control characters and lone surrogates in text, naming the field; multi-line text keeps newlines", async () => {
    for (const bad of ["a\u0000b", "tab\there", "line\nbreak", "\u001b[31mred", "lone \ud800 surrogate", "c1 \u0085"]) {
      const { status, body } = await call("projects.create", { name: bad }, "mutation", a.session.accessToken);
      expect(status, JSON.stringify(bad)).toBe(400);
      expect(body.error.json.data.zodError?.fieldErrors.name).toEqual(["must not contain control characters"]);
      expect(body.error.json.message).toBe("Invalid input: name: must not contain control characters");
    }
    const nul = await call(
      "projects.create",
      { name: "ok", description: "a\u0000b" },
      "mutation",
      a.session.accessToken,
    );
    expect(nul.status).toBe(400);
    expect(nul.body.error.json.data.zodError?.fieldErrors.description).toBeDefined();
    const project = await a.client.projects.create.mutate({ name: "Multi", description: "line one\n\tline two" });
    expect(project.description).toBe("line one\n\tline two");

    for (const input of [
      { tenantSlug: "a\u0000", email: "a@example.com", password: "whatever it is" },
      { tenantSlug: "acme", email: "a@example.com", password: "pass\u0000word with nul" },
    ]) {
      const { status } = await call("auth.login", input, "mutation");
      expect(status).toBe(400);
    }
    const registration = await call(
      "auth.registerTenant",
      { tenant: { name: "N\u0000", slug: uniqueSlug() }, owner: { email: "x@example.com", password, name: "X" } },
      "mutation",
    );
    expect(registration.status).toBe(400);
    expect(registration.body.error.json.message).toBe(
      "Invalid input: tenant.name: must not contain control characters",
    );
  });

  it("answers a malformed request in words meant for a person, never JavaScript's", async () => {
    const send = async (body: string) => {
      const response = await t.app.request("/trpc/auth.login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      return { status: response.status, message: ((await response.json()) as ErrorBody).error.json.message };
    };
    let deep = "1";
    for (let i = 0; i < 20_000; i++) deep = `[${deep}]`;
    for (const body of ["null", "{bad json", "[]", '"text"', `{"json":${deep}}`, '{"json":{},"meta":{"values":7}}']) {
      const { status, message } = await send(body);
      expect(status, body.slice(0, 20)).toBe(400);
      expect(message).not.toMatch(
        /Cannot destructure|Maximum call stack|Unexpected token|is not valid JSON|TypeError|undefined/,
      );
      expect(message).toMatch(/^(Malformed input: |Malformed request|Invalid input: )/);
    }
  });

  it("maps every SQLSTATE of class 22 (data exception) to BAD_REQUEST", async () => {
    // A value no validator here knows to refuse: PostgreSQL's own limits on a date.
    const { clientErrorFromDatabase } = await import("../../server/errors.js");
    for (const code of ["22021", "22007", "22008", "22P05", "22003"]) {
      expect(clientErrorFromDatabase({ code })?.code, code).toBe("BAD_REQUEST");
    }
    expect(clientErrorFromDatabase({ code: "XX000" })).toBeNull();
  });
});

describe("the log", () => {
  it("records an unexpected database error by SQLSTATE, table and request id — never the query's parameters", async () => {
    const app = await createTestApp({ db: t.db });
    await t.admin.execute(
      sql.raw(`create function public.refuse_users() returns trigger language plpgsql set search_path = pg_catalog as $$
               begin raise exception 'refused' using errcode = 'P0001'; end $$`),
    );
    await t.admin.execute(
      sql.raw(
        "create trigger refuse_users before insert on public.users for each row execute function public.refuse_users()",
      ),
    );
    try {
      const email = `secret-person-${Date.now()}@example.com`;
      const code = await codeOf(
        app.client().auth.registerTenant.mutate({
          tenant: { name: "Logged", slug: uniqueSlug() },
          owner: { email, password, name: "Logged" },
        }),
      );
      expect(code).toBe("INTERNAL_SERVER_ERROR");
      const logged = JSON.stringify(app.logger.entries);
      expect(app.logger.entries.find((e) => e.message === "unexpected error")?.fields).toMatchObject({
        sqlState: "P0001",
        requestId: expect.any(String),
        path: "auth.registerTenant",
      });
      expect(logged).not.toContain(email);
      expect(logged).not.toContain("$argon2");
      expect(logged).not.toMatch(/insert|select|params/i);
    } finally {
      await t.admin.execute(sql.raw("drop trigger refuse_users on public.users"));
      await t.admin.execute(sql.raw("drop function public.refuse_users()"));
    }
  });
});

describe("configuration", () => {
  it("refuses a JWT_PREVIOUS_KEYS key shorter than 32 bytes, naming the variable", () => {
    const raw = parseConfig({ JWT_PREVIOUS_KEYS: `old:a,older:${"k".repeat(32)}` });
    expect(() => toAppConfig(raw, testSecret)).toThrow(ConfigError);
    expect(() => toAppConfig(raw, testSecret)).toThrow(/JWT_PREVIOUS_KEYS: the key "old" must be at least 32 bytes/);
    expect(
      toAppConfig(parseConfig({ JWT_PREVIOUS_KEYS: `older:${"k".repeat(32)}` }), testSecret).jwt.previous,
    ).toHaveLength(1);
  });
});
