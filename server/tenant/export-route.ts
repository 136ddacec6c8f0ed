/**
 * `GET /export`: the caller's tenant as an NDJSON download, for its owner. Authenticated by the
 * bearer access token, or by a ticket from `tenant.export` in `?ticket=` (what a browser follows,
 * so a cookie-mode web app downloads without holding the file in memory). The owner check and the
 * audit event commit first — a refusal is a plain 401/403 — then the rows stream in one
 * REPEATABLE READ transaction (`export.ts`), paced by the client: memory stays at one batch.
 *
 * That transaction holds a pooled connection (on PGlite, the database) while the client reads,
 * so a client cannot keep it: a chunk not taken within EXPORT_STALL_SECONDS ends the export; at most
 * `maxConcurrentExports` run per process (more: 429 with Retry-After); and HEAD, which would
 * start one whose body nobody reads, is refused.
 */

import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { eq } from "drizzle-orm";
import type { Context as HonoContext } from "hono";
import { stream } from "hono/streaming";
import { tenants } from "../../db/schema.js";
import { type MemberContext, withMember } from "../../db/tenant.js";
import type { Database } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import { InvalidTokenError, type TokenService } from "../auth/tokens.js";
import type { AppConfig } from "../config.js";
import { bearerToken } from "../context.js";
import { within } from "../deadline.js";
import type { Logger } from "../deps.js";
import { clientErrorFromDatabase, loggedError, retryAfterSeconds, unauthorized } from "../errors.js";
import { tenantExportLines } from "./export.js";

export interface ExportRouteDeps {
  tokens: TokenService;
  config: AppConfig;
  logger: Logger;
  /** Exports running in this process (one counter per app). */
  running: { count: number };
}

/** Exports at once per process: each holds a pooled connection for as long as it streams. */
export const maxConcurrentExports = 2;

class ExportStalled extends Error {
  constructor(ms: number) {
    super(`the client took no data for ${ms / 1000} s`);
    this.name = "ExportStalled";
  }
}

/** `write`, or ExportStalled when the client has not taken it within `ms`. */
const taken = <T>(write: Promise<T>, ms: number) => within(write, ms, () => new ExportStalled(ms));

export interface ExportRequest {
  database: Database;
  requestId: string;
  clientAddress: string | null;
  /** The tenant the request names (X-Tenant, subdomain); throws FORBIDDEN when malformed. */
  tenantSlug: () => string | null;
  /** Filled in for the access log once the caller is known. */
  facts: { tenantId: string | null; userId: string | null };
}

/** Seconds a `tenant.export` ticket stays valid. */
export const exportTicketSeconds = 60;

export async function serveExport(c: HonoContext, deps: ExportRouteDeps, request: ExportRequest): Promise<Response> {
  if (c.req.method !== "GET") return c.json({ error: "Use GET to download an export" }, 405, { allow: "GET" });
  let member: MemberContext;
  let slug: string;
  // The caller's slot among the running exports: taken before the first await that could let
  // another request past the check, given back unless the stream takes it over.
  let slot = false;
  try {
    const ticket = c.req.query("ticket");
    const access = bearerToken(c.req.header("authorization"));
    if (!access && !ticket) throw unauthorized();
    const claims = await (access
      ? deps.tokens.verifyAccess(access)
      : deps.tokens.verifyTicket("export", ticket ?? "")
    ).catch((error: unknown) => {
      throw error instanceof InvalidTokenError ? unauthorized(error) : error;
    });
    request.facts.tenantId = claims.tenantId;
    request.facts.userId = claims.userId;
    member = { ...claims, tenantSlug: request.tenantSlug(), statementTimeoutMs: deps.config.statementTimeoutMs };
    if (deps.running.count >= maxConcurrentExports) {
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: "Other exports are running; try again in a minute" });
    }
    deps.running.count++;
    slot = true;
    // Owner only, and audited before a row is read. Exporting is not a change to the
    // workspace: allowed before email verification and while a deletion is pending.
    slug = await withMember(request.database.db, member, { write: true }, async (tx, role) => {
      if (role !== "owner") throw new TRPCError({ code: "FORBIDDEN", message: "Requires the owner role" });
      await recordAudit(
        tx,
        {
          tenantId: member.tenantId,
          actorId: member.userId,
          action: "tenant.exported",
          targetType: "tenant",
          targetId: member.tenantId,
        },
        request,
      );
      const [tenant] = await tx.select({ slug: tenants.slug }).from(tenants).where(eq(tenants.id, member.tenantId));
      return tenant?.slug ?? "workspace";
    });
  } catch (error) {
    if (slot) deps.running.count--;
    const refusal = error instanceof TRPCError ? error : clientErrorFromDatabase(error);
    if (!refusal) {
      deps.logger.error("export failed", { requestId: request.requestId, ...loggedError(error) });
      return c.json({ error: `Internal server error (request id ${request.requestId})` }, 500);
    }
    if (refusal.code === "TOO_MANY_REQUESTS") c.header("retry-after", "60");
    if (refusal.code === "SERVICE_UNAVAILABLE") c.header("retry-after", String(retryAfterSeconds));
    return c.json({ error: refusal.message, code: refusal.code }, getHTTPStatusCodeFromError(refusal) as 401);
  }

  const day = new Date().toISOString().slice(0, 10);
  c.header("content-type", "application/x-ndjson; charset=utf-8");
  c.header("content-disposition", `attachment; filename="${slug}-export-${day}.ndjson"`);
  c.header("cache-control", "no-store");
  return stream(
    c,
    async (out) => {
      try {
        await withMember(request.database.db, member, { write: false, isolation: "repeatable read" }, async (tx) => {
          for await (const chunk of tenantExportLines(tx, member.tenantId)) {
            if (out.aborted) return;
            await taken(out.write(chunk), deps.config.exportStallMs);
          }
        });
      } finally {
        deps.running.count--;
      }
    },
    async (error, out) => {
      deps.logger.warn("export ended early", { requestId: request.requestId, ...loggedError(error) });
      if (error instanceof ExportStalled) {
        out.abort();
        return;
      }
      // The status is sent; the missing `end` line and this one tell the reader it is incomplete.
      const line = { type: "error", message: "the export failed and is incomplete", requestId: request.requestId };
      await taken(out.write(`${JSON.stringify(line)}\n`), deps.config.exportStallMs).catch(() => out.abort());
    },
  );
}
