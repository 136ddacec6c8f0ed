import type { Sql } from "postgres";

/**
 * Makes every query Drizzle sends through postgres.js a named statement, planned once per
 * connection, inside transactions too; direct connections only, never behind PgBouncer in
 * transaction mode (docs/decisions/009-named-statements-on-postgres-js.md).
 */
export function withStatementCache(client: Sql): Sql {
  return wrap(client) as Sql;
}

type Callback = (sql: unknown) => unknown;
type Method = (...args: unknown[]) => unknown;
type Overridden = "unsafe" | "begin" | "savepoint";

function wrap<T extends object>(target: T): T {
  const client = target as unknown as Record<Overridden, Method>;
  // Made once per wrapped client: made per read and calling through `.call`, they kept every
  // page of rows alive past V8's young generation (decision 009).
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
