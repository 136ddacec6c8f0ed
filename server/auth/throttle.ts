import { sql } from "drizzle-orm";
import type { Tx } from "../../db/types.js";
import { rowsOf } from "../../db/types.js";
import { sha256Hex } from "./tokens.js";

/**
 * Failed-login throttling keyed per (tenant, email) and per client address. The counters live in
 * PostgreSQL (behind SECURITY DEFINER functions) so every server instance shares them.
 */
export interface ThrottleKeys {
  account: string;
  all: string[];
}

export async function throttleKeys(
  tenantSlug: string,
  email: string,
  clientAddress: string | null,
): Promise<ThrottleKeys> {
  const account = await sha256Hex(`account\u0000${tenantSlug}\u0000${email}`);
  const all = [account];
  if (clientAddress) all.push(await sha256Hex(`address\u0000${clientAddress}`));
  return { account, all };
}

/** Seconds until another attempt is allowed (0: allowed now). */
export async function throttleWait(tx: Tx, keys: ThrottleKeys, maxFailures: number, windowSeconds: number) {
  const result = await tx.execute(
    sql`select app.login_throttle_wait(${toArray(keys.all)}, ${maxFailures}::integer, ${windowSeconds}::integer) as wait`,
  );
  return Number(rowsOf<{ wait: number }>(result)[0]?.wait ?? 0);
}

export async function recordFailure(tx: Tx, keys: ThrottleKeys, windowSeconds: number) {
  await tx.execute(sql`select app.login_throttle_fail(${toArray(keys.all)}, ${windowSeconds}::integer)`);
}

/** A success clears the account's counter (not the address's: one good password must not unlock spraying). */
export async function resetAccount(tx: Tx, keys: ThrottleKeys) {
  await tx.execute(sql`select app.login_throttle_reset(${keys.account})`);
}

// Hashes are hex, so a text[] literal needs no escaping; this keeps the parameter a single
// string on both drivers (postgres.js and PGlite serialise JS arrays differently).
const toArray = (values: string[]) => sql`${`{${values.join(",")}}`}::text[]`;

/**
 * The counter of one client address's sign-ups (registrations, failed invitation acceptances),
 * or null when the address is unknown. The same definer functions keep it as login failures.
 */
export async function signupKeys(clientAddress: string | null): Promise<ThrottleKeys | null> {
  if (!clientAddress) return null;
  const key = await sha256Hex(`signup\u0000${clientAddress}`);
  return { account: key, all: [key] };
}

/** Counts an attempt under `keys` unless the window's quota is used up; returns the seconds to wait (0: counted). */
export async function spendAttempt(tx: Tx, keys: ThrottleKeys, max: number, windowSeconds: number): Promise<number> {
  const wait = await throttleWait(tx, keys, max, windowSeconds);
  if (wait === 0) await recordFailure(tx, keys, windowSeconds);
  return wait;
}
