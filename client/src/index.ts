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
  httpSubscriptionLink,
  splitLink,
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
/** A session as login, registration, an accepted invitation, a second factor or a refresh returns it. */
export type Session = RouterOutputs["auth"]["refresh"];
/** What `auth.login` answers a member with a second factor: answer it with `auth.mfa.verify`. */
export type MfaChallenge = Extract<RouterOutputs["auth"]["login"], { mfaRequired: true }>;

/** The tokens the client holds; a full `Session` fits. In cookie mode there is no refresh token. */
export interface SessionTokens {
  accessToken: string;
  refreshToken?: string;
}

/**
 * How the refresh token travels. `"bearer"` (the default; servers, CLIs, mobile): in response
 * bodies, kept by you via `session`/`onSession`. `"cookie"` (browsers): only in an HttpOnly
 * cookie JavaScript cannot read; the access token stays in this client's memory, and a reload
 * gets a new one from the cookie on its first call.
 */
export type SessionMode = "bearer" | "cookie";

export interface BulkheadClientOptions {
  /** The tRPC endpoint, e.g. `http://localhost:3000/trpc`. */
  url: string;
  /** `"bearer"` (default) or `"cookie"`; chosen per client, sent with every request. */
  mode?: SessionMode;
  /** A session to start with (e.g. restored from storage; bearer mode). */
  session?: SessionTokens | null;
  /** Called with every new session (login, registration, invitation, refresh) and null when it ends. */
  onSession?: (session: SessionTokens | null) => void;
  /** A `fetch` to use instead of the global one (tests pass `app.fetch`; workers a service binding). */
  fetch?: typeof fetch;
  /**
   * A workspace API key (`bhk_…`) to call with instead of a session: for scripts and services.
   * It is sent as the bearer token; a key never refreshes, and a revoked one fails at once.
   */
  apiKey?: string;
  /** Extra headers on every request, e.g. `{ "x-tenant": "acme" }`. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /**
   * Share refreshes with the other tabs of this origin (Web Locks and BroadcastChannel, where the
   * runtime has them): one tab refreshes at a time, and the others adopt its session instead of
   * spending the token again. A string names the channel. Default: on in cookie mode (a
   * browser's tabs share the one cookie, so they share its session), off in bearer mode (each
   * client keeps the session it was given).
   */
  shareAcrossTabs?: boolean | string;
  /**
   * The `EventSource` live subscriptions (`events.onChange`) use: browsers have one; in Node pass
   * the `eventsource` package's, which then fetches through `fetch` above. Default: the global one.
   */
  EventSource?: EventSourceConstructor;
}

/** An EventSource class: the browser's, or one that takes `{ fetch }` (the `eventsource` package). */
export type EventSourceConstructor = new (
  url: string | URL,
  init?: { withCredentials?: boolean; fetch?: typeof fetch },
) => EventSource;

export type BulkheadClient = TRPCClient<AppRouter>;

/** Paths whose result is a new session the client adopts. */
const sessionPaths = new Set([
  "auth.login",
  "auth.mfa.verify",
  "auth.passkeys.login",
  "auth.registerTenant",
  "auth.acceptInvite",
  "auth.refresh",
]);
/** Paths that must not trigger a refresh-and-retry (they start sessions, or need none). */
const noRetryPaths = new Set([
  "auth.login",
  "auth.mfa.verify",
  "auth.passkeys.loginOptions",
  "auth.passkeys.login",
  "auth.registerTenant",
  "auth.acceptInvite",
  "auth.refresh",
  "auth.requestPasswordReset",
  "auth.resetPassword",
]);

/** The tRPC error code of an error thrown by a client call (`"NOT_FOUND"`, …), or null. */
export function errorCode(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const code = (error.data as { code?: unknown } | undefined)?.code;
    return typeof code === "string" ? code : null;
  }
  return null;
}

