/** SQLSTATE codes the API maps to client errors; anything else is an internal error. */
export const sqlState = {
  insufficientPrivilege: "42501",
  foreignKeyViolation: "23503",
  uniqueViolation: "23505",
  checkViolation: "23514",
  notNullViolation: "23502",
  invalidTextRepresentation: "22P02",
  stringDataRightTruncation: "22001",
  queryCanceled: "57014",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  // app.read: the connection has not prepared this select yet; the caller sends its text.
  readNotPrepared: "26000",
  // Raised by app.enter_member (db/sql/functions/enter_member.sql).
  notAMember: "BH401",
  tenantMismatch: "BH403",
  emailNotVerified: "BH412",
  readOnlyKey: "BH405",
  mfaSessionNeeded: "BH427",
  mfaRequired: "BH428",
  // Raised by app.enter_member and app.count_usage (db/sql/functions/count_usage.sql).
  scheduledForDeletion: "BH423",
  limitReached: "BH429",
} as const;

// The database went away or cannot be reached: class 08 (connection exception), 57P01-57P03
// (shutting down, crashed, starting up), 53300 (too many connections), and the driver's and the
// socket's own codes.
const unavailableCodes = new Set([
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  // Our postgres.js patch: a statement got no byte of its answer in time (db/postgres.ts).
  "RESPONSE_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** True when an error means the database cannot be reached now (not that a statement failed). */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const link of causeChain(error)) {
    const code = link.code;
    if (typeof code === "string" && (unavailableCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  }
  return false;
}

/**
 * The SQLSTATE of a database error, looking through wrappers (drizzle's `DrizzleQueryError`
 * keeps the driver's error in `cause`).
 */
export function sqlStateOf(error: unknown): string | undefined {
  for (const link of causeChain(error)) {
    const code = link.code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** An error and the causes under it (at most 8), as records: where drivers put their fields. */
export function* causeChain(error: unknown): Generator<Record<string, unknown>> {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === "object"; depth++) {
    yield current as Record<string, unknown>;
    current = (current as { cause?: unknown }).cause;
  }
}
