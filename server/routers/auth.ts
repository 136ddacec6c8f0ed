import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { refreshTokens, tenants, users } from "../../db/schema.js";
import { audit } from "../audit.js";
import { acceptInvite, acceptInviteInput } from "../auth/invitation.js";
import { login, loginInput } from "../auth/login.js";
import { refresh, refreshInput } from "../auth/refresh.js";
import { registerTenant, registrationInput } from "../auth/registration.js";
import { revokeFamily } from "../auth/sessions.js";
import { memberColumns, tenantColumns } from "../auth/shapes.js";
import { sha256Hex } from "../auth/tokens.js";
import { notFound } from "../errors.js";
import { publicProcedure, router, tenantProcedure } from "../trpc.js";
import { lineField } from "../validation.js";

export const authRouter = router({
  registerTenant: publicProcedure.input(registrationInput).mutation(({ ctx, input }) => registerTenant(ctx, input)),

  login: publicProcedure.input(loginInput).mutation(({ ctx, input }) => login(ctx, input)),

  refresh: publicProcedure.input(refreshInput).mutation(({ ctx, input }) => refresh(ctx, input)),

  logout: tenantProcedure
    .input(z.object({ refreshToken: lineField().min(1).max(200).optional() }).optional())
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId } = ctx.member;
      const mine = and(
        eq(refreshTokens.tenantId, tenantId),
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
      );
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
        if (token) await revokeFamily(ctx.db, tenantId, token.familyId, ctx.clock.now());
      } else {
        await ctx.db.update(refreshTokens).set({ revokedAt: ctx.clock.now() }).where(mine);
      }
      await audit(ctx, {
        action: input?.refreshToken ? "auth.logout" : "auth.logout_all",
        targetType: "user",
        targetId: userId,
      });
      return { ok: true as const };
    }),

  me: tenantProcedure.query(async ({ ctx }) => {
    const [user] = await ctx.db
      .select(memberColumns)
      .from(users)
      .where(and(eq(users.tenantId, ctx.member.tenantId), eq(users.id, ctx.member.userId)));
    const [tenant] = await ctx.db.select(tenantColumns).from(tenants).where(eq(tenants.id, ctx.member.tenantId));
    if (!user || !tenant) throw notFound("Member");
    return { user, tenant };
  }),

  acceptInvite: publicProcedure.input(acceptInviteInput).mutation(({ ctx, input }) => acceptInvite(ctx, input)),
});
