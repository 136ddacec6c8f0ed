import { TRPCError } from "@trpc/server";
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { invitations, refreshTokens, tenants, users } from "../../db/schema.js";
import { enterTenant, withoutTenant, withTenant } from "../../db/tenant.js";
import { rowsOf } from "../../db/types.js";
import { audit } from "../audit.js";
import { revokeFamily, spendRefreshToken, startSession } from "../auth/sessions.js";
import { memberColumns, type Session, tenantColumns } from "../auth/shapes.js";
import { loginThrottle, refundAttempt, signupThrottle, takeAttempt } from "../auth/throttle.js";
import { parseOpaqueToken, sha256Hex } from "../auth/tokens.js";
import { notFound, unauthorized } from "../errors.js";
import { hasRole, publicProcedure, router, tenantProcedure } from "../trpc.js";
import { emailField, lineField, nameField, passwordField, slugField } from "../validation.js";

const invalidInvitation = () => new TRPCError({ code: "UNAUTHORIZED", message: "Invalid, used or expired invitation" });

function tooMany(resHeaders: Headers, wait: number, what: string) {
  resHeaders.set("Retry-After", String(wait));
  return new TRPCError({ code: "TOO_MANY_REQUESTS", message: `Too many ${what}; retry in ${wait} seconds` });
}

export const authRouter = router({
  registerTenant: publicProcedure
    .input(
      z.object({
        tenant: z.object({ name: nameField, slug: slugField }),
        owner: z.object({ email: emailField, password: passwordField, name: nameField }),
      }),
    )
    .mutation(async ({ ctx, input }): Promise<Session> => {
      // Every registration from an address counts (each costs a hash and creates a tenant),
      // reserved before the hash is computed.
      const throttle = await signupThrottle(ctx.config.signup, ctx.clientAddress);
      if (throttle) {
        const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
        if (wait > 0) throw tooMany(ctx.resHeaders, wait, "registrations from this address");
      }
      const passwordHash = await ctx.hasher.hash(input.owner.password);
      return withoutTenant(
        ctx.database.db,
        async (tx) => {
          const result = await tx.execute(
            sql`select tenant_id, user_id from app.register_tenant(${input.tenant.slug}, ${input.tenant.name}, ${input.owner.email}, ${input.owner.name}, ${passwordHash})`,
          );
          const created = rowsOf<{ tenant_id: string; user_id: string }>(result)[0];
          if (!created) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR" });
          const who = { tenantId: created.tenant_id, userId: created.user_id };
          await enterTenant(tx, who, { statementTimeoutMs: ctx.config.statementTimeoutMs });
          return startSession(tx, ctx, who, {
            action: "tenant.registered",
            targetType: "tenant",
            targetId: who.tenantId,
          });
        },
        { statementTimeoutMs: ctx.config.statementTimeoutMs },
      );
    }),

  login: publicProcedure
    .input(
      z.object({
        tenantSlug: lineField().trim().toLowerCase().min(1).max(64),
        email: emailField,
        password: lineField().min(1).max(256),
      }),
    )
    .mutation(async ({ ctx, input }): Promise<Session> => {
      const db = ctx.database.db;
      const throttle = await loginThrottle(ctx.config.login, input.tenantSlug, input.email, ctx.clientAddress);

      // The attempt is reserved (committed) before the password is hashed, so parallel guesses
      // cannot all pass one check; a failure needs no second write.
      const found = await withoutTenant(db, async (tx) => {
        const wait = await takeAttempt(tx, throttle);
        if (wait > 0) return { wait, tenantId: null, user: null };
        const slug = await tx.execute(sql`select app.tenant_id_for_slug(${input.tenantSlug}) as id`);
        const tenantId = rowsOf<{ id: string | null }>(slug)[0]?.id ?? null;
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
      return withTenant(
        db,
        who,
        async (tx, role) => {
          if (!role) throw unauthorized();
          await refundAttempt(tx, throttle);
          return startSession(tx, ctx, who, { action: "auth.login", targetType: "user", targetId: who.userId });
        },
        { statementTimeoutMs: ctx.config.statementTimeoutMs },
      );
    }),

  refresh: publicProcedure
    .input(z.object({ refreshToken: lineField().min(1).max(200) }))
    .mutation(async ({ ctx, input }): Promise<Session> => {
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
    }),

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

  acceptInvite: publicProcedure
    .input(z.object({ token: lineField().min(1).max(200), name: nameField, password: passwordField }))
    .mutation(async ({ ctx, input }): Promise<Session> => {
      // Acceptances count per address, reserved before the hash (each costs one before the token
      // is checked); a success gives its attempt back, so only failures use the limit up.
      const throttle = await signupThrottle(ctx.config.signup, ctx.clientAddress);
      if (throttle) {
        const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
        if (wait > 0) throw tooMany(ctx.resHeaders, wait, "failed invitations from this address");
      }
      const parsed = parseOpaqueToken("inv", input.token);
      if (!parsed) throw invalidInvitation();
      const { tenantId } = parsed;
      const passwordHash = await ctx.hasher.hash(input.password);
      const tokenHash = await sha256Hex(input.token);
      const now = ctx.clock.now();
      return withTenant(
        ctx.database.db,
        { tenantId, userId: null },
        async (tx) => {
          const [invitation] = await tx
            .select({
              id: invitations.id,
              email: invitations.email,
              role: invitations.role,
              invitedBy: invitations.invitedBy,
            })
            .from(invitations)
            .where(
              and(
                eq(invitations.tenantId, tenantId),
                eq(invitations.tokenHash, tokenHash),
                isNull(invitations.acceptedAt),
                gt(invitations.expiresAt, now),
              ),
            )
            .for("update");
          if (!invitation) throw invalidInvitation();
          // An invitation is only as good as its inviter: one removed or demoted since cannot
          // bring anyone in (FOR SHARE: a demotion in flight waits, or is seen).
          const [inviter] = await tx
            .select({ role: users.role })
            .from(users)
            .where(and(eq(users.tenantId, tenantId), eq(users.id, invitation.invitedBy)))
            .for("share");
          if (!inviter || !hasRole(inviter.role, "admin") || !hasRole(inviter.role, invitation.role)) {
            throw invalidInvitation();
          }
          await tx
            .update(invitations)
            .set({ acceptedAt: now })
            .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, invitation.id)));
          const [user] = await tx
            .insert(users)
            .values({ tenantId, email: invitation.email, name: input.name, passwordHash, role: invitation.role })
            .returning({ id: users.id });
          if (!user) throw invalidInvitation();
          await enterTenant(tx, { tenantId, userId: user.id }, { statementTimeoutMs: ctx.config.statementTimeoutMs });
          if (throttle) await refundAttempt(tx, throttle);
          return startSession(
            tx,
            ctx,
            { tenantId, userId: user.id },
            { action: "invitation.accepted", targetType: "invitation", targetId: invitation.id },
          );
        },
        { statementTimeoutMs: ctx.config.statementTimeoutMs },
      );
    }),
});
