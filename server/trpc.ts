/**
 * The one tRPC init. Routers import `router` and the base procedures from here only.
 *
 * Start here: which procedure a new one is built on.
 * 1. It reads one tenant's rows, one select at a time (a list, a get): `tenantReadProcedure`.
 *    Each select is one statement that checks the member itself; no transaction is held.
 * 2. It writes, needs the caller's role, or needs several statements to agree (a count and a
 *    page, a check then a write): `tenantProcedure`. All of it runs in one transaction that has
 *    confirmed the member first; a thrown error rolls it back.
 * 3. Only admins or owners may call it: `adminProcedure` / `ownerProcedure` (a `tenantProcedure`
 *    that checks the role read in that transaction).
 * 4. It must not hold a transaction across slow work (a password hash between a read and a
 *    write): `signedInProcedure`, which opens its own `withMember` transactions.
 * 5. Anyone may call it (sign-in, registration, health): `publicProcedure`. It gets no tenant:
 *    whatever it reads of one goes through `withTenant` or an `app.*` function.
 * docs/adding-a-resource.md walks through 1 and 2 with a whole resource.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import type { OpenApiMeta } from "trpc-to-openapi";
import { ZodError, z } from "zod";
import { readsFor } from "../db/reads.js";
import type { MemberRole } from "../db/schema.js";
import { type MemberContext, Rollback, withMember } from "../db/tenant.js";
import type { Tx } from "../db/types.js";
import { BudgetSpent, budgetHeaders, isApiKey, LookupsThrottled, parseApiKey, UnknownKey } from "./auth/api-keys.js";
import { tooMany } from "./auth/refusals.js";
import { InvalidTokenError, sha256Hex } from "./auth/tokens.js";
import type { Context } from "./context.js";
import { clientErrorFromDatabase, LimitReached, loggedError, retryAfterSeconds, unauthorized } from "./errors.js";
import { hasRole } from "./roles.js";
import { transformer } from "./transformer.js";

/**
 * What a procedure declares about itself: `openapi` (trpc-to-openapi) puts it on the REST face
 * too, and `apiKeys: true` lets a workspace API key call it. Without it a key is refused
 * (FORBIDDEN) before anything runs: a procedure added later needs a person until it says
 * otherwise. Managing keys, members, the workspace, an account, export or deletion never says so.
 */
export type Meta = OpenApiMeta & {
  apiKeys?: boolean;
  /**
   * The procedure may run for a member a workspace's second-factor policy holds at enrollment
   * (`app.enter_member`, BH428): setting a factor up, and what that needs (who am I, sign out).
   */
  mfaEnrollment?: boolean;
};

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    // superjson's wire format, its input checked before superjson reads it (server/transformer.ts).
    transformer,
    // Never put stacks in responses, whatever NODE_ENV says.
    isDev: false,
    // Live streams (events.onChange): a comment every 15 s keeps proxies from closing an idle
    // stream, and a client that hears nothing for 40 s reconnects from its last event id.
    sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
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
          // A quota refusal names the limit: { name, max }.
          limit: error.cause instanceof LimitReached ? { name: error.cause.quota, max: error.cause.max } : null,
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
    if (mapped?.code === "SERVICE_UNAVAILABLE") {
      ctx.resHeaders.set("retry-after", String(retryAfterSeconds));
      ctx.logger.warn("database unavailable", { requestId: ctx.requestId, path, ...loggedError(result.error.cause) });
    }
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

/** The caller of a tenant procedure, as its verified token (or API key) names them. */
export interface Caller {
  tenantId: string;
  userId: string;
  /** The session the token belongs to; the caller is a member only while it is live. */
  sessionId: string;
  /** A person (an access token), or a workspace API key (then `userId` and `sessionId` are its id). */
  principal: "user" | "api_key";
  /** For a key: the SHA-256 of its secret, which `app.enter_member` compares. */
  keyHash: string | null;
}

/** A caller whose membership and current role were read in this request's transaction. */
export interface Member extends Caller {
  role: MemberRole;
}

/**
 * A member of the token's tenant: verifies the bearer JWT, then runs the procedure inside the
 * request's transaction (`withMember`, Drizzle's transaction on both engines) with `ctx.db` as
 * that transaction and `ctx.member.role` as the caller's current role. The transaction's first
 * statement refuses a non-member (UNAUTHORIZED: removed, or the token's session is over) and a
 * request naming another tenant (FORBIDDEN) before the procedure runs, so removal and demotion
 * act on the very next request and no procedure code ever runs for a non-member. Queries run
 * read-only; mutations hold the caller's membership until they commit. A failed procedure's
 * writes roll back.
 */
export const tenantProcedure = publicProcedure.use(async ({ ctx, next, type, path, meta }) => {
  const caller = await verifiedCaller(ctx, meta, path);
  const proceed = (tx: Tx, role: MemberRole) => next({ ctx: { db: tx, member: { ...caller, role } satisfies Member } });
  let outcome: Awaited<ReturnType<typeof proceed>> | undefined;
  try {
    // A member's own account (auth.*) stays theirs to manage before they verify their email.
    const write = type !== "query";
    const options = { write, verifiedOnly: write && !path.startsWith("auth."), enrolling: meta?.mfaEnrollment };
    await withMember(ctx.database.db, memberContext(ctx, caller), options, async (tx, role) => {
      outcome = await proceed(tx, role);
      // tRPC's next() reports a failed procedure instead of throwing: roll its writes back.
      if (!outcome.ok) throw new Rollback();
    });
  } catch (error) {
    if (error instanceof Rollback && outcome) return outcome;
    throw error;
  }
  if (!outcome) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR" });
  return outcome;
});

