/**
 * Reading a request's input: superjson's format, checked before superjson walks it.
 *
 * A request body's `meta` is the caller's to write, and superjson trusts it: each
 * `referentialEqualities` path into a Set walks the Set from its start, so one 913 KB body held
 * the event loop for 12 s before any authentication (docs/decisions/001-input-checked-before-superjson.md).
 * Bulkhead's inputs are plain JSON with `undefined` and `Date` values, so anything else —
 * referential equalities, Sets, Maps, classes, a path to nowhere, deep nesting — is refused with
 * BAD_REQUEST in one pass over the input, before superjson sees it.
 */
import { TRPCError } from "@trpc/server";
import superjson from "superjson";

/** The deepest nesting an input may have (the deepest Bulkhead input has 3 levels). */
export const maxInputDepth = 32;

/** The annotations an input may carry, each a leaf. */
const allowedTypes = new Set(["undefined", "Date"]);

/** Path segments superjson refuses too; refusing them here keeps the message ours. */
const forbiddenSegments = new Set(["__proto__", "prototype", "constructor"]);

const refuse = (message: string) => new TRPCError({ code: "BAD_REQUEST", message: `Malformed input: ${message}` });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Refuses JSON nested deeper than `maxInputDepth`, without recursion (so without a stack to overflow). */
function assertShallow(json: unknown) {
  const stack: [unknown, number][] = [[json, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value !== "object" || value === null) continue;
    if (depth >= maxInputDepth) throw refuse(`nested more than ${maxInputDepth} levels deep`);
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
}

/** superjson's path syntax (format version 1): segments split on `.`, with `\.` and `\\` escaped. */
function parsePath(path: string): string[] {
  if (!path.includes("\\")) return path.split(".");
  const segments: string[] = [];
  let segment = "";
  for (let i = 0; i < path.length; i++) {
    const char = path[i];
    if (char === "\\") {
      const next = path[i + 1];
      if (next !== "." && next !== "\\") throw refuse("an annotation path has an invalid escape");
      segment += next;
      i++;
    } else if (char === ".") {
      segments.push(segment);
      segment = "";
    } else {
      segment += char;
    }
  }
  segments.push(segment);
  return segments;
}

/** The value at `path` in `json`, which must exist: a path to nowhere is refused. */
function valueAt(json: unknown, path: string[]): unknown {
  let node = json;
  for (const segment of path) {
    if (forbiddenSegments.has(segment)) throw refuse(`"${segment}" may not appear in an annotation path`);
    if (Array.isArray(node)) {
      const index = Number(segment);
      if (!Number.isInteger(index) || index < 0 || index >= node.length || String(index) !== segment) {
        throw refuse("an annotation names a value that is not in the input");
      }
      node = node[index];
    } else if (isPlainObject(node) && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else {
      throw refuse("an annotation names a value that is not in the input");
    }
  }
  return node;
}

function checkAnnotation(json: unknown, path: string[], annotation: unknown) {
  if (!Array.isArray(annotation) || annotation.length !== 1 || typeof annotation[0] !== "string") {
    throw refuse('annotations must be leaves such as ["Date"]');
  }
  const type = annotation[0];
  if (!allowedTypes.has(type)) throw refuse(`values of type ${JSON.stringify(type.slice(0, 40))} are not accepted`);
  const value = valueAt(json, path);
  if (type === "Date" && (typeof value !== "string" || Number.isNaN(Date.parse(value)))) {
    throw refuse("a Date annotation names a value that is not a date");
  }
}

/**
 * The input of one call, from superjson's `{ json, meta? }`: checked in time linear in its size,
 * then deserialized by superjson itself.
 */
export function deserializeInput(payload: unknown): unknown {
  if (payload === undefined) return undefined;
  if (!isPlainObject(payload) || !Object.hasOwn(payload, "json")) {
    throw refuse('expected superjson\'s format, an object such as {"json": {...}}');
  }
  for (const key of Object.keys(payload)) {
    if (key !== "json" && key !== "meta") throw refuse(`unexpected field "${key.slice(0, 40)}" beside json and meta`);
  }
  const { json, meta } = payload;
  assertShallow(json);
  if (meta === undefined || meta === null) return json;
  if (!isPlainObject(meta)) throw refuse("meta must be an object");
  for (const key of Object.keys(meta)) {
    if (key === "referentialEqualities") throw refuse("referential equalities are not accepted");
    if (key !== "values" && key !== "v") throw refuse(`unexpected field "meta.${key.slice(0, 40)}"`);
  }
  if (meta.v !== undefined && meta.v !== 1) throw refuse("meta.v must be 1");
  const values = meta.values;
  if (values === undefined) return json;
  if (Array.isArray(values)) {
    checkAnnotation(json, [], values);
  } else if (isPlainObject(values)) {
    for (const [path, annotation] of Object.entries(values)) checkAnnotation(json, parsePath(path), annotation);
  } else {
    throw refuse("meta.values must be an object");
  }
  return superjson.deserialize({ json: json as never, meta: { values: values as never, v: 1 } });
}
