/**
 * Email verification: registration and invitation acceptance mail a link, in the transaction
 * that creates the account; `auth.verifyEmail` spends its token (once, before it expires, in its
 * tenant) and marks `users.email_verified_at`; `auth.resendVerification` mails a new one,
 * throttled. A tenant with `requireVerifiedEmail` lets unverified members only read
 * (`app.enter_member`, BH412). Tokens are stored as SHA-256 hashes and appear only in the mail.
 */
import { TRPCError } from "@trpc/server";
import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { emailVerifications, tenants, users } from "../../db/schema.js";
import { type MemberContext, withMember, withoutTenant, withTenant } from "../../db/tenant.js";
import type { Tx } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import type { Context } from "../context.js";
import { unauthorized } from "../errors.js";
import { verificationMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { lineField } from "../validation.js";
import { issueOneTimeToken, spendOneTimeToken } from "./one-time-tokens.js";
import { tooMany } from "./refusals.js";
import { takeAttempt } from "./throttle.js";
import { parseOpaqueToken, sha256Hex } from "./tokens.js";

export const verifyEmailInput = z.object({ token: lineField().min(1).max(200) });

const invalidVerification = () =>
  new TRPCError({ code: "UNAUTHORIZED", message: "Invalid, used or expired verification link" });

interface Recipient {
  tenantId: string;
  userId: string;
  email: string;
  name: string;
  workspace: string;
}

/** Mails `who` a verification link, in the caller's transaction (in `who`'s tenant context). */
export async function sendVerification(
  tx: Tx,
  ctx: Pick<Context, "config" | "clock" | "requestId" | "clientAddress">,
  who: Recipient,
): Promise<void> {
  const { ttlHours } = ctx.config.emailVerification;
  const expiresAt = new Date(ctx.clock.now().getTime() + ttlHours * 3_600_000);
  const { token, id } = await issueOneTimeToken(tx, emailVerifications, "ev", who, expiresAt);
  await enqueueMail(tx, who.tenantId, verificationMail(ctx.config.mail, who, who.workspace, token, ttlHours));
  await recordAudit(
    tx,
    {
      tenantId: who.tenantId,
      actorId: who.userId,
      action: "auth.verification_sent",
      targetType: "email_verification",
      targetId: id,
    },
    ctx,
  );
}

/** Spends a verification token and marks the email verified; only for the tenant the request names. */
export async function verifyEmail(ctx: Context, input: z.infer<typeof verifyEmailInput>): Promise<{ ok: true }> {
  const parsed = parseOpaqueToken("ev", input.token);
  if (!parsed) throw invalidVerification();
  const { tenantId } = parsed;
  const tokenHash = await sha256Hex(input.token);
  const now = ctx.clock.now();
  await withTenant(ctx.database.db, { tenantId, userId: null }, async (tx) => {
    if (ctx.tenantHint !== null) {
      const [tenant] = await tx.select({ slug: tenants.slug }).from(tenants).where(eq(tenants.id, tenantId));
      if (tenant?.slug !== ctx.tenantHint) throw invalidVerification();
    }
    // Spent atomically: of two requests with one token, one verifies.
    const userId = await spendOneTimeToken(tx, emailVerifications, tenantId, tokenHash, now);
    if (!userId) throw invalidVerification();
    await tx
      .update(users)
      .set({ emailVerifiedAt: now })
      .where(and(eq(users.tenantId, tenantId), eq(users.id, userId), isNull(users.emailVerifiedAt)));
    await recordAudit(
      tx,
      { tenantId, actorId: userId, action: "auth.email_verified", targetType: "user", targetId: userId },
      ctx,
    );
  });
  return { ok: true as const };
}

/** Mails the caller a new verification link (throttled per account); nothing when already verified. */
export async function resendVerification(
  ctx: Context,
  member: MemberContext,
): Promise<{ ok: true; alreadyVerified: boolean }> {
  const account = await withMember(ctx.database.db, member, { write: false }, async (tx) => {
    const [found] = await tx
      .select({ email: users.email, name: users.name, verifiedAt: users.emailVerifiedAt, workspace: tenants.name })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.tenantId, member.tenantId), eq(users.id, member.userId)));
    return found;
  });
  if (!account) throw unauthorized();
  if (account.verifiedAt) return { ok: true as const, alreadyVerified: true };
  const { maxResends, windowSeconds } = ctx.config.emailVerification;
  const key = await sha256Hex(`verify-resend\u0000${member.tenantId}\u0000${member.userId}`);
  const wait = await withoutTenant(ctx.database.db, (tx) =>
    takeAttempt(tx, { keys: [key], limits: [maxResends], windowSeconds, clearOnSuccess: [] }),
  );
  if (wait > 0) throw tooMany(ctx.resHeaders, wait, "verification mails");
  await withMember(ctx.database.db, member, { write: true }, (tx) =>
    sendVerification(tx, ctx, { ...member, email: account.email, name: account.name, workspace: account.workspace }),
  );
  return { ok: true as const, alreadyVerified: false };
}
