import { sql } from "drizzle-orm";
import { withoutTenant } from "../../db/tenant.js";
import type { Db, Tx } from "../../db/types.js";
import { rowsOf } from "../../db/types.js";
import type { AppConfig } from "../config.js";
import { sha256Hex } from "./tokens.js";

/**
 * Attempt limits shared by every server instance: counters in PostgreSQL, behind SECURITY
 * DEFINER functions (`app.throttle_take`, `app.throttle_refund`). An attempt is reserved under
 * every key atomically before its password is hashed, or refused (429) without being counted
 * anywhere; a success gives its reservation back (docs/decisions/002-throttle-reserves-before-hashing.md).
 */
export interface Throttle {
  /** Opaque hashes, each with its limit per window. */
  keys: string[];
  limits: number[];
  windowSeconds: number;
  /** Counters a success clears outright (the rest get their one attempt back). */
  clearOnSuccess: string[];
}

/**
 * Login, after OWASP: tight per (account, address), so one address guessing one account stops
 * after a few tries; loose per account, so distributed guessing is capped without letting anyone
 * lock a user out from elsewhere; and per address, so one address spraying many accounts stops.
 */
export async function loginThrottle(
  config: AppConfig["login"],
  tenantSlug: string,
  email: string,
  clientAddress: string | null,
): Promise<Throttle> {
  const account = `${tenantSlug}\u0000${email}`;
  const pair = await sha256Hex(`pair\u0000${account}\u0000${clientAddress ?? "unknown"}`);
  const keys = [pair, await sha256Hex(`account\u0000${account}`)];
  const limits = [config.maxFailures, config.accountMaxFailures];
  if (clientAddress) {
    keys.push(await sha256Hex(`address\u0000${clientAddress}`));
    limits.push(config.addressMaxFailures);
  }
  return { keys, limits, windowSeconds: config.windowSeconds, clearOnSuccess: [pair] };
}

/**
 * A signed-in member's re-checks of their own password (a password change, a workspace
 * deletion): counted per account, not per address, so others behind the same address cannot
 * block them, and a success counts too (nothing is given back or cleared), so a right password
 * buys no further tries.
 */
export async function recheckThrottle(
  config: AppConfig["login"],
  member: { tenantId: string; userId: string },
): Promise<Throttle> {
  const key = await sha256Hex(`recheck\u0000${member.tenantId}\u0000${member.userId}`);
  return { keys: [key], limits: [config.maxFailures], windowSeconds: config.windowSeconds, clearOnSuccess: [] };
}

/**
 * One client address's sign-ups (registrations, invitation acceptances), or null when the address
 * is unknown.
 */
export async function signupThrottle(
  config: AppConfig["signup"],
  clientAddress: string | null,
): Promise<Throttle | null> {
  if (!clientAddress) return null;
  const key = await sha256Hex(`signup\u0000${clientAddress}`);
  return { keys: [key], limits: [config.maxPerAddress], windowSeconds: config.windowSeconds, clearOnSuccess: [] };
}

// Hashes are hex and limits integers, so array literals need no escaping; this keeps each
// parameter a single string on both drivers (postgres.js and PGlite serialise JS arrays differently).
const textArray = (values: string[]) => sql`${`{${values.join(",")}}`}::text[]`;
const integerArray = (values: number[]) => sql`${`{${values.map((v) => Math.trunc(v)).join(",")}}`}::integer[]`;

/** Reserves one attempt under every key; returns 0, or the seconds to wait when a limit is used up. */
export async function takeAttempt(tx: Tx, throttle: Throttle): Promise<number> {
  const result = await tx.execute(
    sql`select app.throttle_take(${textArray(throttle.keys)}, ${integerArray(throttle.limits)}, ${throttle.windowSeconds}::integer) as wait`,
  );
  return Number(rowsOf<{ wait: number }>(result)[0]?.wait ?? 0);
}

/**
 * After a success: its attempt is given back, and the counters it clears are cleared — in a
 * transaction of its own, after the session's: the counters' row locks are then held for one
 * statement, not while a session is written, so concurrent logins (all of one address behind a
 * NAT share a counter) do not queue on them.
 */
export async function giveBackAttempt(db: Db, throttle: Throttle): Promise<void> {
  const refund = throttle.keys.filter((key) => !throttle.clearOnSuccess.includes(key));
  await withoutTenant(db, (tx) =>
    tx.execute(sql`select app.throttle_refund(${textArray(refund)}, ${textArray(throttle.clearOnSuccess)})`),
  );
}

/**
 * Spends `what` (a ticket's id, say) once across every server instance: true the first time
 * within `windowSeconds`, false after. A counter with a limit of one, so it is pruned like the rest.
 */
export async function spendOnce(db: Db, what: string, windowSeconds: number): Promise<boolean> {
  const key = await sha256Hex(`once\u0000${what}`);
  const throttle = { keys: [key], limits: [1], windowSeconds, clearOnSuccess: [] };
  return (await withoutTenant(db, (tx) => takeAttempt(tx, throttle))) === 0;
}
