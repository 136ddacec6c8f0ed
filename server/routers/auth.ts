import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { refreshTokens, tenants, users } from "../../db/schema.js";
import { audit } from "../audit.js";
import { acceptInvite, acceptInviteInput } from "../auth/invitation.js";
import { login, loginInput } from "../auth/login.js";
import {
  confirmTotp,
  disableInput,
  disableTotp,
  enrollTotp,
  mfaStatus,
  totpCodeField,
  verifyInput,
  verifySecondFactor,
} from "../auth/mfa.js";
import {
  listPasskeys,
  passkeyLogin,
  passkeyLoginInput,
  passkeyLoginOptions,
  passkeyLoginOptionsInput,
  registerInput,
  registerPasskey,
  registrationOptions,
  removePasskey,
} from "../auth/passkeys.js";
import {
  changePassword,
  changePasswordInput,
  requestPasswordReset,
  requestPasswordResetInput,
  resetPassword,
  resetPasswordInput,
} from "../auth/passwords.js";
import { refresh, refreshInput } from "../auth/refresh.js";
import { registerTenant, registrationInput } from "../auth/registration.js";
import { liveSessions, revokeSessions } from "../auth/sessions.js";
import { memberColumns, tenantColumns } from "../auth/shapes.js";
import { sha256Hex } from "../auth/tokens.js";
import { resendVerification, verifyEmail, verifyEmailInput } from "../auth/verification.js";
import { notFound } from "../errors.js";
import { publicProcedure, router, signedInProcedure, tenantProcedure } from "../trpc.js";
import { idField, lineField } from "../validation.js";

/**
 * The procedures that start a session: in cookie mode (auth/browser.ts) only from an allowed
 * origin, checked before any work, and the refresh token goes into the cookie, not the body.
 */
const sessionProcedure = publicProcedure.use(({ ctx, next }) => {
  ctx.browser.assertSafe({ usesCookie: false });
  return next();
});

/** What a member a workspace's second-factor policy holds may still call (`Meta.mfaEnrollment`). */
const enrolling = { mfaEnrollment: true };

