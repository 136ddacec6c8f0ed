/**
 * Password reset and change. A reset token is single use, expires (PASSWORD_RESET_TTL_MINUTES),
 * is stored as a SHA-256 only, and dies when the password changes by any path; a reset ends
 * every session of the user, a change every session but the current one. Each step is audited
 * (never with a token or hash) and mails the user through the outbox, in the same transaction.
 */
import { TRPCError } from "@trpc/server";
import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { passwordResets, tenants, users } from "../../db/schema.js";
import {
  enterTenant,
  type MemberContext,
  tenantIdForSlug,
  withMember,
  withoutTenant,
  withTenant,
} from "../../db/tenant.js";
import type { Tx } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import type { Context } from "../context.js";
import { unauthorized } from "../errors.js";
import { passwordChangedMail, passwordResetMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { emailField, lineField, passwordField } from "../validation.js";
import { issueOneTimeToken, spendOneTimeToken, unspent } from "./one-time-tokens.js";
import { assertPasswordAllowed } from "./password-policy.js";
import { invalidResetToken, tooMany } from "./refusals.js";
import { revokeSessions } from "./sessions.js";
import { recheckThrottle, type Throttle, takeAttempt } from "./throttle.js";
import { makeOpaqueToken, parseOpaqueToken, sha256Hex } from "./tokens.js";

export const requestPasswordResetInput = z.object({
  tenantSlug: lineField().trim().toLowerCase().min(1).max(64),
  email: emailField,
});
export const resetPasswordInput = z.object({ token: lineField().min(1).max(200), newPassword: passwordField });
export const changePasswordInput = z.object({
  currentPassword: lineField().min(1).max(256),
  newPassword: passwordField,
});

/** Every reset request takes at least this long, so its timing does not say whether the account exists. */
export const resetRequestFloorMs = 300;

async function resetThrottle(ctx: Context, slug: string, email: string): Promise<Throttle> {
  const { maxPerAccount, maxPerAddress, windowSeconds } = ctx.config.passwordReset;
  const keys = [await sha256Hex(`reset-account\u0000${slug}\u0000${email}`)];
  const limits = [maxPerAccount];
  if (ctx.clientAddress) {
    keys.push(await sha256Hex(`reset-address\u0000${ctx.clientAddress}`));
    limits.push(maxPerAddress);
  }
  return { keys, limits, windowSeconds, clearOnSuccess: [] };
}

/**
 * Mails a reset link when the account exists, and answers `{ ok: true }` whatever the tenant and
 * email: the same body, the same work (a token made and hashed either way), and no sooner than
 * `resetRequestFloorMs`. Throttled per account and per address before anything is looked up.
 */
export async function requestPasswordReset(
  ctx: Context,
  input: z.infer<typeof requestPasswordResetInput>,
): Promise<{ ok: true }> {
  const floor = new Promise((resolve) => setTimeout(resolve, resetRequestFloorMs));
  const throttle = await resetThrottle(ctx, input.tenantSlug, input.email);
  const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
  if (wait > 0) throw tooMany(ctx.resHeaders, wait, "password reset requests");

  await withoutTenant(ctx.database.db, async (tx) => {
    const tenantId = await tenantIdForSlug(tx, input.tenantSlug);
    if (!tenantId) {
      // The work of a real request's token, for an unknown tenant too.
      await sha256Hex(makeOpaqueToken("pr", crypto.randomUUID()));
      return;
    }
    // The account is looked up under RLS, in the tenant's context.
    await enterTenant(tx, { tenantId, userId: null });
    const [account] = await tx
      .select({ id: users.id, name: users.name, workspace: tenants.name })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.tenantId, tenantId), eq(users.email, input.email)));
    const { ttlMinutes } = ctx.config.passwordReset;
    const expiresAt = new Date(ctx.clock.now().getTime() + ttlMinutes * 60_000);
    if (!account) {
      await sha256Hex(makeOpaqueToken("pr", tenantId)); // as for a real account
      return;
    }
    const reset = await issueOneTimeToken(tx, passwordResets, "pr", { tenantId, userId: account.id }, expiresAt);
    await enqueueMail(
      tx,
      tenantId,
      passwordResetMail(
        ctx.config.mail,
        { email: input.email, name: account.name },
        account.workspace,
        reset.token,
        ttlMinutes,
      ),
    );
    await recordAudit(
      tx,
      {
        tenantId,
        actorId: account.id,
        action: "auth.password_reset_requested",
        targetType: "password_reset",
        targetId: reset.id,
      },
      ctx,
    );
  });
  await floor;
  return { ok: true as const };
}

/** What every change of a password does besides the hash: old reset links die, sessions end. */
async function afterPasswordChange(
  tx: Tx,
  who: { tenantId: string; userId: string },
  now: Date,
  keepSession: string | null,
): Promise<void> {
  await tx
    .update(passwordResets)
    .set({ usedAt: now })
    .where(
      and(
        eq(passwordResets.tenantId, who.tenantId),
        eq(passwordResets.userId, who.userId),
        isNull(passwordResets.usedAt),
      ),
    );
  await revokeSessions(tx, who, now, keepSession ? { except: keepSession } : {});
}

