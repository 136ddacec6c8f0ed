import { TRPCError } from "@trpc/server";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { enterTenant, withoutTenant } from "../../db/tenant.js";
import { rowsOf } from "../../db/types.js";
import type { Context } from "../context.js";
import { emailField, nameField, passwordField, slugField } from "../validation.js";
import { assertPasswordAllowed } from "./password-policy.js";
import { tooMany } from "./refusals.js";
import { startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { signupThrottle, takeAttempt } from "./throttle.js";
import { sendVerification } from "./verification.js";

export const registrationInput = z.object({
  tenant: z.object({ name: nameField, slug: slugField }),
  owner: z.object({ email: emailField, password: passwordField, name: nameField }),
});

/** Registers a tenant and its owner, and signs the owner in. Every registration from an address counts. */
export async function registerTenant(ctx: Context, input: z.infer<typeof registrationInput>): Promise<Session> {
  // Every registration from an address counts (each costs a hash and creates a tenant),
  // reserved before the hash is computed.
  const throttle = await signupThrottle(ctx.config.signup, ctx.clientAddress);
  if (throttle) {
    const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
    if (wait > 0) throw tooMany(ctx.resHeaders, wait, "registrations from this address");
  }
  assertPasswordAllowed(
    input.owner.password,
    { email: input.owner.email, tenantName: input.tenant.name },
    "owner.password",
  );
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
      const session = await startSession(tx, ctx, who, {
        action: "tenant.registered",
        targetType: "tenant",
        targetId: who.tenantId,
      });
      await sendVerification(tx, ctx, {
        ...who,
        email: input.owner.email,
        name: input.owner.name,
        workspace: input.tenant.name,
      });
      return session;
    },
    { statementTimeoutMs: ctx.config.statementTimeoutMs },
  );
}
