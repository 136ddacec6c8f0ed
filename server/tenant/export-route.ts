/**
 * `GET /export`: the caller's tenant as an NDJSON download, for its owner. Authenticated by the
 * bearer access token, or by a ticket from `tenant.export` in `?ticket=` (what a browser follows,
 * so a cookie-mode web app downloads without holding the file in memory), spent on first use.
 * The owner check and the audit event commit first — a refusal is a plain 401/403 — then the
 * rows are read in one REPEATABLE READ transaction (`export.ts`).
 *
 * A client cannot hold the database by reading slowly (docs/decisions/020-exports-cannot-hold-the-database.md):
 * a piece not taken within EXPORT_STALL_SECONDS, an average below EXPORT_MIN_BYTES_PER_SECOND
 * after that, or an export past EXPORT_MAX_SECONDS ends it; one export runs per tenant and
 * `maxConcurrentExports` per process (more: 429 with Retry-After); HEAD, which would start one
 * whose body nobody reads, is refused. On PostgreSQL the rows stream from the transaction, which
 * PostgreSQL itself ends if it sits idle; on PGlite, whose one connection serves every tenant,
 * they are read into a spool first, so the connection is free in seconds.
 */

import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { eq, sql } from "drizzle-orm";
import type { Context as HonoContext } from "hono";
import { stream } from "hono/streaming";
import { tenants } from "../../db/schema.js";
import { type MemberContext, withMember } from "../../db/tenant.js";
import { type Database, type Spool, SpoolFull } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import { spendOnce } from "../auth/throttle.js";
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
  /** The tenants whose export runs in this process (one set per app). */
  running: Set<string>;
}

/** Exports at once per process, one per tenant: each holds a connection or a spool while it runs. */
export const maxConcurrentExports = 2;

/** An export ended because its client read too slowly, for too long, or went away. */
class ExportCut extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ExportCut";
  }
}

const encoder = new TextEncoder();

/** The pace is checked every this many bytes, however large a batch of rows is. */
const pieceBytes = 16 * 1024;

/**
 * The pace an export's client must keep: each piece taken within `stallMs`, the whole within
 * `maxMs`, and past the first `stallMs` at least `minBytesPerSecond` on average.
 */
class ExportPace {
  readonly #started = performance.now();
  #bytes = 0;
  constructor(private readonly limits: AppConfig["export"]) {}

  /** Writes a chunk in pieces, or throws ExportCut when the client does not keep the pace. */
  async send(write: (piece: Uint8Array) => Promise<unknown>, chunk: string | Uint8Array): Promise<void> {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    for (let at = 0; at < bytes.byteLength; at += pieceBytes) {
      await this.#sendPiece(write, bytes.subarray(at, at + pieceBytes));
    }
  }

  async #sendPiece(write: (piece: Uint8Array) => Promise<unknown>, piece: Uint8Array): Promise<void> {
    const { stallMs, maxMs, minBytesPerSecond } = this.limits;
    const late = () => new ExportCut(`the export ran past ${maxMs / 1000} s`);
    const stalled = () => new ExportCut(`the client took no data for ${stallMs / 1000} s`);
    // A piece waits for the stall bound, or for what is left of the deadline when that is less.
    const left = maxMs - (performance.now() - this.#started);
    await within(write(piece), Math.max(Math.min(left, stallMs), 0), left < stallMs ? late : stalled);
    this.#bytes += piece.byteLength;
    const elapsedMs = performance.now() - this.#started;
    if (elapsedMs > maxMs) throw late();
    if (elapsedMs > stallMs && this.#bytes < (minBytesPerSecond * (elapsedMs - stallMs)) / 1000) {
      throw new ExportCut(`the client read under ${minBytesPerSecond} bytes a second`);
    }
  }
}

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
  let spool: Spool | null = null;
  // The caller's slot among the running exports: taken before the first await that could let
  // another request past the check, given back unless the stream takes it over.
  let slot: string | null = null;
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
    if (deps.running.has(claims.tenantId)) {
      throw new TRPCError({
        code: "TOO_MANY_REQUESTS",
        message: "This workspace's export is running; try again later",
      });
    }
    if (deps.running.size >= maxConcurrentExports) {
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: "Other exports are running; try again in a minute" });
    }
    deps.running.add(claims.tenantId);
    slot = claims.tenantId;
    // A ticket travels in a URL that may leak (history, a proxy's log): it works once.
    if (!access && !(await spendOnce(request.database.db, `export-ticket\u0000${claims.jti}`, exportTicketSeconds))) {
      throw unauthorized();
    }
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
    // PGlite's one connection serves every tenant: the snapshot goes to a spool first, so the
    // connection is held for as long as the read takes, not for as long as the client does.
    if (request.database.spool) {
      spool = await request.database.spool(deps.config.export.spoolMaxBytes);
      const into = spool;
      await readSnapshot(request.database, member, deps.config.export, (chunk) => into.write(chunk));
    }
  } catch (error) {
    await spool?.close();
    if (slot) deps.running.delete(slot);
    if (error instanceof SpoolFull) {
      const message = "This workspace is too large to export from the embedded database; use npm run tenant:export";
      return c.json({ error: message }, 507);
    }
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
  const pace = new ExportPace(deps.config.export);
  const spooled = spool;
  return stream(
    c,
    async (out) => {
      const send = (chunk: string | Uint8Array) => {
        if (out.aborted) throw new ExportCut("the client went away");
        return pace.send((piece) => out.write(piece), chunk);
      };
      try {
        if (spooled) {
          for await (const chunk of spooled.chunks()) await send(chunk);
        } else {
          await readSnapshot(request.database, member, deps.config.export, send);
        }
      } finally {
        await spooled?.close();
        deps.running.delete(member.tenantId);
      }
    },
    async (error, out) => {
      deps.logger.warn("export ended early", { requestId: request.requestId, ...loggedError(error) });
      if (error instanceof ExportCut) {
        out.abort();
        return;
      }
      // The status is sent; the missing `end` line and this one tell the reader it is incomplete.
      const line = { type: "error", message: "the export failed and is incomplete", requestId: request.requestId };
      const stalled = () => new ExportCut("the client took no data");
      await within(out.write(`${JSON.stringify(line)}\n`), deps.config.export.stallMs, stalled).catch(() =>
        out.abort(),
      );
    },
  );
}

/**
 * Reads the tenant's export at one snapshot, handing each chunk to `take`. PostgreSQL ends the
 * transaction itself if it sits idle for twice the stall bound — a client that stopped reading
 * and a server that failed to notice — so an export never holds back vacuum for long.
 */
export async function readSnapshot(
  database: Database,
  member: MemberContext,
  limits: AppConfig["export"],
  take: (chunk: string) => Promise<void>,
): Promise<void> {
  await withMember(database.db, member, { write: false, isolation: "repeatable read" }, async (tx) => {
    const idleMs = String(2 * limits.stallMs);
    await tx.execute(sql`select set_config('idle_in_transaction_session_timeout', ${idleMs}, true)`);
    for await (const chunk of tenantExportLines(tx, member.tenantId)) await take(chunk);
  });
}
