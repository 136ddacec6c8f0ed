import { z } from "zod";
import { enterTenant, withTenant } from "../../db/tenant.js";
import type { Context } from "../context.js";
import { unauthorized } from "../errors.js";
import { lineField } from "../validation.js";
import { revokeFamily, spendRefreshToken, startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { parseOpaqueToken } from "./tokens.js";

export const refreshInput = z.object({ refreshToken: lineField().min(1).max(200) });

/** Rotates a refresh token: a spent one replayed revokes its family (RFC 9700). */
export async function refresh(ctx: Context, input: z.infer<typeof refreshInput>): Promise<Session> {
  const parsed = parseOpaqueToken("rt", input.refreshToken);
  if (!parsed) throw unauthorized();
  const { tenantId } = parsed;
  const now = ctx.clock.now();
  const result = await withTenant(ctx.database.db, { tenantId, userId: null }, async (tx) => {
    const outcome = await spendRefreshToken(tx, tenantId, input.refreshToken, now);
    if (outcome.kind === "reused") {
      // Committed on purpose: the replay revokes every token of the family, the thief's and ours.
      await revokeFamily(tx, tenantId, outcome.familyId, now);
      return null;
    }
    if (outcome.kind === "invalid") return null;
    const role = await enterTenant(
      tx,
      { tenantId, userId: outcome.userId },
      {
        statementTimeoutMs: ctx.config.statementTimeoutMs,
      },
    );
    if (!role) return null;
    return startSession(
      tx,
      ctx,
      { tenantId, userId: outcome.userId, familyId: outcome.familyId },
      { action: "auth.refreshed", targetType: "user", targetId: outcome.userId },
    );
  });
  if (!result) throw unauthorized();
  return result;
}
