/**
 * The response writer must be superjson, byte for byte: clients deserialize with superjson, and
 * API.md fixes the wire format. Compared against superjson itself on generated values, including
 * everything the one-pass path hands back to superjson.
 */
import fc from "fast-check";
import superjson from "superjson";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isoString, serializeOutput } from "./serializer.js";

const asWire = (serialize: () => unknown) => {
  try {
    return { ok: JSON.stringify(serialize()) };
  } catch (error) {
    return { threw: String(error) };
  }
};

// Keys that exercise superjson's path rules: array-index keys (ordered first), dots and
// backslashes (escaped), leading zeros, the 2^32 - 1 boundary and the keys it refuses.
const key = fc.oneof(
  fc.constantFrom("0", "1", "7", "10", "01", "4294967294", "4294967295", "a.b", "a\\b", "x.", "", "items"),
  fc.constantFrom("__proto__", "constructor", "prototype"),
  fc.string({ maxLength: 6 }),
);

const date = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }),
  fc.constant(new Date(Number.NaN)),
);

const leaf = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(), // NaN, ±Infinity and -0 included
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  date,
  fc.bigInt(),
);

const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("other")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(key, tie("value"), { maxKeys: 5, noNullPrototype: false }),
  other: fc.oneof(
    tie("value").map((v) => new Map([["k", v]])),
    tie("value").map((v) => new Set([v])),
    // The same object reachable twice: superjson writes a referential equality.
    tie("object").map((shared) => ({ a: shared, b: [shared] })),
    date.map((shared) => ({ createdAt: shared, updatedAt: shared })),
    // Rows alike (a page), or nearly: a null date, a missing or extra key, a nested array.
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.tuple(date, date).map(([a, b]) => ({ id: "x", createdAt: a, updatedAt: b })) },
        fc.tuple(date, fc.constantFrom(null, undefined)).map(([a, b]) => ({ id: "y", createdAt: a, updatedAt: b })),
        date.map((a) => ({ createdAt: a })),
        fc.tuple(date, date).map(([a, b]) => ({ createdAt: a, updatedAt: [b] })),
      ),
      { maxLength: 6 },
    ),
    fc.array(tie("value"), { maxLength: 3 }).map((items) => {
      const sparse = [...items];
      sparse.length += 2; // holes
      return sparse;
    }),
  ),
}));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("serializeOutput", () => {
  it("writes exactly what superjson.serialize writes, for any value", () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(asWire(() => serializeOutput(v))).toEqual(asWire(() => superjson.serialize(v)));
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps superjson's annotation order: index keys first at every depth, then the rest", () => {
    const at = (ms: number) => new Date(ms);
    const cases: unknown[] = [
      { a: { "0": { x: at(1) }, "1": at(2), b: at(3) } },
      { "0": { x: at(1) }, "1": at(2) },
      [[at(1)], at(2), { "2": at(3), "a.b": [at(4)] }],
      { a: [[at(1)], at(2)] },
      { items: [{ createdAt: at(1), "10": at(2), "01": at(3) }] },
    ];
    for (const v of cases) expect(JSON.stringify(serializeOutput(v))).toBe(JSON.stringify(superjson.serialize(v)));
  });

  it("reuses the annotations of alike rows only where place, length and shape all match", () => {
    const at = (ms: number) => new Date(ms);
    const rows = (n: number, keys: string[]) =>
      Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((k) => [k, at(i)])));
    const cases: unknown[] = [
      { items: rows(3, ["createdAt", "updatedAt"]), nextCursor: null },
      { items: rows(3, ["createdAt", "updatedAt"]), nextCursor: null }, // the same block again
      { items: rows(2, ["createdAt", "updatedAt"]) }, // shorter
      { items: rows(3, ["updatedAt", "createdAt"]) }, // other key order
      { rows: rows(3, ["createdAt", "updatedAt"]) }, // other place
      { items: rows(3, ["a.b", "0", "10"]) }, // escaped and index keys
      { a: { items: rows(2, ["createdAt"]) }, b: at(9), "0": at(8) }, // inside more
      [at(1), at(2), at(3)],
      [
        [at(1), at(2)],
        [at(3), at(4)],
      ], // arrays of alike arrays
      { items: [...rows(2, ["createdAt"]), { createdAt: at(5), extra: at(6) }] },
      { items: [{ createdAt: at(5), extra: at(6) }, ...rows(2, ["createdAt"])] },
      { items: rows(1001, ["createdAt"]) }, // longer than any block kept
    ];
    for (const v of cases) expect(JSON.stringify(serializeOutput(v))).toBe(JSON.stringify(superjson.serialize(v)));
  });

  it("writes a page of projects in one pass, without superjson, and superjson reads it back", () => {
    const page = {
      items: Array.from({ length: 50 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        name: `Project ${i}`,
        description: i % 2 ? null : "with a . and a \\",
        createdBy: "00000000-0000-4000-8000-000000000000",
        createdAt: new Date(1_795_000_000_000 + i),
        updatedAt: new Date(1_795_000_000_000 + i),
      })),
      nextCursor: "WyIyMDI2LTExLTI3VDE3OjE1OjM5LjEyM1oiLCJpZCJd",
    };
    const general = vi.spyOn(superjson, "serialize");
    const written = serializeOutput(page);
    expect(general).not.toHaveBeenCalled();
    general.mockRestore();
    expect(JSON.stringify(written)).toBe(JSON.stringify(superjson.serialize(page)));
    expect(superjson.deserialize(JSON.parse(JSON.stringify(written)))).toEqual(page);
  });

  it("formats dates as Date#toISOString does, across the whole range", () => {
    const anyDate = fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true });
    const nearNow = fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }).map((ms) => new Date(ms));
    fc.assert(
      fc.property(fc.oneof(anyDate, nearNow), (d) => {
        expect(isoString(d)).toBe(d.toISOString());
      }),
      { numRuns: 5000 },
    );
    for (const ms of [0, -1, 951_782_400_000, 4_107_542_399_999, -62_167_219_200_001, 253_402_300_800_000]) {
      expect(isoString(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });

  it("hands shared objects and non-JSON values to superjson", () => {
    const general = vi.spyOn(superjson, "serialize");
    const at = new Date(0);
    for (const v of [{ a: at, b: at }, undefined, { n: Number.NaN }, new Map(), [1n]]) serializeOutput(v);
    expect(general).toHaveBeenCalledTimes(5);
  });
});
