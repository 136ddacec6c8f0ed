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

function wrap<T extends object>(target: T): T {
  const proxy = new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (property === "unsafe" && typeof value === "function") {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          value.call(object, query, params, { ...options, prepare: true });
      }
      if ((property === "begin" || property === "savepoint") && typeof value === "function") {
        return (...args: unknown[]) => {
          const index = args.findIndex((arg) => typeof arg === "function");
          const callback = args[index] as Callback | undefined;
          if (callback) args[index] = (sql: object) => callback(wrap(sql));
          return value.apply(object, args);
        };
      }
      return value;
    },
  });
  cached.add(proxy);
  return proxy;
}
