import type { Sql } from "postgres";

/**
 * drizzle's postgres.js driver sends every query that is not explicitly `.prepare()`d as an
 * unnamed statement (`prepare: false`), so PostgreSQL parses and plans it on every call — which
 * halved read throughput in the P1 benchmark. postgres.js itself can keep a per-connection cache
 * of named statements keyed by the SQL text; this wrapper turns that on for drizzle's queries,
 * inside transactions too. Only for direct connections: behind PgBouncer in transaction mode
 * named statements must stay off (DATABASE_PREPARE=false), and then the client is used as is.
 */
export function withStatementCache(client: Sql): Sql {
  return wrap(client) as Sql;
}

const cached = new WeakSet<object>();

/** Whether `client` came from `withStatementCache` (so connections reserved from it should too). */
export function usesStatementCache(client: object): boolean {
  return cached.has(client);
}

type Callback = (sql: unknown) => unknown;
type Method = (...args: unknown[]) => unknown;
type Overridden = "unsafe" | "begin" | "savepoint";

function wrap<T extends object>(target: T): T {
  const client = target as unknown as Record<Overridden, Method>;
  // The replacements are made once per wrapped client and call the client's own methods. Made
  // anew on every read, closing over the method just read and calling it with `.call`, they kept
  // every page of rows a query returned alive through young-generation collections: each
  // request's rows were promoted and left for full collections (~15 KB a `projects.list`
  // request, scavenges 3-4x slower). A direct or method call from such a closure, or `.call` from
  // a closure made once, does not do it (BENCHMARKS.md, "What held P2 under its line").
  const overrides: Record<Overridden, Method> = {
    // postgres.js also takes `unsafe(query, options)`.
    unsafe: (query, params, options) =>
      Array.isArray(params) || params === undefined
        ? client.unsafe(query, params ?? [], { ...(options as object), prepare: true })
        : client.unsafe(query, [], { ...(params as object), prepare: true }),
    begin: (...args) => client.begin(...withWrappedCallback(args)),
    savepoint: (...args) => client.savepoint(...withWrappedCallback(args)),
  };
  const proxy = new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value === "function" && Object.hasOwn(overrides, property)) return overrides[property as Overridden];
      return value;
    },
  });
  cached.add(proxy);
  return proxy;
}

/** `begin`'s and `savepoint`'s arguments with their callback given the wrapped transaction. */
function withWrappedCallback(args: unknown[]): unknown[] {
  const index = args.findIndex((arg) => typeof arg === "function");
  const callback = args[index] as Callback | undefined;
  if (!callback) return args;
  const wrapped = [...args];
  wrapped[index] = (sql: object) => callback(wrap(sql));
  return wrapped;
}