export const authRouter = router({
  registerTenant: sessionProcedure
    .input(registrationInput)
    .mutation(async ({ ctx, input }) => ctx.browser.deliver(await registerTenant(ctx, input))),

  /** A session, or `{ mfaRequired, challenge, methods }` for a member with a second factor. */
  login: sessionProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    const result = await login(ctx, input);
    return "mfaRequired" in result ? result : ctx.browser.deliver(result);
  }),

  /** Two-factor sign-in (server/auth/mfa.ts). */
  mfa: router({
    /** Answers a login's challenge with a TOTP code or a recovery code: the session. */
    verify: sessionProcedure
      .input(verifyInput)
      .mutation(async ({ ctx, input }) => ctx.browser.deliver(await verifySecondFactor(ctx, input))),
    status: tenantProcedure.meta(enrolling).query(({ ctx }) => mfaStatus(ctx)),
    totp: router({
      /** A new TOTP key to scan (`uri`) or type (`secret`); it counts once `confirm` gets a code. */
      enroll: tenantProcedure.meta(enrolling).mutation(({ ctx }) => enrollTotp(ctx)),
      /** Turns the factor on; returns ten single-use recovery codes, shown this once. */
      confirm: tenantProcedure
        .meta(enrolling)
        .input(z.object({ code: totpCodeField }))
        .mutation(({ ctx, input }) => confirmTotp(ctx, input.code)),
      disable: signedInProcedure.input(disableInput).mutation(({ ctx, input }) => disableTotp(ctx, ctx.member, input)),
    }),
  }),

  /** Passkeys (server/auth/passkeys.ts): a second factor, and a sign-in without a password. */
  passkeys: router({
    /** Options for `navigator.credentials.create` (@simplewebauthn/browser's `startRegistration`). */
    registerOptions: tenantProcedure.meta(enrolling).mutation(({ ctx }) => registrationOptions(ctx)),
    register: tenantProcedure
      .meta(enrolling)
      .input(registerInput)
      .mutation(({ ctx, input }) => registerPasskey(ctx, input)),
    list: tenantProcedure.meta(enrolling).query(({ ctx }) => listPasskeys(ctx)),
    remove: tenantProcedure.input(z.object({ id: idField })).mutation(({ ctx, input }) => removePasskey(ctx, input.id)),
    /** Options for `navigator.credentials.get`, to sign in to a workspace with a passkey alone. */
    loginOptions: publicProcedure
      .input(passkeyLoginOptionsInput)
      .mutation(({ ctx, input }) => passkeyLoginOptions(ctx, input)),
    login: sessionProcedure
      .input(passkeyLoginInput)
      .mutation(async ({ ctx, input }) => ctx.browser.deliver(await passkeyLogin(ctx, input))),
  }),

  refresh: publicProcedure
    .input(refreshInput)
    .mutation(async ({ ctx, input }) => ctx.browser.deliver(await refresh(ctx, input))),

  /**
   * Ends the session of `refreshToken`; in cookie mode, the session of the access token (and
   * the cookie); with neither, every session of the caller.
   */
  logout: tenantProcedure
    .meta(enrolling)
    .input(
      z.object({ refreshToken: lineField().min(1).max(200).optional(), everywhere: z.boolean().optional() }).optional(),
    )
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId } = ctx.member;
      if (input?.everywhere) {
        await revokeSessions(ctx.db, ctx.member, ctx.clock.now());
        if (ctx.browser.cookieMode) ctx.browser.clear();
        await audit(ctx, { action: "auth.logout_all", targetType: "user", targetId: userId });
        return { ok: true as const };
      }
      if (ctx.browser.cookieMode) {
        ctx.browser.assertSafe({ usesCookie: false });
        await revokeSessions(ctx.db, ctx.member, ctx.clock.now(), { only: ctx.member.sessionId });
        ctx.browser.clear();
        await audit(ctx, { action: "auth.logout", targetType: "user", targetId: userId });
        return { ok: true as const };
      }
      if (input?.refreshToken) {
        const tokenHash = await sha256Hex(input.refreshToken);
        const [token] = await ctx.db
          .select({ familyId: refreshTokens.familyId })
          .from(refreshTokens)
          .where(
            and(
              eq(refreshTokens.tenantId, tenantId),
              eq(refreshTokens.userId, userId),
              eq(refreshTokens.tokenHash, tokenHash),
            ),
          );
        if (token) await revokeSessions(ctx.db, ctx.member, ctx.clock.now(), { only: token.familyId });
      } else {
        await revokeSessions(ctx.db, ctx.member, ctx.clock.now());
      }
      await audit(ctx, {
        action: input?.refreshToken ? "auth.logout" : "auth.logout_all",
        targetType: "user",
        targetId: userId,
      });
      return { ok: true as const };
    }),

  /** The caller's own sessions: what they are, and ending one. */
  sessions: router({
    list: tenantProcedure.query(({ ctx }) => liveSessions(ctx.db, ctx.member, ctx.clock.now())),
    revoke: tenantProcedure.input(z.object({ id: idField })).mutation(async ({ ctx, input }) => {
      const ended = await revokeSessions(ctx.db, ctx.member, ctx.clock.now(), { only: input.id });
      if (ended === 0) throw notFound("Session");
      await audit(ctx, { action: "auth.session_revoked", targetType: "session", targetId: input.id });
      return { ok: true as const };
    }),
  }),

  me: tenantProcedure.meta(enrolling).query(async ({ ctx }) => {
    const [user] = await ctx.db
      .select(memberColumns)
      .from(users)
      .where(and(eq(users.tenantId, ctx.member.tenantId), eq(users.id, ctx.member.userId)));
    const [tenant] = await ctx.db.select(tenantColumns).from(tenants).where(eq(tenants.id, ctx.member.tenantId));
    if (!user || !tenant) throw notFound("Member");
    return { user, tenant };
  }),

  /** Marks the email of the link's account verified. */
  verifyEmail: publicProcedure.input(verifyEmailInput).mutation(({ ctx, input }) => verifyEmail(ctx, input)),

  /** Mails the caller a new verification link (throttled). */
  resendVerification: signedInProcedure.mutation(({ ctx }) => resendVerification(ctx, ctx.member)),

  /** Mails a reset link if the account exists; the same answer either way (no enumeration). */
  requestPasswordReset: publicProcedure
    .input(requestPasswordResetInput)
    .mutation(({ ctx, input }) => requestPasswordReset(ctx, input)),

  /** A new password with a reset link's token; every session of the user ends. */
  resetPassword: publicProcedure.input(resetPasswordInput).mutation(({ ctx, input }) => resetPassword(ctx, input)),

  /** A new password, given the current one; the other sessions end, this one stays. */
  changePassword: signedInProcedure
    .input(changePasswordInput)
    .mutation(({ ctx, input }) => changePassword(ctx, ctx.member, input)),

  acceptInvite: sessionProcedure
    .input(acceptInviteInput)
    .mutation(async ({ ctx, input }) => ctx.browser.deliver(await acceptInvite(ctx, input))),
});
