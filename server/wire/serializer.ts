/**
 * The wire format: superjson, as API.md fixes it. Requests are checked (server/input.ts), then read by superjson;
 * responses are written by `serializeOutput`, which produces exactly what `superjson.serialize`
 * produces — key for key, annotation for annotation — for the values procedures return (plain
 * objects and arrays of strings, finite numbers, booleans, nulls and valid Dates, none of them
 * shared), in one pass and without superjson's general machinery. Anything else —
 * undefined, NaN, -0, bigint, Map, Set, class instances, an object reachable twice — goes to
 * superjson unchanged, so the output is always superjson's. The equivalence is property-tested
 * against superjson (serializer.test.ts); docs/decisions/008-one-pass-serializer.md has what it
 * buys.
 */
import superjson, { type SuperJSONResult } from "superjson";

type Leaf = readonly string[];

/** Annotations of a container's children, in superjson's order: array-index keys, then the rest. */
interface Pending {
  indices: (string | Leaf)[];
  rest: (string | Leaf | Container)[];
}

/**
 * Annotations of an array whose `count` elements all carry the same: the same leaf (an array
 * of Dates), or the same leaves under the same keys (a page of rows, each with its Dates).
 * Its flattened keys depend only on where it is, its length and that shape, so they are made
 * once and reused (`uniformBlock`): a page of 50 rows has 100 of them.
 */
interface Uniform {
  uniform: true;
  count: number;
  element: Leaf | Pending;
}

type Container = Pending | Uniform;

const dateAnnotation: Leaf = Object.freeze(["Date"]);

/** Thrown (and caught below) when a value needs superjson's general path. */
const unsupported = new Error("superjson fallback");

