/**
 * The one tRPC init. Routers import `router` and the base procedures from here only.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { eq } from "drizzle-orm";
import { ZodError, z } from "zod";
import { type ReadContext, readerFor } from "../db/reads.js";
import { type MemberRole, tenants } from "../db/schema.js";
import { Rollback, withTenantPipelined } from "../db/tenant.js";
import type { Tx } from "../db/types.js";
import { InvalidTokenError } from "./auth/tokens.js";
import type { Context } from "./context.js";
import { clientErrorFromDatabase, loggedError, tenantMismatch, unauthorized } from "./errors.js";
import { hasRole } from "./roles.js";
import { transformer } from "./wire.js";

const t = initTRPC.context<Context>().create({
  // superjson's wire format; responses written in one pass (server/wire.ts).
  transformer,
  // Never put stacks in responses, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error, ctx }) {
    const internal = error.code === "INTERNAL_SERVER_ERROR";
    const requestId = ctx?.requestId ?? null;
    return {
      code: shape.code,
      message: internal ? `Internal server error (request id ${requestId ?? "unknown"})` : clientMessage(error),
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path ?? null,
        requestId,
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
      },
    };
  },
});

/**
 * The message a client reads: zod's issues as one sentence per field, and never the JavaScript
 * engine's own words (a JSON parser's or a TypeError's) about a request it could not read.
 */
function clientMessage(error: TRPCError): string {
  const cause = error.cause;
  if (cause instanceof ZodError) {
    const fields = cause.issues.map((issue) => `${issue.path.join(".") || "input"}: ${issue.message}`);
    return `Invalid input: ${fields.join("; ")}`;
  }
  if (cause instanceof SyntaxError) return "Malformed request: the body or input cannot be read as JSON";
  if (cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError) {
    return "Malformed request";
  }
  return error.message;
}

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

/** Maps expected database errors to client errors; every other failure stays internal. */
const mapDatabaseErrors = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (result.ok) return result;
  if (result.error.code === "INTERNAL_SERVER_ERROR") {
    const mapped = clientErrorFromDatabase(result.error.cause);
    if (mapped) throw mapped;
    ctx.logger.error("unexpected error", {
      requestId: ctx.requestId,
      path,
      ...loggedError(result.error.cause ?? result.error),
    });
  }
  return result;
});

/** Anyone may call it. */
export const publicProcedure = t.procedure.use(mapDatabaseErrors);

/** The caller of a tenant procedure, as its verified token names them. */
export interface Caller {
  tenantId: string;
  userId: string;
  /** The session the token belongs to; the caller is a member only while it is live. */
  sessionId: string;
}

/** A caller whose membership and current role were read in this request's transaction. */
export interface Member extends Caller {
  role: MemberRole;
}

/**
 * A member of the token's tenant: verifies the bearer JWT, opens the request's transaction with
 * the tenant context, runs the procedure with `ctx.db` as that transaction, and rolls back if
 * the procedure fails.
 *
 * Membership is read in the same transaction (so removal and demotion act on the very next
 * request), and counts only while the token's session is live (so logging out ends the
 * session's access tokens at once, not when they expire), by the context statement, which
 * travels with the procedure's first query: `ctx.membership` resolves to the caller's current
 * role or rejects with UNAUTHORIZED. Whatever the procedure did, nothing leaves this middleware —
 * no result, no commit — until membership is confirmed; a non-member gets UNAUTHORIZED and a
 * rolled-back transaction. Procedures that need the role before acting (`adminProcedure`,
 * `ownerProcedure`) await it first.
 */
export const tenantProcedure = publicProcedure.use(async ({ ctx, next, type }) => {
  const caller = await verifiedCaller(ctx);

  const proceed = (tx: Tx, membership: Promise<MemberRole>) => next({ ctx: { db: tx, member: caller, membership } });
  let outcome: Awaited<ReturnType<typeof proceed>> | undefined;
  try {
    await withTenantPipelined(
      ctx.database.db,
      caller,
      async (tx: Tx, role) => {
        // Removed members and revoked sessions read as no role: their unexpired tokens stop
        // working at once.
        const membership = role.then((current) => {
          if (!current) throw unauthorized();
          return current;
        });
        membership.catch(() => undefined); // awaited below on every path
        if (ctx.tenantHint !== null) {
          await membership;
          await assertTenantHint(tx, caller.tenantId, ctx.tenantHint);
        }
        outcome = await proceed(tx, membership);
        await membership;
        // tRPC's next() reports a failed procedure instead of throwing: roll its writes back.
        if (!outcome.ok) throw new Rollback();
      },
      { statementTimeoutMs: ctx.config.statementTimeoutMs, readOnly: type === "query" },
    );
  } catch (error) {
    if (error instanceof Rollback && outcome) return outcome;
    throw error;
  }
  if (!outcome) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR" });
  return outcome;
});

/** The caller the request's bearer token names, verified; UNAUTHORIZED without a valid one. */
async function verifiedCaller(ctx: Context): Promise<Caller> {
  if (!ctx.accessToken) throw unauthorized();
  try {
    const claims = await ctx.tokens.verifyAccess(ctx.accessToken);
    return { tenantId: claims.tenantId, userId: claims.userId, sessionId: claims.sessionId };
  } catch (error) {
    if (error instanceof InvalidTokenError) throw unauthorized(error);
    throw error;
  }
}

async function assertTenantHint(tx: Tx, tenantId: string, slug: string) {
  const rows = await tx.select({ slug: tenants.slug }).from(tenants).where(eq(tenants.id, tenantId));
  if (rows[0]?.slug !== slug) throw tenantMismatch();
}

/**
 * A member's read that is one statement: the hot `list` and `get` queries (see `db/reads.ts`).
 * Verifies the bearer JWT as `tenantProcedure` does but opens no transaction; the procedure
 * calls `ctx.read(readFunction, ...args)`, and the read function itself, in its one statement,
 * enters the tenant context, confirms the caller is a member with a live session (else
 * UNAUTHORIZED) and that the tenant the request names is the token's (else FORBIDDEN) before it
 * reads anything, under RLS. A procedure that needs more than one statement, a role, or a write
 * is a `tenantProcedure`.
 */
export const tenantReadProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const caller = await verifiedCaller(ctx);
  const context: ReadContext = {
    ...caller,
    tenantSlug: ctx.tenantHint,
    statementTimeoutMs: ctx.config.statementTimeoutMs,
  };
  return next({ ctx: { member: caller, read: readerFor(ctx.database.db, context) } });
});

function assertRole(role: MemberRole, minimum: MemberRole) {
  if (!hasRole(role, minimum)) {
    throw new TRPCError({ code: "FORBIDDEN", message: `Requires the ${minimum} role` });
  }
}

/** An admin or owner of the tenant, by the role read in this request's transaction. */
export const adminProcedure = tenantProcedure.use(async ({ ctx, next }) => {
  const role = await ctx.membership;
  assertRole(role, "admin");
  return next({ ctx: { member: { ...ctx.member, role } satisfies Member } });
});

/** An owner of the tenant. */
export const ownerProcedure = tenantProcedure.use(async ({ ctx, next }) => {
  const role = await ctx.membership;
  assertRole(role, "owner");
  return next({ ctx: { member: { ...ctx.member, role } satisfies Member } });
});
