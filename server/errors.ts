import { TRPCError } from "@trpc/server";
import { sqlState, sqlStateOf } from "../db/errors.js";

/** The one message for every authentication failure, so failures cannot be told apart. */
export const unauthorizedMessage = "Invalid or expired credentials";

export const unauthorized = (cause?: unknown) =>
  new TRPCError({ code: "UNAUTHORIZED", message: unauthorizedMessage, cause });

export const tenantMismatch = (cause?: unknown) =>
  new TRPCError({ code: "FORBIDDEN", message: "The requested tenant does not match the token", cause });

export const notFound = (what: string) => new TRPCError({ code: "NOT_FOUND", message: `${what} not found` });

/**
 * Turns a database error into the client error it stands for, or null when it is unexpected.
 * Messages are fixed strings: the database's own text (SQL, values, constraint names that could
 * describe another tenant's data) never reaches a client.
 */
export function clientErrorFromDatabase(error: unknown): TRPCError | null {
  switch (sqlStateOf(error)) {
    case sqlState.insufficientPrivilege:
      return new TRPCError({ code: "FORBIDDEN", message: "This operation is not permitted", cause: error });
    case sqlState.foreignKeyViolation:
      return new TRPCError({ code: "NOT_FOUND", message: "A referenced record was not found", cause: error });
    case sqlState.uniqueViolation:
      return new TRPCError({ code: "CONFLICT", message: "A record with these values already exists", cause: error });
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
    case sqlState.serializationFailure:
    case sqlState.deadlockDetected:
      return new TRPCError({ code: "CONFLICT", message: "Concurrent update; please retry", cause: error });
    default:
      return null;
  }
}