/** What a failed call said, in the parts an interface shows; null when the server was not reached. */
export interface ErrorDetails {
  /** The tRPC code: `"BAD_REQUEST"`, `"UNAUTHORIZED"`, … */
  code: string | null;
  /** The server's message: one sentence per invalid field for BAD_REQUEST, never SQL or a stack. */
  message: string;
  /** Invalid fields and their issues (BAD_REQUEST), by input path (`"owner.email"`). */
  fieldErrors: Record<string, string[]>;
  /** Quote it to support: the server logged the failure under it. */
  requestId: string | null;
}

export function errorDetails(error: unknown): ErrorDetails | null {
  if (!(error instanceof TRPCClientError) || !error.data) return null;
  const data = error.data as {
    requestId?: unknown;
    zodError?: { fieldErrors?: Record<string, string[] | undefined> } | null;
  };
  const fieldErrors: Record<string, string[]> = {};
  for (const [field, issues] of Object.entries(data.zodError?.fieldErrors ?? {})) {
    if (issues?.length) fieldErrors[field] = issues;
  }
  return {
    code: errorCode(error),
    message: error.message,
    fieldErrors,
    requestId: typeof data.requestId === "string" ? data.requestId : null,
  };
}

type TabMessage = { type: "session"; session: SessionTokens } | { type: "signed-out" };

/** Web Locks and BroadcastChannel when the runtime has them (browsers); otherwise in-tab only. */
function tabsOf(name: string | null) {
  const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
  const channel = name && typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : null;
  return {
    exclusive: <T>(run: () => Promise<T>): Promise<T> =>
      name && locks ? (locks.request(`${name}:refresh`, run) as Promise<T>) : run(),
    post: (message: TabMessage) => channel?.postMessage(message),
    listen: (handler: (message: TabMessage) => void) => {
      if (channel) channel.onmessage = (event: MessageEvent<TabMessage>) => handler(event.data);
    },
  };
}

/**
 * Creates the typed client. It sends the bearer token, adopts sessions returned by login,
 * registration and invitations, and on UNAUTHORIZED refreshes once and retries; concurrent calls
 * share that one refresh, and so do the tabs of one browser (`shareAcrossTabs`).
 */
