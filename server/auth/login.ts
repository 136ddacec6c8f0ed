import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { users } from "../../db/schema.js";
import { enterTenant, tenantIdForSlug, withoutTenant, withTenant } from "../../db/tenant.js";
import type { Context } from "../context.js";
import { unauthorized } from "../errors.js";
import { emailField, lineField } from "../validation.js";
import { challengeIfEnrolled, type MfaChallenge } from "./mfa.js";
import { tooMany } from "./refusals.js";
import { startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { giveBackAttempt, loginThrottle, takeAttempt } from "./throttle.js";

export const loginInput = z.object({
  tenantSlug: lineField().trim().toLowerCase().min(1).max(64),
  email: emailField,
  password: lineField().min(1).max(256),
});

/** Signs a member in: the attempt is throttled before the password is hashed (docs/security.md). */
export async function login(ctx: Context, input: z.infer<typeof loginInput>): Promise<Session | MfaChallenge> {
  const db = ctx.database.db;
  const throttle = await loginThrottle(ctx.config.login, input.tenantSlug, input.email, ctx.clientAddress);

  // The attempt is reserved (committed) before the password is hashed, so parallel guesses
  // cannot all pass one check; a failure needs no second write.
  const found = await withoutTenant(db, async (tx) => {
    const wait = await takeAttempt(tx, throttle);
    if (wait > 0) return { wait, tenantId: null, user: null };
    const tenantId = await tenantIdForSlug(tx, input.tenantSlug);
    if (!tenantId) return { wait: 0, tenantId: null, user: null };
    // The user lookup itself runs under RLS, in the tenant's context.
    await enterTenant(tx, { tenantId, userId: null });
    const [user] = await tx
      .select({ id: users.id, passwordHash: users.passwordHash })
      .from(users)
      .where(and(eq(users.tenantId, tenantId), eq(users.email, input.email)));
    return { wait: 0, tenantId, user: user ?? null };
  });
  if (found.wait > 0) throw tooMany(ctx.resHeaders, found.wait, "failed logins");

  // Hashing happens outside any transaction, so no pooled connection waits on it; an unknown
  // tenant or user still costs one verification, so timing tells nothing.
  const hash = found.user?.passwordHash ?? (await ctx.dummyPasswordHash());
  const valid = (await ctx.hasher.verify(hash, input.password)) && found.user !== null;
  if (!valid || !found.tenantId || !found.user) throw unauthorized();

  const who = { tenantId: found.tenantId, userId: found.user.id };
  const session = await withTenant(
    db,
    who,
    async (tx, role) => {
      if (!role) throw unauthorized();
      // A member with a second factor gets a challenge to answer (auth.mfa.verify), not a session.
      const challenge = await challengeIfEnrolled(tx, ctx, who);
      if (challenge) return challenge;
      return startSession(tx, ctx, who, { action: "auth.login", targetType: "user", targetId: who.userId });
    },
    { statementTimeoutMs: ctx.config.statementTimeoutMs },
  );
  await giveBackAttempt(db, throttle);
  return session;
}
