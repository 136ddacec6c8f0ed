/**
 * One structured line per request, the slow ones named again, the busiest tenants once a minute,
 * and the same facts handed to the metrics (when the entry point gives the app some). Web-standard
 * only: the Worker logs the same way. Never a token, a password, a query string or any input.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../deps.js";

/** What a request learns about itself while it runs; the tRPC context and routes fill it in. */
export interface RequestFacts {
  tenantId: string | null;
  userId: string | null;
  /** tRPC error codes by procedure path, as the handler reported them. */
  failures: Map<string, string>;
}

/** One call of a request, as metrics count it: a known procedure (or route) and its outcome. */
export interface CallOutcome {
  procedure: string;
  code: string;
}

/** What metrics take from the access log (server/observability/metrics.ts implements it). */
export interface RequestObserver {
  observeRequest(calls: CallOutcome[], seconds: number): void;
}

export interface AccessLogOptions {
  logger: Logger;
  /** Procedure paths the router has: any other name in a URL is "unknown" (names are labels). */
  procedures: ReadonlySet<string>;
  slowRequestMs: number;
  observer?: RequestObserver | undefined;
  /**
   * Where the runtime can tell when a response has been sent and how many bytes its body had
   * (Node: the socket), the line waits for that: its duration is then to the last byte, and its
   * size is known for streamed bodies too. Returns false when it cannot tell for this request.
   */
  whenSent?: ((env: unknown, done: (bytes: number | null) => void) => boolean) | undefined;
  /** How often the busiest tenants are logged (default 60 s), and how many (default 10). */
  noisyWindowMs?: number;
  noisyTop?: number;
}

const trpcPrefix = "/trpc/";
// Bounded memory for the busiest-tenants window: past this many tenants, the rest go uncounted.
const maxTrackedTenants = 10_000;

/** The procedure names a tRPC URL asks for, each known to the router or "unknown"; at most 20. */
export function proceduresOf(pathname: string, known: ReadonlySet<string>): string[] {
  if (!pathname.startsWith(trpcPrefix)) return [];
  return pathname
    .slice(trpcPrefix.length)
    .split(",", 21)
    .slice(0, 20)
    .map((name) => {
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {}
      return known.has(decoded) ? decoded : "unknown";
    });
}

/** The outcome code of a response without a tRPC error of its own. */
const codeOfStatus = (status: number) => (status < 400 ? "OK" : `HTTP_${status}`);

export function accessLog(options: AccessLogOptions): MiddlewareHandler<{
  Variables: { requestId: string; facts: RequestFacts };
}> {
  const { logger, procedures, slowRequestMs, observer } = options;
  const windowMs = options.noisyWindowMs ?? 60_000;
  const top = options.noisyTop ?? 10;
  let windowStart = Date.now();
  let byTenant = new Map<string, { requests: number; ms: number }>();

  const countTenant = (tenantId: string, ms: number) => {
    const seen = byTenant.get(tenantId);
    if (seen) {
      seen.requests++;
      seen.ms += ms;
    } else if (byTenant.size < maxTrackedTenants) byTenant.set(tenantId, { requests: 1, ms });
  };
  const flushNoisy = (now: number) => {
    if (now - windowStart < windowMs) return;
    const tenants = [...byTenant]
      .sort((a, b) => b[1].requests - a[1].requests || b[1].ms - a[1].ms)
      .slice(0, top)
      .map(([tenantId, seen]) => ({ tenantId, requests: seen.requests, totalMs: Math.round(seen.ms) }));
    if (tenants.length > 0) {
      logger.info("busiest tenants", { windowSeconds: Math.round((now - windowStart) / 1000), tenants });
    }
    windowStart = now;
    byTenant = new Map();
  };

  return async (c, next) => {
    const started = performance.now();
    const facts: RequestFacts = { tenantId: null, userId: null, failures: new Map() };
    c.set("facts", facts);
    // The runtime may report the response sent before the handler is done (a client that went
    // away): the line is written once both have happened, exactly once.
    let response: { status: number; length: string | null; stream: boolean } | null = null;
    let sent: { bytes: number | null; at: number } | null = null;
    const finish = () => {
      if (!response || !sent) return;
      const bytes = sent.bytes ?? (response.length === null ? null : Number(response.length));
      record(
        c.get("requestId"),
        c.req.method,
        c.req.path,
        routePath(c),
        facts,
        response.status,
        sent.at - started,
        bytes,
        response.stream,
      );
    };
    const waiting =
      options.whenSent?.(c.env, (bytes) => {
        sent = { bytes, at: performance.now() };
        finish();
      }) ?? false;
    try {
      await next();
    } finally {
      response = {
        status: c.res.status,
        length: c.res.headers.get("content-length"),
        stream: c.res.headers.get("content-type")?.startsWith("text/event-stream") ?? false,
      };
      if (!waiting) sent = { bytes: null, at: performance.now() };
      finish();
    }
  };

  function record(
    requestId: string,
    method: string,
    pathname: string,
    route: string,
    facts: RequestFacts,
    status: number,
    ms: number,
    bytes: number | null,
    /** A live stream (SSE): long by design, so never a "slow request". */
    stream: boolean,
  ) {
    const called = proceduresOf(pathname, procedures);
    const calls: CallOutcome[] =
      called.length > 0
        ? called.map((procedure) => ({ procedure, code: facts.failures.get(procedure) ?? codeOfStatus(status) }))
        : [{ procedure: route, code: codeOfStatus(status) }];
    const line = {
      requestId,
      method,
      path: called.length > 0 ? "/trpc" : pathname.slice(0, 200),
      procedures: called.length > 0 ? called : undefined,
      tenantId: facts.tenantId ?? undefined,
      userId: facts.userId ?? undefined,
      status,
      codes: calls.some((call) => call.code !== "OK") ? calls.map((call) => call.code) : undefined,
      durationMs: Math.round(ms * 10) / 10,
      bytes: bytes ?? undefined,
    };
    logger.info("request", line);
    if (ms > slowRequestMs && !stream) logger.warn("slow request", { ...line, slowRequestMs });
    observer?.observeRequest(calls, ms / 1000);
    if (facts.tenantId) countTenant(facts.tenantId, ms);
    flushNoisy(Date.now());
  }
}