interface Walk {
  seen: Set<object>;
  /** The annotations of the value `walk` last returned. */
  annotations: Leaf | Container | undefined;
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
    // The first element's annotations, while every element so far has the same (see Uniform).
    let same: Leaf | Pending | undefined;
    for (let i = 0; i < length; i++) {
      copy[i] = walk(array[i], state);
      const child = state.annotations;
      if (i === 0) same = child !== undefined && isSimple(child) ? child : undefined;
      else if (same !== undefined && (child === undefined || !sameSimple(same, child))) same = undefined;
      if (child !== undefined) {
        pending ??= { indices: [], rest: [] };
        if (isContainer(child)) pending.rest.push(`${i}.`, child);
        else pending.indices.push(String(i), child);
      }
    }
    out = copy;
    if (same !== undefined && length <= maxUniformLength) {
      state.annotations = { uniform: true, count: length, element: same };
      return out;
    }
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
        if (isContainer(child)) pending.rest.push(`${escaped}.`, child);
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

const dayMs = 86_400_000;
const zero = 48;
let lastDay = Number.NaN;
// The cached day's "YYYY-MM-DD" as character codes.
let y0 = 0;
let y1 = 0;
let y2 = 0;
let y3 = 0;
let mo0 = 0;
let mo1 = 0;
let d0 = 0;
let d1 = 0;

/**
 * `date.toISOString()`, several times faster (a page of 50 rows has 100 timestamps; decision
 * 008 and BENCHMARKS.md, "What changed to get here"). The string is made in one
 * piece from its character codes: a template literal made ~8 intermediate strings per call
 * (~26 KB a page, all garbage). Years 0–9999 only; others (written `+010000-…`) take the
 * engine's. The calendar day is cached: rows cluster in time.
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
    y0 = zero + Math.floor(year / 1000);
    y1 = zero + (Math.floor(year / 100) % 10);
    y2 = zero + (Math.floor(year / 10) % 10);
    y3 = zero + (year % 10);
    mo0 = zero + Math.floor(month / 10);
    mo1 = zero + (month % 10);
    d0 = zero + Math.floor(dayOfMonth / 10);
    d1 = zero + (dayOfMonth % 10);
  }
  const inDay = time - day * dayMs;
  const seconds = Math.floor(inDay / 1000);
  const ms = inDay - seconds * 1000;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor(seconds / 60) % 60;
  const secs = seconds % 60;
  // "YYYY-MM-DDTHH:MM:SS.mmmZ": 45 "-", 84 "T", 58 ":", 46 ".", 90 "Z".
  return String.fromCharCode(
    y0,
    y1,
    y2,
    y3,
    45,
    mo0,
    mo1,
    45,
    d0,
    d1,
    84,
    zero + Math.floor(hours / 10),
    zero + (hours % 10),
    58,
    zero + Math.floor(minutes / 10),
    zero + (minutes % 10),
    58,
    zero + Math.floor(secs / 10),
    zero + (secs % 10),
    46,
    zero + Math.floor(ms / 100),
    zero + (Math.floor(ms / 10) % 10),
    zero + (ms % 10),
    90,
  );
}

const isContainer = (annotations: Leaf | Container): annotations is Container => !Array.isArray(annotations);
const isUniform = (container: Container): container is Uniform => "uniform" in container;

/** A leaf, or the annotations of an object whose annotated children are all leaves. */
function isSimple(annotations: Leaf | Container): annotations is Leaf | Pending {
  if (!isContainer(annotations)) return true;
  if (isUniform(annotations)) return false;
  const { rest } = annotations;
  for (let i = 1; i < rest.length; i += 2) if (isContainer(rest[i] as Leaf | Container)) return false;
  return true;
}

/** Whether `other` is the same as `simple` (from `isSimple`): same leaves under the same keys. */
function sameSimple(simple: Leaf | Pending, other: Leaf | Container): boolean {
  if (!isContainer(simple)) return simple === other;
  if (!isContainer(other) || isUniform(other)) return false;
  return sameItems(simple.indices, other.indices) && sameItems(simple.rest, other.rest);
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Longest array treated as uniform (pages are at most 100). */
const maxUniformLength = 1000;
/** Largest block kept for reuse, in keys, and how many distinct blocks are kept. */
const maxBlockKeys = 4096;
const maxUniformBlocks = 256;
const uniformBlocks = new Map<string, Readonly<Record<string, Leaf>>>();

/**
 * The flattened annotations of `uniform` at `prefix`, in superjson's order, made once per
 * place, length and shape: element 0's keys, then element 1's, and so on (an array's elements
 * are all leaves or all containers, so all sit in one half of its `Pending`). Frozen: shared by
 * every response with that shape (its leaves are never changed either).
 */
function uniformBlock(uniform: Uniform, prefix: string): Readonly<Record<string, Leaf>> {
  const { count, element } = uniform;
  const shape = isContainer(element) ? materialize(element, "", {}) : undefined;
  const id = shape
    ? `${prefix}\u0000${count}\u0000${Object.entries(shape)
        .map(([key, leaf]) => `${key}\u0001${leaf.join("\u0001")}`)
        .join("\u0000")}`
    : `${prefix}\u0000${count}\u0001${(element as Leaf).join("\u0001")}`;
  let block = uniformBlocks.get(id);
  if (block) return block;
  const out: Record<string, Leaf> = {};
  for (let i = 0; i < count; i++) {
    if (!shape) {
      out[prefix + String(i)] = element as Leaf;
      continue;
    }
    const at = `${prefix}${i}.`;
    for (const key in shape) out[at + key] = shape[key] as Leaf;
  }
  // Rebuilt by JSON.parse, which gives an object fast properties: the loop above leaves one of
  // 100 keys in dictionary mode, which JSON.stringify writes markedly slower (BENCHMARKS.md).
  block = Object.freeze(JSON.parse(JSON.stringify(out)) as Record<string, Leaf>);
  if (count * (shape ? Object.keys(shape).length : 1) <= maxBlockKeys) {
    if (uniformBlocks.size >= maxUniformBlocks) uniformBlocks.clear();
    uniformBlocks.set(id, block);
  }
  return block;
}

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
function materialize(container: Container, prefix: string, out: Record<string, Leaf>): Record<string, Leaf> {
  if (isUniform(container)) {
    const block = uniformBlock(container, prefix);
    for (const key in block) out[key] = block[key] as Leaf;
    return out;
  }
  const { indices, rest } = container;
  for (let i = 0; i < indices.length; i += 2) out[prefix + (indices[i] as string)] = indices[i + 1] as Leaf;
  for (let i = 0; i < rest.length; i += 2) {
    const annotations = rest[i + 1] as Leaf | Container;
    if (isContainer(annotations)) materialize(annotations, prefix + (rest[i] as string), out);
    else out[prefix + (rest[i] as string)] = annotations;
  }
  return out;
}

/**
 * superjson's annotation record for the whole value. When it is one uniform array's block
 * (a page: `{ items: [...], nextCursor }`), that block is the record, shared, not copied.
 */
function annotationRecord(annotations: Container): Readonly<Record<string, Leaf>> {
  if (isUniform(annotations)) return uniformBlock(annotations, "");
  const { indices, rest } = annotations;
  const only = rest[1] as Leaf | Container;
  if (indices.length === 0 && rest.length === 2 && isContainer(only) && isUniform(only)) {
    return uniformBlock(only, rest[0] as string);
  }
  return materialize(annotations, "", {});
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
  const values = isContainer(annotations) ? annotationRecord(annotations) : annotations;
  return { json, meta: { values, v: 1 } } as SuperJSONResult;
}
