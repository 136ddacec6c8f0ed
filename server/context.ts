import type { Database } from "../db/types.js";
import type { KeyBudget } from "./auth/api-keys.js";
import type { BrowserSession } from "./auth/browser.js";
import type { Encryption } from "./auth/encryption.js";
import type { TokenService } from "./auth/tokens.js";
import type { AppConfig } from "./config.js";
import type { Clock, Logger, PasswordHasher } from "./deps.js";
import type { EventHub } from "./events/hub.js";
import type { RequestFacts } from "./observability/access-log.js";

/** What every procedure may use, whether or not a request is at hand. */
export interface ContextInnerOptions {
  database: Database;
  config: AppConfig;
  hasher: PasswordHasher;
  tokens: TokenService;
  /** Encrypts the secrets the server reads back (ENCRYPTION_KEY; `auth/encryption.ts`). */
  encryption: Encryption;
  clock: Clock;
  logger: Logger;
  /** A hash of a random password: what login verifies against when the user is unknown. */
  dummyPasswordHash: () => Promise<string>;
  requestId: string;
  /** The bearer token, if any. */
  accessToken: string | null;
  /** The tenant slug the request names (X-Tenant, or the subdomain of BASE_DOMAIN). */
  tenantHint: string | null;
  clientAddress: string | null;
  /** The request's User-Agent, shortened and without control characters (for the sessions list). */
  userAgent: string | null;
  /** Response headers a procedure may add to (e.g. Retry-After). */
  resHeaders: Headers;
  /** The request's session mode and refresh cookie (`auth/browser.ts`). */
  browser: BrowserSession;
  /** What the access log records about this request: the verified caller fills it in. */
  facts: RequestFacts;
  /** The server's live event streams (caps, wake-ups, shutdown). */
  events: EventHub;
  /** The server's share of its API keys' request budgets (`auth/api-keys.ts`). */
  keyBudget: KeyBudget;
}

/**
 * The inner context: needs no HTTP request, so tests and `createCaller` can build it directly.
 * `Context` is inferred from it.
 */
export function createContextInner(options: ContextInnerOptions) {
  return { ...options };
}

export type Context = ReturnType<typeof createContextInner>;

/** A User-Agent as the sessions list shows it: printable, at most 256 characters, or null. */
export function userAgentOf(header: string | null | undefined): string | null {
  const clean = header
    ?.replace(/\p{Cc}/gu, "")
    .trim()
    .slice(0, 256);
  return clean || null;
}

/** Reads the bearer token out of an Authorization header value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ ]+([^ ]+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** Thrown when a request's tenant hints are malformed or disagree: always FORBIDDEN. */
export class TenantHintError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "TenantHintError";
  }
}

/** A host name as DNS compares it: lower case, without a port or the root's trailing dot. */
function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/**
 * The tenant slug a request names: `X-Tenant`, and/or `<slug>.<baseDomain>` as its host; null
 * when it names none. Throws `TenantHintError` for a host under `baseDomain` that is not exactly
 * one label deep (`x.slug.base`), and for an `X-Tenant` and a subdomain that disagree: a hint
 * that cannot be read is refused, never ignored.
 */
export function tenantHintOf(request: Request, baseDomain: string | undefined): string | null {
  const header = request.headers.get("x-tenant");
  const explicit = header === null ? null : header.trim().toLowerCase();
  if (explicit === "") throw new TenantHintError("empty X-Tenant header");
  let fromHost: string | null = null;
  if (baseDomain) {
    // The URL's host is what the runtime resolved from the Host header (or the Workers request),
    // already without its port.
    const host = normalHost(new URL(request.url).hostname);
    const base = normalHost(baseDomain);
    if (host.endsWith(`.${base}`)) {
      const sub = host.slice(0, -(base.length + 1));
      if (!sub || sub.includes(".")) throw new TenantHintError("host is not <slug>.BASE_DOMAIN");
      fromHost = sub;
    }
  }
  if (explicit !== null && fromHost !== null && explicit !== fromHost) {
    throw new TenantHintError("X-Tenant and the host name different tenants");
  }
  return explicit ?? fromHost;
}
