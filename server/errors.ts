import { TRPCError } from "@trpc/server";
import { causeChain, isDatabaseUnavailable, sqlState, sqlStateOf } from "../db/errors.js";
import { type QuotaKind, quotaKinds } from "../db/schema.js";

/** The one message for every authentication failure, so failures cannot be told apart. */
export const unauthorizedMessage = "Invalid or expired credentials";

export const unauthorized = (cause?: unknown) =>
  new TRPCError({ code: "UNAUTHORIZED", message: unauthorizedMessage, cause });

export const tenantMismatch = (cause?: unknown) =>
  new TRPCError({ code: "FORBIDDEN", message: "The requested tenant does not match the token", cause });

/** Seconds a client should wait before retrying a request the database could not serve. */
export const retryAfterSeconds = 2;

/**
 * The database cannot be reached (down, restarting, out of connections): 503 with Retry-After,
 * a code a client can act on by retrying. The transaction did not commit.
 */
export const databaseUnavailable = (cause?: unknown) =>
  new TRPCError({
    code: "SERVICE_UNAVAILABLE",
    message: "The database is unavailable; nothing was changed. Retry shortly",
    cause,
  });

/** What a read-only API key is told for every change it asks for. */
export const readOnlyKeyMessage = "This API key is read-only: it cannot make changes";

/** What a member of a workspace that requires a second factor is told until they set one up. */
export const mfaRequiredMessage = "Set up two-factor sign-in to continue in this workspace";

export const notFound = (what: string) => new TRPCError({ code: "NOT_FOUND", message: `${what} not found` });

/**
 * What a row refers to, by the foreign key that refused a reference to no row of the caller's
 * tenant (each is composite, with tenant_id): a write names what it refers to and lets the key
 * check it, instead of reading it first — one statement fewer per write.
 */
const referencedBy: Record<string, string> = {
  tasks_project_fkey: "Project",
  tasks_assignee_fkey: "Assignee",
  comments_task_fkey: "Task",
};

/**
 * What a value collided with, by the unique index that refused it: a message that names the
 * conflict, in the caller's own words. Each index is per tenant (`db/schema-rules.ts` refuses
 * one that is not), so the conflict is with the caller's own tenant's row — except a
 * workspace's slug, which is global by design (it names the workspace in URLs). An index not
 * listed here answers the generic message; none names the other row or its values.
 */
const conflictBy: Record<string, string> = {
  users_tenant_email_key: "A member with this email already exists in this workspace",
  tenants_slug_key: "A workspace with this slug already exists",
};

/** A driver field that may be logged or matched: a string of at most 128 characters. */
const field = (value: unknown) => (typeof value === "string" && value.length <= 128 ? value : undefined);

/**
 * The name of the constraint a database error names (the driver's field, looked for through
 * wrappers). A Citus coordinator relays a worker's error without that field, and the worker
 * names its shard's copy (`violates foreign key constraint "tasks_project_fkey_102041"`): the
 * name is then read from the message, and the shard's number dropped, so the table's own
 * constraint is what is matched and logged (the message itself is never shown or logged).
 */
function constraintOf(error: unknown): string | undefined {
  for (const link of causeChain(error)) {
    const name =
      field(link.constraint_name) ??
      field(link.constraint) ??
      // Only the database's own error (an integrity violation), never a wrapper quoting the query.
      (typeof link.code === "string" && link.code.startsWith("23") && typeof link.message === "string"
        ? /\bconstraint "([a-z0-9_]{1,63})"/.exec(link.message)?.[1]
        : undefined);
    if (name) return name.replace(/_\d{6,}$/, "");
  }
  return undefined;
}

/**
 * Turns a database error into the client error it stands for, or null when it is unexpected.
 * Messages are fixed strings: the database's own text (SQL, values, constraint names that could
 * describe another tenant's data) never reaches a client.
 */