/**
 * Sets a new password with a reset token: once, before it expires, and only for the tenant the
 * request names (its X-Tenant or subdomain, when it names one). Ends every session of the user.
 */
export async function resetPassword(ctx: Context, input: z.infer<typeof resetPasswordInput>): Promise<{ ok: true }> {
  const parsed = parseOpaqueToken("pr", input.token);
  if (!parsed) throw invalidResetToken();
  const { tenantId } = parsed;
  const tokenHash = await sha256Hex(input.token);
  const now = ctx.clock.now();

  const account = await withTenant(ctx.database.db, { tenantId, userId: null }, async (tx) => {
    const [found] = await tx
      .select({
        userId: passwordResets.userId,
        email: users.email,
        name: users.name,
        workspace: tenants.name,
        slug: tenants.slug,
      })
      .from(passwordResets)
      .innerJoin(users, and(eq(users.tenantId, passwordResets.tenantId), eq(users.id, passwordResets.userId)))
      .innerJoin(tenants, eq(tenants.id, passwordResets.tenantId))
      .where(unspent(passwordResets, tenantId, tokenHash, now));
    return found ?? null;
  });
  if (!account || (ctx.tenantHint !== null && ctx.tenantHint !== account.slug)) throw invalidResetToken();
  assertPasswordAllowed(input.newPassword, { email: account.email, tenantName: account.workspace }, "newPassword");
  const passwordHash = await ctx.hasher.hash(input.newPassword);

  await withTenant(ctx.database.db, { tenantId, userId: account.userId }, async (tx) => {
    // Spent atomically: of two requests with one token, one changes the password.
    if (!(await spendOneTimeToken(tx, passwordResets, tenantId, tokenHash, now))) throw invalidResetToken();
    await tx
      .update(users)
      .set({ passwordHash, updatedAt: now })
      .where(and(eq(users.tenantId, tenantId), eq(users.id, account.userId)));
    await afterPasswordChange(tx, { tenantId, userId: account.userId }, now, null);
    await enqueueMail(tx, tenantId, passwordChangedMail(ctx.config.mail, account, account.workspace, "reset"));
    await recordAudit(
      tx,
      {
        tenantId,
        actorId: account.userId,
        action: "auth.password_reset",
        targetType: "user",
        targetId: account.userId,
      },
      ctx,
    );
  });
  return { ok: true as const };
}

/**
 * The signed-in member's own account, their workspace, and their current role, read in one
 * read-only transaction (UNAUTHORIZED when the member is gone).
 */
export async function ownAccount(ctx: Context, member: MemberContext) {
  const account = await withMember(ctx.database.db, member, { write: false }, async (tx, role) => {
    const [found] = await tx
      .select({
        email: users.email,
        name: users.name,
        passwordHash: users.passwordHash,
        workspace: tenants.name,
        slug: tenants.slug,
      })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.tenantId, member.tenantId), eq(users.id, member.userId)));
    return found && { ...found, role };
  });
  if (!account) throw unauthorized();
  return account;
}

/**
 * Checks a signed-in member's own password (a password change, a workspace deletion) under the
 * member's re-check throttle, outside any transaction: BAD_REQUEST naming `field` when it is
 * wrong — not UNAUTHORIZED, since the session is good and a client would refresh it and retry.
 */
export async function confirmOwnPassword(
  ctx: Context,
  member: MemberContext,
  account: { passwordHash: string },
  password: string,
  field: string,
): Promise<void> {
  const throttle = await recheckThrottle(ctx.config.login, member);
  const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
  if (wait > 0) throw tooMany(ctx.resHeaders, wait, "password checks");
  if (!(await ctx.hasher.verify(account.passwordHash, password))) {
    throw new TRPCError({ code: "BAD_REQUEST", message: `Invalid input: ${field}: is not your current password` });
  }
}

/**
 * Changes the caller's password: the current one is verified first, under the re-check throttle;
 * every other session of the user ends, the current one stays, and the user is told by mail.
 */
export async function changePassword(
  ctx: Context,
  member: MemberContext,
  input: z.infer<typeof changePasswordInput>,
): Promise<{ ok: true }> {
  const account = await ownAccount(ctx, member);
  await confirmOwnPassword(ctx, member, account, input.currentPassword, "currentPassword");
  assertPasswordAllowed(input.newPassword, { email: account.email, tenantName: account.workspace }, "newPassword");
  const passwordHash = await ctx.hasher.hash(input.newPassword);
  const now = ctx.clock.now();

  await withMember(ctx.database.db, member, { write: true }, async (tx) => {
    await tx
      .update(users)
      .set({ passwordHash, updatedAt: now })
      .where(and(eq(users.tenantId, member.tenantId), eq(users.id, member.userId)));
    await afterPasswordChange(tx, member, now, member.sessionId);
    await enqueueMail(tx, member.tenantId, passwordChangedMail(ctx.config.mail, account, account.workspace, "changed"));
    await recordAudit(
      tx,
      {
        tenantId: member.tenantId,
        actorId: member.userId,
        action: "auth.password_changed",
        targetType: "user",
        targetId: member.userId,
      },
      ctx,
    );
  });
  return { ok: true as const };
}
