import { z } from "zod";
import { enterTenant, withTenant } from "../../db/tenant.js";
import type { Context } from "../context.js";
import { unauthorized } from "../errors.js";
import { lineField } from "../validation.js";
import { sessionMayContinue } from "./mfa.js";
import { revokeFamily, spendRefreshToken, startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { parseOpaqueToken } from "./tokens.js";

/** In cookie mode the token comes from the cookie, and the input is empty. */
export const refreshInput = z.object({ refreshToken: lineField().min(1).max(200).optional() }).optional();

/**
 * Rotates a refresh token: a spent one replayed revokes its family (RFC 9700), unless it is
 * another tab's refresh inside the reuse window (`spendRefreshToken`).
 */
export async function refresh(ctx: Context, input: z.infer<typeof refreshInput>): Promise<Session> {
  const { browser } = ctx;
  browser.assertSafe({ usesCookie: browser.cookieMode || !input?.refreshToken });
  const token = browser.cookieMode ? browser.cookieToken : (input?.refreshToken ?? null);
  const parsed = token ? parseOpaqueToken("rt", token) : null;
  if (!token || !parsed) throw unauthorized();
  const { tenantId } = parsed;
  const now = ctx.clock.now();
  const result = await withTenant(ctx.database.db, { tenantId, userId: null }, async (tx) => {
    const reuse = ctx.config.refreshTokenReuseSeconds;
    const outcome = await spendRefreshToken(tx, ctx.tokens, tenantId, token, now, reuse);
    if (outcome.kind === "reused") {
      // Committed on purpose: the replay revokes every token of the family, the thief's and ours.
      await revokeFamily(tx, { tenantId, userId: outcome.userId }, outcome.familyId, now);
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
    // A workspace that now requires a second factor ends a session that never proved the member's.
    if (!(await sessionMayContinue(tx, { tenantId, userId: outcome.userId }, outcome.origin))) {
      await revokeFamily(tx, { tenantId, userId: outcome.userId }, outcome.familyId, now);
      return null;
    }
    return startSession(
      tx,
      ctx,
      {
        tenantId,
        userId: outcome.userId,
        familyId: outcome.familyId,
        refreshToken: outcome.child,
        origin: outcome.origin,
      },
      { action: "auth.refreshed", targetType: "user", targetId: outcome.userId },
    );
  });
  if (!result) throw unauthorized();
  return result;
}
