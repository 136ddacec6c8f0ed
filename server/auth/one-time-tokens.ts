/**
 * Single-use, expiring tokens held for a user (password resets, email verifications, second-factor
 * challenges): made as
 * `bh<kind>_<tenant>_<secret>`, stored only as a SHA-256, and spent atomically — of two
 * requests with one token, one gets the user.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { emailVerifications, mfaChallenges, passwordResets } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { makeOpaqueToken, sha256Hex } from "./tokens.js";

export type OneTimeTokenTable = typeof passwordResets | typeof emailVerifications | typeof mfaChallenges;

/** Stores a new token for `who`, valid for `ttlMs`; returns it and its row's id. */
export async function issueOneTimeToken(
  tx: Tx,
  table: OneTimeTokenTable,
  kind: "pr" | "ev" | "mc",
  who: { tenantId: string; userId: string },
  expiresAt: Date,
): Promise<{ token: string; id: string | null }> {
  const token = makeOpaqueToken(kind, who.tenantId);
  const [row] = await tx
    .insert(table)
    .values({ tenantId: who.tenantId, userId: who.userId, tokenHash: await sha256Hex(token), expiresAt })
    .returning({ id: table.id });
  return { token, id: row?.id ?? null };
}

/** The rows a token may still be spent from: its own, unused, unexpired. */
export const unspent = (table: OneTimeTokenTable, tenantId: string, tokenHash: string, now: Date) =>
  and(eq(table.tenantId, tenantId), eq(table.tokenHash, tokenHash), isNull(table.usedAt), gt(table.expiresAt, now));

/** Spends a token; its user, or null when it was not unspent. */
export async function spendOneTimeToken(
  tx: Tx,
  table: OneTimeTokenTable,
  tenantId: string,
  tokenHash: string,
  now: Date,
): Promise<string | null> {
  const [spent] = await tx
    .update(table)
    .set({ usedAt: now })
    .where(unspent(table, tenantId, tokenHash, now))
    .returning({ userId: table.userId });
  return spent?.userId ?? null;
}