/**
 * A member's procedure that opens its own transactions (`withMember(ctx.database.db,
 * ctx.member, …)`), for flows that must not hold one open across slow work — a password change
 * verifies and hashes between a read and a write. Only the token is verified here; the first
 * `withMember` refuses a non-member, so the procedure must open one before anything else.
 */
export const signedInProcedure = publicProcedure.use(async ({ ctx, next, meta, path }) => {
  const caller = await verifiedCaller(ctx, meta, path);
  return next({ ctx: { member: memberContext(ctx, caller) } });
});

/** The caller the request's bearer token names, verified; UNAUTHORIZED without a valid one. */
async function verifiedCaller(ctx: Context, meta: Meta | undefined, path: string): Promise<Caller> {
  if (!ctx.accessToken) throw unauthorized();
  if (isApiKey(ctx.accessToken)) return keyCaller(ctx, ctx.accessToken, meta, path);
  try {
    const claims = await ctx.tokens.verifyAccess(ctx.accessToken);
    ctx.facts.tenantId = claims.tenantId;
    ctx.facts.userId = claims.userId;
    const { tenantId, userId, sessionId } = claims;
    return { tenantId, userId, sessionId, principal: "user", keyHash: null };
  } catch (error) {
    if (error instanceof InvalidTokenError) throw unauthorized(error);
    throw error;
  }
}

/**
 * A workspace API key's caller: refused where the procedure needs a person, then one request of
 * the key's budget spent (which looks the key up when this server holds no slice of it: an
 * unknown key counts against the address). The key itself is checked again by
 * `app.enter_member` in the procedure's first statement, so a revoked key fails at once.
 */
async function keyCaller(ctx: Context, token: string, meta: Meta | undefined, path: string): Promise<Caller> {
  if (!meta?.apiKeys) {
    throw new TRPCError({ code: "FORBIDDEN", message: `An API key cannot call ${path}: it needs a person signed in` });
  }
  const key = parseApiKey(token);
  if (!key) throw unauthorized();
  const hash = await sha256Hex(key.secret);
  try {
    budgetHeaders(
      ctx.resHeaders,
      await ctx.keyBudget.spend(ctx.database.db, { ...key, hash }, ctx.clientAddress),
      false,
    );
  } catch (error) {
    if (error instanceof UnknownKey) throw unauthorized();
    if (error instanceof LookupsThrottled) throw tooMany(ctx.resHeaders, error.waitSeconds, "failed API key lookups");
    if (error instanceof BudgetSpent) {
      budgetHeaders(ctx.resHeaders, error.state, true);
      throw new TRPCError({
        code: "TOO_MANY_REQUESTS",
        message: `This API key has used its ${error.state.limit} requests a minute; retry in ${error.state.resetSeconds} seconds`,
      });
    }
    throw error;
  }
  ctx.facts.tenantId = key.tenantId;
  ctx.facts.userId = key.keyId;
  return { tenantId: key.tenantId, userId: key.keyId, sessionId: key.keyId, principal: "api_key", keyHash: hash };
}

function memberContext(ctx: Context, caller: Caller): MemberContext {
  return {
    tenantId: caller.tenantId,
    userId: caller.userId,
    sessionId: caller.sessionId,
    keyHash: caller.keyHash,
    tenantSlug: ctx.tenantHint,
    statementTimeoutMs: ctx.config.statementTimeoutMs,
  };
}

/**
 * A member's reads, each one statement: for the hot `list` and `get` queries. Verifies the
 * bearer JWT as `tenantProcedure` does but opens no transaction: `ctx.db` is a Drizzle database
 * on which every select runs as `app.read`, and `ctx.read(prepared, values)` runs a prepared
 * read (`prepareRead`) the same way; `app.read` enters the tenant's context and refuses a
 * non-member or another tenant's slug before it reads anything, under RLS (`db/reads.ts`).
 * The procedure gets nothing else — no transaction, no role — so what it does before its first
 * read is build a query; and its result reaches the caller only if a read succeeded (else
 * INTERNAL_SERVER_ERROR: a read procedure must read). A procedure that needs more than
 * selects, a role, or one snapshot for several statements is a `tenantProcedure`.
 */
export const tenantReadProcedure = publicProcedure.use(async ({ ctx, next, meta, path }) => {
  const caller = await verifiedCaller(ctx, meta, path);
  const reads = readsFor(ctx.database.db, memberContext(ctx, caller));
  const outcome = await next({ ctx: { db: reads.db, read: reads.run, member: caller } });
  if (outcome.ok && !reads.confirmed()) {
    throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "a read procedure returned without reading" });
  }
  return outcome;
});

function assertRole(role: MemberRole, minimum: MemberRole) {
  if (!hasRole(role, minimum)) {
    throw new TRPCError({ code: "FORBIDDEN", message: `Requires the ${minimum} role` });
  }
}

/** An admin or owner of the tenant, by the role read in this request's transaction. */
export const adminProcedure = tenantProcedure.use(({ ctx, next }) => {
  assertRole(ctx.member.role, "admin");
  return next();
});

/** An owner of the tenant. */
export const ownerProcedure = tenantProcedure.use(({ ctx, next }) => {
  assertRole(ctx.member.role, "owner");
  return next();
});
