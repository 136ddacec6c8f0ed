import type { Database } from "../db/types.js";
import type { TokenService } from "./auth/tokens.js";
import type { AppConfig } from "./config.js";
import type { Clock, Logger, PasswordHasher } from "./deps.js";

/** What every procedure may use, whether or not a request is at hand. */
export interface ContextInnerOptions {
  database: Database;
  config: AppConfig;
  hasher: PasswordHasher;
  tokens: TokenService;
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
  /** Response headers a procedure may add to (e.g. Retry-After). */
  resHeaders: Headers;
}

/**
 * The inner context: needs no HTTP request, so tests and `createCaller` can build it directly.
 * `Context` is inferred from it.
 */
export function createContextInner(options: ContextInnerOptions) {
  return { ...options };
}

export type Context = ReturnType<typeof createContextInner>;

/** Reads the bearer token out of an Authorization header value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ ]+([^ ]+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** The tenant slug a request names: `X-Tenant`, else `<slug>.<baseDomain>` as its host. */
export function tenantHintOf(request: Request, baseDomain: string | undefined): string | null {
  const explicit = request.headers.get("x-tenant")?.trim().toLowerCase();
  if (explicit) return explicit;
  if (!baseDomain) return null;
  // The URL's host is what the runtime resolved from the Host header (or the Workers request).
  const host = new URL(request.url).hostname.toLowerCase();
  const suffix = `.${baseDomain.toLowerCase()}`;
  if (!host.endsWith(suffix)) return null;
  const sub = host.slice(0, -suffix.length);
  return sub && !sub.includes(".") ? sub : null;
}