export function clientErrorFromDatabase(error: unknown): TRPCError | null {
  if (isDatabaseUnavailable(error)) return databaseUnavailable(error);
  const code = sqlStateOf(error);
  switch (code) {
    case sqlState.insufficientPrivilege:
      return new TRPCError({ code: "FORBIDDEN", message: "This operation is not permitted", cause: error });
    case sqlState.foreignKeyViolation: {
      const what = referencedBy[constraintOf(error) ?? ""];
      return new TRPCError({
        code: "NOT_FOUND",
        message: what ? `${what} not found` : "A referenced record was not found",
        cause: error,
      });
    }
    case sqlState.uniqueViolation:
      return new TRPCError({
        code: "CONFLICT",
        message: conflictBy[constraintOf(error) ?? ""] ?? "A record with these values already exists",
        cause: error,
      });
    case sqlState.invalidTextRepresentation:
    case sqlState.checkViolation:
    case sqlState.notNullViolation:
    case sqlState.stringDataRightTruncation:
      return new TRPCError({ code: "BAD_REQUEST", message: "The input is not valid", cause: error });
    case sqlState.queryCanceled:
      return new TRPCError({
        code: "TIMEOUT",
        message: "The request took too long and was cancelled",
        cause: error,
      });
    case sqlState.notAMember:
      return unauthorized(error);
    case sqlState.tenantMismatch:
      return tenantMismatch(error);
    case sqlState.readOnlyKey:
      return new TRPCError({ code: "FORBIDDEN", message: readOnlyKeyMessage, cause: error });
    case sqlState.emailNotVerified:
      return new TRPCError({
        code: "FORBIDDEN",
        message: "Verify your email address to make changes in this workspace",
        cause: error,
      });
    case sqlState.mfaRequired:
      return new TRPCError({ code: "FORBIDDEN", message: mfaRequiredMessage, cause: error });
    case sqlState.mfaSessionNeeded:
      return new TRPCError({
        code: "FORBIDDEN",
        message: "This workspace requires two-factor sign-in: sign in again with your second factor",
        cause: error,
      });
    case sqlState.scheduledForDeletion:
      return new TRPCError({
        code: "FORBIDDEN",
        message: "This workspace is scheduled for deletion: it can be read and exported, not changed",
        cause: error,
      });
    case sqlState.limitReached: {
      const limit = limitOf(error);
      return new TRPCError({
        code: "FORBIDDEN",
        message: limit
          ? `This workspace has reached its limit of ${limit.max.toLocaleString("en")} ${limit.quota.replaceAll("_", " ")}`
          : "This workspace has reached a limit",
        cause: limit ?? error,
      });
    }
    case sqlState.serializationFailure:
    case sqlState.deadlockDetected:
      return new TRPCError({ code: "CONFLICT", message: "Concurrent update; please retry", cause: error });
    default:
      break;
  }
  // Class 22 (data exception: a value PostgreSQL cannot read) and 54 (a value too large to index
  // or store) are the input's fault, whichever statement met them.
  if (code?.startsWith("22") || code?.startsWith("54")) {
    return new TRPCError({ code: "BAD_REQUEST", message: "The input is not valid", cause: error });
  }
  return null;
}

/** A quota refusal (SQLSTATE BH429): the limit's name and size, for `error.data.limit`. */
export class LimitReached extends Error {
  constructor(
    readonly quota: QuotaKind,
    readonly max: number,
  ) {
    super(`limit reached: ${quota} (${max})`);
    this.name = "LimitReached";
  }
}

/** The limit a BH429 names: its DETAIL is the quota, its HINT the limit. */
function limitOf(error: unknown): LimitReached | null {
  for (const link of causeChain(error)) {
    const name = link.detail;
    const max = Number(link.hint);
    if (typeof name === "string" && (quotaKinds as readonly string[]).includes(name) && Number.isInteger(max)) {
      return new LimitReached(name as QuotaKind, max);
    }
  }
  return null;
}

/** What the log may say about a failure: never a query's text or parameters. */
export interface LoggedError {
  error: string;
  sqlState?: string;
  constraint?: string;
  table?: string;
  column?: string;
  /** A driver's or socket's code, for an error without a SQLSTATE. */
  code?: string;
}

/** A driver's or socket's own code (`CONNECTION_CLOSED`, `ECONNRESET`): capitals and underscores only. */
const driverCode = (value: unknown) =>
  typeof value === "string" && /^[A-Z][A-Z_]{1,39}$/.test(value) ? value : undefined;

/**
 * An error as the operator's log records it, never a query's text or its parameters:
 * - a database error with a SQLSTATE is its SQLSTATE, constraint, table and column;
 * - any other error that came from the database — one drizzle wrapped (`DrizzleQueryError` puts
 *   the failed query and its parameters, tenant and user ids, emails, hashes, in its message) or a
 *   driver's connection error — is "database error" and the driver's code;
 * - anything else is its name and message.
 */
export function loggedError(error: unknown): LoggedError {
  const code = sqlStateOf(error);
  if (code) {
    const found: LoggedError = { error: "database error", sqlState: code, constraint: constraintOf(error) };
    for (const e of causeChain(error)) {
      found.table ??= field(e.table_name) ?? field(e.table);
      found.column ??= field(e.column_name) ?? field(e.column);
    }
    return Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined)) as LoggedError;
  }
  const chain = [...causeChain(error)];
  if (isDatabaseUnavailable(error) || chain.some((link) => "query" in link || "params" in link)) {
    const driver = chain.map((link) => driverCode(link.code)).find(Boolean);
    return driver ? { error: "database error", code: driver } : { error: "database error" };
  }
  if (error instanceof TRPCError && error.cause) return loggedError(error.cause);
  return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}