export function createBulkheadClient(options: BulkheadClientOptions): BulkheadClient {
  const cookieMode = options.mode === "cookie";
  let session: SessionTokens | null = options.session ?? null;
  // In cookie mode a reload starts with no access token, but the cookie may still hold a session.
  let cookieMayHoldSession = cookieMode;
  let refreshing: Promise<boolean> | null = null;
  const baseFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const fetchImpl: typeof fetch = cookieMode
    ? (input, init) => baseFetch(input, { ...init, credentials: "include" })
    : baseFetch;
  const share = options.shareAcrossTabs ?? cookieMode;
  const tabs = tabsOf(share === false ? null : typeof share === "string" ? share : `bulkhead:${options.url}`);

  const adopt = (next: SessionTokens | null) => {
    session = next;
    cookieMayHoldSession = cookieMode && next !== null;
    options.onSession?.(next);
  };
  const setSession = (next: SessionTokens | null) => {
    adopt(next);
    tabs.post(next ? { type: "session", session: next } : { type: "signed-out" });
  };
  tabs.listen((message) => adopt(message.type === "session" ? message.session : null));

  const headers = () => ({
    ...(typeof options.headers === "function" ? options.headers() : options.headers),
    ...(cookieMode ? { "x-bulkhead-session": "cookie" } : {}),
    ...(session
      ? { authorization: `Bearer ${session.accessToken}` }
      : options.apiKey
        ? { authorization: `Bearer ${options.apiKey}` }
        : {}),
  });

  // A bare client for the refresh call itself, outside the retrying link chain; unbatched, so
  // its URL is the refresh cookie's path.
  const refresher = createTRPCClient<AppRouter>({
    links: [httpLink({ url: options.url, transformer: superjson, fetch: fetchImpl, headers })],
  });

  /** Refreshes unless another call or tab already replaced `staleToken`; true when a session is in hand. */
  const refreshOnce = (staleToken: string | undefined): Promise<boolean> => {
    refreshing ??= tabs
      .exclusive(async () => {
        if (session && session.accessToken !== staleToken) return true;
        const refreshToken = session?.refreshToken;
        if (!cookieMode && !refreshToken) return false;
        if (cookieMode && !cookieMayHoldSession) return false;
        try {
          setSession(toTokens(await refresher.auth.refresh.mutate(cookieMode ? undefined : { refreshToken })));
          return true;
        } catch {
          setSession(null);
          return false;
        }
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
        let subscription: { unsubscribe(): void } | undefined;
        let lastEventId: string | undefined;
        const attempt = () => {
          const tokenUsed = session?.accessToken;
          const resumed = lastEventId === undefined ? op : { ...op, input: { ...(op.input as object), lastEventId } };
          subscription = next(resumed).subscribe({
            next(result) {
              const data = result.result.type === "data" ? result.result.data : undefined;
              // A subscription's tracked events: a retry resumes after the last one.
              // A stream that delivered may be refreshed again when it later fails (a token expired).
              if (op.type === "subscription" && isTracked(data)) {
                lastEventId = data.id;
                retried = false;
              }
              if (sessionPaths.has(op.path) && isSession(data)) setSession(toTokens(data));
              if (op.path === "auth.logout" && endsOwnSession(op.input, session)) setSession(null);
              observer.next(result);
            },
            error(error) {
              const mayRefresh = session !== null || cookieMayHoldSession;
              if (retried || noRetryPaths.has(op.path) || errorCode(error) !== "UNAUTHORIZED" || !mayRefresh) {
                observer.error(error);
                return;
              }
              retried = true;
              void refreshOnce(tokenUsed).then((ok) => (ok ? attempt() : observer.error(error)));
            },
            complete() {
              observer.complete();
            },
          });
        };
        attempt();
        return () => subscription?.unsubscribe();
      });

  // Subscriptions go over SSE. An EventSource sends no headers of ours, so the token (and the
  // tenant, if named) travel as tRPC's connectionParams, read again at every reconnect.
  const connectionParams = () => {
    const named = headers() as Record<string, string | undefined>;
    return {
      ...(session ? { token: session.accessToken } : options.apiKey ? { token: options.apiKey } : {}),
      ...(named["x-tenant"] ? { tenant: named["x-tenant"] } : {}),
    };
  };
  const subscriptions = httpSubscriptionLink({
    url: options.url,
    transformer: superjson,
    connectionParams,
    ...(options.EventSource ? { EventSource: options.EventSource } : {}),
    eventSourceOptions: () => ({
      withCredentials: cookieMode,
      ...(options.fetch ? { fetch: baseFetch } : {}),
    }),
  });

  return createTRPCClient<AppRouter>({
    links: [
      sessionLink,
      splitLink({
        condition: (op) => op.type === "subscription",
        true: subscriptions,
        false: httpBatchLink({
          url: options.url,
          transformer: superjson,
          // The server refuses batches of more than 20 calls; split larger ones.
          maxItems: 20,
          fetch: fetchImpl,
          headers,
        }),
      }),
    ],
  });
}

/** Whether a logout ends this client's session: all of them, or the one of its own refresh token. */
function endsOwnSession(input: unknown, session: SessionTokens | null): boolean {
  const token = (input as { refreshToken?: unknown } | undefined)?.refreshToken;
  return token === undefined || token === session?.refreshToken;
}

/** The tokens of a session response; nothing else of it is kept or shared between tabs. */
function toTokens(session: SessionTokens): SessionTokens {
  return session.refreshToken === undefined
    ? { accessToken: session.accessToken }
    : { accessToken: session.accessToken, refreshToken: session.refreshToken };
}

function isTracked(value: unknown): value is { id: string } {
  return typeof value === "object" && value !== null && typeof (value as { id?: unknown }).id === "string";
}

function isSession(value: unknown): value is SessionTokens {
  return typeof value === "object" && value !== null && typeof (value as SessionTokens).accessToken === "string";
}
