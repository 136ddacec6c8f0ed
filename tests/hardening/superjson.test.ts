/**
 * Finding 1: a request body's superjson `meta` made the deserializer walk a Set once per
 * referential-equality path (keys × set size): one 913 KB login held the event loop for 12 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deserializeInput } from "../../server/input.js";
import { createTestApp, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** The review's body: a 55,000-number array declared a Set, and 27,000 paths into it. */
function attackBody(): string {
  const s = Array.from({ length: 55_000 }, (_, i) => i);
  const referentialEqualities: Record<string, string[]> = {};
  for (let i = 0; i < 27_000; i++) referentialEqualities[`s.${i}`] = [`s.${i}`];
  return JSON.stringify({
    json: { tenantSlug: "acme", email: "a@example.com", password: "correct horse battery staple", s },
    meta: { values: { s: ["set"] }, referentialEqualities, v: 1 },
  });
}

const post = (body: string) =>
  t.app.request("/trpc/auth.login", { method: "POST", headers: { "content-type": "application/json" }, body });

describe("superjson input", () => {
  it("refuses the 913 KB Set attack with 400, and /healthz answers during 10 of them at once", async () => {
    const body = attackBody();
    expect(body.length).toBeGreaterThan(850_000);
    expect(body.length).toBeLessThan(1024 * 1024);
    const started = performance.now();
    const attacks = Array.from({ length: 10 }, () => post(body));
    const health = Promise.resolve(t.app.request("/healthz")).then(() => performance.now() - started);
    const responses = await Promise.all(attacks);
    const healthMs = await health;
    const allMs = performance.now() - started;
    for (const response of responses) expect(response.status).toBe(400);
    const first = (await responses[0]?.json()) as { error: { json: { message: string } } } | undefined;
    const message = first?.error.json.message;
    expect(message).toMatch(/^Malformed input: /);
    // The attack took 12,433 ms for one request; a generous bound that a busy machine still meets.
    expect(healthMs).toBeLessThan(1000);
    console.log(
      `10 attack bodies refused in ${allMs.toFixed(0)} ms; /healthz answered after ${healthMs.toFixed(0)} ms`,
    );
  });

  it("refuses small meta abuse over HTTP too, before authentication", async () => {
    const login = { tenantSlug: "acme", email: "a@example.com", password: "correct horse battery staple", s: [1, 2] };
    for (const meta of [
      { referentialEqualities: { "s.0": ["s.1"] } },
      { values: { s: ["set"] } },
      { values: { s: ["map"] } },
      { values: { tenantSlug: ["bigint"] } },
    ]) {
      const response = await post(JSON.stringify({ json: login, meta }));
      expect(response.status, JSON.stringify(meta)).toBe(400);
    }
  });

  it("refuses Sets, Maps, classes, referential equalities and paths to nowhere, and keeps Dates and undefined", () => {
    const refused = (payload: unknown) => {
      try {
        deserializeInput(payload);
        return null;
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(refused({ json: { a: [1] }, meta: { values: { a: ["set"] } } })).toMatch(/not accepted/);
    expect(refused({ json: { a: [[1, 2]] }, meta: { values: { a: ["map"] } } })).toMatch(/not accepted/);
    expect(refused({ json: { a: 1 }, meta: { values: { a: ["class", "X"] } } })).toMatch(/leaves/);
    expect(refused({ json: { a: {}, b: {} }, meta: { referentialEqualities: { a: ["b"] } } })).toMatch(/referential/);
    expect(refused({ json: { a: 1 }, meta: { values: { "b.c.d": ["undefined"] } } })).toMatch(/not in the input/);
    expect(refused({ json: { a: 1 }, meta: { values: { "__proto__.x": ["undefined"] } } })).toMatch(/__proto__/);
    expect(refused({ json: { a: "not a date" }, meta: { values: { a: ["Date"] } } })).toMatch(/not a date/);
    expect(refused(null)).toMatch(/superjson's format/);
    expect(refused({ json: 1, extra: 2 })).toMatch(/unexpected field/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(refused({ json: deep })).toMatch(/nested more than 32 levels/);

    const when = new Date("2026-01-02T03:04:05.678Z");
    expect(
      deserializeInput({
        json: { at: when.toISOString(), gone: null, "a.b": { c: null } },
        meta: { values: { at: ["Date"], gone: ["undefined"], "a\\.b.c": ["undefined"] }, v: 1 },
      }),
    ).toEqual({ at: when, gone: undefined, "a.b": { c: undefined } });
    expect(deserializeInput({ json: null, meta: { values: ["undefined"], v: 1 } })).toBeUndefined();
  });

  it("takes time linear in the input: a 1 MiB body of the allowed annotations is read in a bounded time", async () => {
    const rows = Array.from({ length: 15_000 }, (_, i) => ({ at: new Date(i).toISOString() }));
    const values: Record<string, string[]> = {};
    rows.forEach((_, i) => {
      values[`rows.${i}.at`] = ["Date"];
    });
    const body = JSON.stringify({
      json: { tenantSlug: "acme", email: "a@example.com", password: "x", rows },
      meta: { values },
    });
    expect(body.length).toBeLessThan(1024 * 1024);
    const started = performance.now();
    const response = await post(body);
    expect(response.status).toBeLessThan(500);
    // ~0.3 s alone; generous for a machine running other suites at once.
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
