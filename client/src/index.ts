/**
 * @bulkhead/client — the typed client for the Bulkhead API, for browsers, Node and workers.
 *
 * @example
 * const api = createBulkheadClient({ url: "http://localhost:3000/trpc" });
 * await api.auth.registerTenant.mutate({
 *   tenant: { name: "Acme", slug: "acme" },
 *   owner: { email: "ada@acme.test", password: "correct horse battery", name: "Ada" },
 * });
 * const page = await api.projects.list.query({ limit: 10 }); // signed in by the call above
 */
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  type TRPCClient,
  TRPCClientError,
  type TRPCLink,
} from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { observable } from "@trpc/server/observable";
import superjson from "superjson";
import type { AppRouter } from "../../server/routers/_app.js";

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Session = RouterOutputs["auth"]["login"];

/** The tokens the client needs; a full `Session` fits. */
export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
}

export interface BulkheadClientOptions {
  /** The tRPC endpoint, e.g. `http://localhost:3000/trpc`. */
  url: string;
  /** A session to start with (e.g. restored from storage). */
  session?: SessionTokens | null;
  /** Called with every new session (login, registration, invitation, refresh) and null when it ends. */
  onSession?: (session: SessionTokens | null) => void;
  /** A `fetch` to use instead of the global one (tests pass `app.fetch`; workers a service binding). */
  fetch?: typeof fetch;
  /** Extra headers on every request, e.g. `{ "x-tenant": "acme" }`. */
  headers?: Record<string, string> | (() => Record<string, string>);
}

export type BulkheadClient = TRPCClient<AppRouter>;

/** Paths whose result is a new session the client adopts. */
const sessionPaths = new Set(["auth.login", "auth.registerTenant", "auth.acceptInvite", "auth.refresh"]);
/** Paths that must not trigger a refresh-and-retry (they are how sessions start). */
const noRetryPaths = new Set(["auth.login", "auth.registerTenant", "auth.acceptInvite", "auth.refresh"]);

/** The tRPC error code of an error thrown by a client call (`"NOT_FOUND"`, …), or null. */
export function errorCode(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const code = (error.data as { code?: unknown } | undefined)?.code;
    return typeof code === "string" ? code : null;
  }
  return null;
}

/**
 * Creates the typed client. It sends the bearer token, adopts sessions returned by login,
 * registration and invitations, and on UNAUTHORIZED refreshes once with the refresh token and
 * retries; concurrent calls share that one refresh.
 */
export function createBulkheadClient(options: BulkheadClientOptions): BulkheadClient {
  let session: SessionTokens | null = options.session ?? null;
  let refreshing: Promise<boolean> | null = null;
  const fetchImpl = options.fetch;

  const setSession = (next: SessionTokens | null) => {
    session = next;
    options.onSession?.(next);
  };

  const headers = () => ({
    ...(typeof options.headers === "function" ? options.headers() : options.headers),
    ...(session ? { authorization: `Bearer ${session.accessToken}` } : {}),
  });

  // A bare client for the refresh call itself, outside the retrying link chain.
  const refresher = createTRPCClient<AppRouter>({
    links: [
      httpLink({ url: options.url, transformer: superjson, ...(fetchImpl ? { fetch: fetchImpl } : {}), headers }),
    ],
  });

  const refreshOnce = (): Promise<boolean> => {
    const refreshToken = session?.refreshToken;
    if (!refreshToken) return Promise.resolve(false);
    refreshing ??= refresher.auth.refresh
      .mutate({ refreshToken })
      .then((next) => {
        setSession(next);
        return true;
      })
      .catch(() => {
        setSession(null);
        return false;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  };

  const sessionLink: TRPCLink<AppRouter> =
    () =>
    ({ op, next }) =>
      observable((observer) => {
        let retried = false;
        let tokenUsed = session?.accessToken;
        let subscription: { unsubscribe(): void } | undefined;
        const attempt = () => {
          tokenUsed = session?.accessToken;
          subscription = next(op).subscribe({
            next(result) {
              const data = result.result.type === "data" ? result.result.data : undefined;
              if (sessionPaths.has(op.path) && isSession(data)) setSession(data);
              observer.next(result);
            },
            error(error) {
              if (retried || noRetryPaths.has(op.path) || errorCode(error) !== "UNAUTHORIZED" || !session) {
                observer.error(error);
                return;
              }
              retried = true;
              // Another call may have refreshed already while this one was in flight.
              const renewed = session.accessToken !== tokenUsed ? Promise.resolve(true) : refreshOnce();
              void renewed.then((ok) => (ok ? attempt() : observer.error(error)));
            },
            complete() {
              observer.complete();
            },
          });
        };
        attempt();
        return () => subscription?.unsubscribe();
      });

  return createTRPCClient<AppRouter>({
    links: [
      sessionLink,
      httpBatchLink({
        url: options.url,
        transformer: superjson,
        // The server refuses batches of more than 20 calls; split larger ones.
        maxItems: 20,
        ...(fetchImpl ? { fetch: fetchImpl } : {}),
        headers,
      }),
    ],
  });
}

function isSession(value: unknown): value is SessionTokens {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as SessionTokens).accessToken === "string" &&
    typeof (value as SessionTokens).refreshToken === "string"
  );
}
