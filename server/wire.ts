/**
 * The wire format: superjson, as API.md fixes it. Requests are read by superjson itself;
 * responses are written by `serializeOutput`, which produces exactly what `superjson.serialize`
 * produces — key for key, annotation for annotation — for the values procedures return (plain
 * objects and arrays of strings, finite numbers, booleans, nulls and valid Dates, none of them
 * shared), in one pass and without superjson's general machinery, which cost ~230 µs of the
 * ~1.6 ms a 50-row `projects.list` took on the server (BENCHMARKS.md, P2). Anything else —
 * undefined, NaN, -0, bigint, Map, Set, class instances, an object reachable twice — goes to
 * superjson unchanged, so the output is always superjson's. The equivalence is property-tested
 * against superjson (tests/wire.test.ts).
 */
import type { CombinedDataTransformer } from "@trpc/server";
import superjson, { type SuperJSONResult } from "superjson";

type Leaf = readonly string[];

/** Annotations of a container's children, in superjson's order: array-index keys, then the rest. */
interface Pending {
  indices: (string | Leaf)[];
  rest: (string | Leaf | Pending)[];
}

const dateAnnotation: Leaf = Object.freeze(["Date"]);

/** Thrown (and caught below) when a value needs superjson's general path. */
const unsupported = new Error("superjson fallback");

interface Walk {
  seen: Set<object>;
  /** The annotations of the value `walk` last returned. */
  annotations: Leaf | Pending | undefined;
}

function walk(value: unknown, state: Walk): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      state.annotations = undefined;
      return value;
    case "number":
      if (!Number.isFinite(value) || Object.is(value, -0)) throw unsupported;
      state.annotations = undefined;
      return value;
    case "object":
      break;
    default:
      throw unsupported;
  }
  if (value === null) {
    state.annotations = undefined;
    return null;
  }
  // superjson records every object it meets twice as a referential equality: leave those to it.
  if (state.seen.has(value)) throw unsupported;
  state.seen.add(value);
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Date.prototype) {
    const date = value as Date;
    if (Number.isNaN(date.getTime())) throw unsupported;
    state.annotations = dateAnnotation;
    return isoString(date);
  }
  let pending: Pending | undefined;
  let out: unknown[] | Record<string, unknown>;
  if (prototype === Array.prototype) {
    const array = value as unknown[];
    const length = array.length;
    if (Object.keys(array).length !== length) throw unsupported; // holes or extra properties
    const copy = new Array<unknown>(length);
    for (let i = 0; i < length; i++) {
      copy[i] = walk(array[i], state);
      const child = state.annotations;
      if (child !== undefined) {
        pending ??= { indices: [], rest: [] };
        if (isPending(child)) pending.rest.push(`${i}.`, child);
        else pending.indices.push(String(i), child);
      }
    }
    out = copy;
  } else if (prototype === Object.prototype || prototype === null) {
    const object = value as Record<string, unknown>;
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      if (key === "__proto__" || key === "constructor" || key === "prototype") throw unsupported;
      copy[key] = walk(object[key], state);
      const child = state.annotations;
      if (child !== undefined) {
        pending ??= { indices: [], rest: [] };
        const escaped = escapeKey(key);
        if (isPending(child)) pending.rest.push(`${escaped}.`, child);
        else if (isArrayIndex(escaped)) pending.indices.push(escaped, child);
        else pending.rest.push(escaped, child);
      }
    }
    out = copy;
  } else {
    throw unsupported;
  }
  state.annotations = pending;
  return out;
}

const twoDigits = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));
const threeDigits = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
const dayMs = 86_400_000;
let lastDay = Number.NaN;
let lastDayPrefix = "";

/**
 * `date.toISOString()`, several times faster: V8's takes ~1 µs here, and a page of 50 rows has
 * 100 timestamps (the baseline's `JSON.stringify` pays the same). Years 0–9999 only; others
 * (written `+010000-…`) take the engine's. The calendar day is cached: rows cluster in time.
 */
export function isoString(date: Date): string {
  const time = date.getTime();
  const day = Math.floor(time / dayMs);
  if (day !== lastDay) {
    // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    const z = day + 719_468;
    const era = Math.floor(z / 146_097);
    const dayOfEra = z - era * 146_097;
    const yearOfEra = Math.floor(
      (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
    );
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
    const shifted = Math.floor((5 * dayOfYear + 2) / 153);
    const dayOfMonth = dayOfYear - Math.floor((153 * shifted + 2) / 5) + 1;
    const month = shifted < 10 ? shifted + 3 : shifted - 9;
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 0 || year > 9999) return date.toISOString();
    lastDay = day;
    lastDayPrefix = `${String(year).padStart(4, "0")}-${twoDigits[month]}-${twoDigits[dayOfMonth]}T`;
  }
  const inDay = time - day * dayMs;
  const seconds = Math.floor(inDay / 1000);
  return `${lastDayPrefix}${twoDigits[Math.floor(seconds / 3600)]}:${twoDigits[Math.floor(seconds / 60) % 60]}:${twoDigits[seconds % 60]}.${threeDigits[inDay - seconds * 1000]}Z`;
}

const isPending = (annotations: Leaf | Pending): annotations is Pending => !Array.isArray(annotations);

/** superjson's path escaping: `.` and `\` in keys are backslash-escaped. */
const escapeKey = (key: string) =>
  key.indexOf("\\") === -1 && key.indexOf(".") === -1 ? key : key.replace(/\\/g, "\\\\").replace(/\./g, "\\.");

/** Whether `key` is a canonical array index (what JavaScript orders first among an object's keys). */
function isArrayIndex(key: string): boolean {
  const length = key.length;
  if (length === 0 || length > 10) return false;
  for (let i = 0; i < length; i++) {
    const code = key.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  if (key.charCodeAt(0) === 48) return length === 1;
  return length < 10 || +key < 4294967295;
}

/** Flattens nested annotations into superjson's `{ "a.0.b": ["Date"] }` record, in its order. */
function materialize(pending: Pending, prefix: string, out: Record<string, Leaf>): Record<string, Leaf> {
  const { indices, rest } = pending;
  for (let i = 0; i < indices.length; i += 2) out[prefix + (indices[i] as string)] = indices[i + 1] as Leaf;
  for (let i = 0; i < rest.length; i += 2) {
    const annotations = rest[i + 1] as Leaf | Pending;
    if (isPending(annotations)) materialize(annotations, prefix + (rest[i] as string), out);
    else out[prefix + (rest[i] as string)] = annotations;
  }
  return out;
}

/** `superjson.serialize(value)`, byte for byte once stringified, in one pass where it can be. */
export function serializeOutput(value: unknown): SuperJSONResult {
  const state: Walk = { seen: new Set(), annotations: undefined };
  let json: unknown;
  try {
    json = walk(value, state);
  } catch (error) {
    if (error === unsupported) return superjson.serialize(value);
    throw error;
  }
  const annotations = state.annotations;
  if (annotations === undefined) return { json } as SuperJSONResult;
  const values = isPending(annotations) ? materialize(annotations, "", {}) : annotations;
  return { json, meta: { values, v: 1 } } as SuperJSONResult;
}

/** tRPC's transformer: superjson in, superjson's format out (written by `serializeOutput`). */
export const transformer: CombinedDataTransformer = {
  input: superjson,
  output: {
    serialize: serializeOutput,
    deserialize: (value) => superjson.deserialize(value),
  },
};
