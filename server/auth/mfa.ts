/**
 * Two-factor sign-in with TOTP (RFC 6238) and single-use recovery codes (docs/security.md).
 *
 * - The TOTP key is stored AES-GCM encrypted (`auth/encryption.ts`), bound to its member's row.
 * - A code is accepted for the time step before, at or after now's, and a step only once: the
 *   accepted step is recorded by a conditional UPDATE (`last_step < step`), so of two requests
 *   with one code, one wins, on every engine.
 * - `auth.login` answers a member with a factor with a challenge instead of a session: single
 *   use, minutes long, stored as a SHA-256, and carrying its tenant, so it is looked up under RLS
 *   there; the account is the challenge's own, so a code can only ever be checked against it.
 * - Wrong codes count per challenge and per account in the login throttle's table, reserved
 *   before the code is checked (as a password is), so parallel guesses cannot all be checked.
 */
import { encodeBase32UpperCaseNoPadding } from "@oslojs/encoding";
import { createTOTPKeyURI, generateHOTP } from "@oslojs/otp";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { TRPCError } from "@trpc/server";
import { and, count, eq, isNotNull, isNull, lt, or } from "drizzle-orm";
import { z } from "zod";
import { mfaChallenges, passkeys, recoveryCodes, tenants, totpFactors, users } from "../../db/schema.js";
import { enterTenant, type MemberContext, withMember, withoutTenant, withTenant } from "../../db/tenant.js";
import type { Tx } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import type { Context } from "../context.js";
import { secondFactorMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { lineField } from "../validation.js";
import { issueOneTimeToken, spendOneTimeToken, unspent } from "./one-time-tokens.js";
import { acceptPasskey, authenticationResponse, credentialsOf, hasPasskey, secondFactorOptions } from "./passkeys.js";
import { confirmOwnPassword, ownAccount } from "./passwords.js";
import { tooMany } from "./refusals.js";
import { markSecondFactor, type SessionOrigin, startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { giveBackAttempt, type Throttle, takeAttempt } from "./throttle.js";
import { parseOpaqueToken, sha256Hex } from "./tokens.js";

type PasskeyResponse = z.infer<typeof authenticationResponse>;

const periodSeconds = 30;
const digits = 6;
const recoveryCodeCount = 10;

/** What `auth.login` answers a member with a second factor. */
export interface MfaChallenge {
  mfaRequired: true;
  /** Answer it with `auth.mfa.verify` within MFA_CHALLENGE_TTL_SECONDS, once. */
  challenge: string;
  methods: ("totp" | "recovery_code" | "passkey")[];
  /** With a passkey: the options for `navigator.credentials.get`, whose challenge is `challenge`. */
  passkeyOptions?: PublicKeyCredentialRequestOptionsJSON;
}

export const totpCodeField = z
  .string()
  .trim()
  .regex(/^[0-9]{6}$/, "must be the 6 digits your authenticator shows");

/** A recovery code as typed: case, spaces and dashes do not matter. */
const recoveryCodeField = lineField()
  .min(1)
  .max(40)
  .transform((value) => value.toUpperCase().replace(/[^A-Z2-7]/g, ""));

export const verifyInput = z
  .object({
    challenge: lineField().min(1).max(200),
    code: totpCodeField.optional(),
    recoveryCode: recoveryCodeField.optional(),
    passkeyResponse: authenticationResponse.optional(),
  })
  .refine(
    (input) => [input.code, input.recoveryCode, input.passkeyResponse].filter((v) => v !== undefined).length === 1,
    {
      message: "give one of code, recoveryCode or passkeyResponse",
    },
  );

export const disableInput = z.object({ password: lineField().min(1).max(256), code: totpCodeField });

/** The time step of `at`. */
export const totpStep = (at: Date) => Math.floor(at.getTime() / 1000 / periodSeconds);

/** The code of a key at a time step (tests compute theirs with it too). */
export const totpCode = (key: Uint8Array, step: number) => generateHOTP(key, BigInt(step), digits);

/** What a TOTP key's ciphertext is bound to: its purpose and its member. */
const keyContext = (who: Who) => `totp\u0000${who.tenantId}\u0000${who.userId}`;

/** One message for every refusal at `verify`: a wrong, reused or foreign code or challenge. */
const refused = () => new TRPCError({ code: "UNAUTHORIZED", message: "The code or the challenge is not valid" });

interface Who {
  tenantId: string;
  userId: string;
}

const ofMember = (table: typeof totpFactors | typeof recoveryCodes | typeof passkeys, who: Who) =>
  and(eq(table.tenantId, who.tenantId), eq(table.userId, who.userId));

/** Whether the workspace requires its members to sign in with a second factor. */
export async function workspaceRequiresMfa(tx: Tx, tenantId: string): Promise<boolean> {
  const [tenant] = await tx.select({ requireMfa: tenants.requireMfa }).from(tenants).where(eq(tenants.id, tenantId));
  return tenant?.requireMfa ?? false;
}

/** True when the member has TOTP on. */
async function hasTotp(tx: Tx, who: Who): Promise<boolean> {
  const [factor] = await tx
    .select({ userId: totpFactors.userId })
    .from(totpFactors)
    .where(and(ofMember(totpFactors, who), isNotNull(totpFactors.confirmedAt)));
  return factor !== undefined;
}

/** True when the member has a second factor: TOTP on, or a passkey. */
export async function hasSecondFactor(tx: Tx, who: Who): Promise<boolean> {
  return (await hasTotp(tx, who)) || (await hasPasskey(tx, who));
}

const sameCode = (a: string, b: string) => {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
};

/**
 * Accepts a TOTP code of the member's factor (`confirmed`, or the one being enrolled) once: true
 * when it is the code of a step within one of now's that no accepted code reached yet, and that
 * step is now recorded. A key under a previous ENCRYPTION_KEY is written back under the current one.
 */
async function acceptTotp(
  tx: Tx,
  ctx: Pick<Context, "encryption" | "clock">,
  who: Who,
  code: string,
  factorState: "confirmed" | "enrolling",
): Promise<boolean> {
  const [factor] = await tx
    .select({ secretEncrypted: totpFactors.secretEncrypted, lastStep: totpFactors.lastStep })
    .from(totpFactors)
    .where(
      and(
        ofMember(totpFactors, who),
        factorState === "confirmed" ? isNotNull(totpFactors.confirmedAt) : isNull(totpFactors.confirmedAt),
      ),
    );
  if (!factor) return false;
  const key = await ctx.encryption.decrypt(factor.secretEncrypted, keyContext(who));
  const now = ctx.clock.now();
  const current = totpStep(now);
  let matched: number | null = null;
  // Every candidate is computed and compared, whichever matches: the time taken tells nothing.
  for (const step of [current - 1, current, current + 1]) {
    if (sameCode(totpCode(key, step), code) && matched === null) matched = step;
  }
  if (matched === null) return false;
  const [accepted] = await tx
    .update(totpFactors)
    .set({
      lastStep: matched,
      ...(factorState === "enrolling" ? { confirmedAt: now } : {}),
      ...(ctx.encryption.needsRotation(factor.secretEncrypted)
        ? { secretEncrypted: await ctx.encryption.encrypt(key, keyContext(who)) }
        : {}),
    })
    .where(
      and(
        ofMember(totpFactors, who),
        factorState === "confirmed" ? isNotNull(totpFactors.confirmedAt) : isNull(totpFactors.confirmedAt),
        or(isNull(totpFactors.lastStep), lt(totpFactors.lastStep, matched)),
      ),
    )
    .returning({ userId: totpFactors.userId });
  return accepted !== undefined;
}

/** Spends one of the member's recovery codes; true the first time only. */
async function spendRecoveryCode(tx: Tx, who: Who, code: string, now: Date): Promise<boolean> {
  const [spent] = await tx
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(
      and(
        ofMember(recoveryCodes, who),
        eq(recoveryCodes.codeHash, await sha256Hex(code)),
        isNull(recoveryCodes.usedAt),
      ),
    )
    .returning({ userId: recoveryCodes.userId });
  return spent !== undefined;
}

/** Replaces the member's recovery codes with ten new ones, returned once, stored as SHA-256. */
async function newRecoveryCodes(tx: Tx, who: Who): Promise<string[]> {
  await tx.delete(recoveryCodes).where(ofMember(recoveryCodes, who));
  // 12 base32 characters: 60 random bits each, shown as XXXX-XXXX-XXXX.
  const codes = Array.from({ length: recoveryCodeCount }, () =>
    encodeBase32UpperCaseNoPadding(crypto.getRandomValues(new Uint8Array(8))).slice(0, 12),
  );
  await tx
    .insert(recoveryCodes)
    .values(await Promise.all(codes.map(async (code) => ({ ...who, codeHash: await sha256Hex(code) }))));
  return codes.map((code) => code.match(/.{4}/g)?.join("-") ?? code);
}

interface MemberTx {
  db: Tx;
  member: Who & { sessionId: string };
}

/**
 * Starts (or restarts) enrolling a TOTP factor: a new key, stored encrypted and unconfirmed until
 * a code from it arrives. CONFLICT while a confirmed one exists.
 */
export async function enrollTotp(ctx: Context & MemberTx): Promise<{ secret: string; uri: string }> {
  const who = { tenantId: ctx.member.tenantId, userId: ctx.member.userId };
  if (await hasTotp(ctx.db, who)) {
    throw new TRPCError({ code: "CONFLICT", message: "Two-factor sign-in is already on: turn it off first" });
  }
  const key = crypto.getRandomValues(new Uint8Array(20));
  const secretEncrypted = await ctx.encryption.encrypt(key, keyContext(who));
  const [enrolled] = await ctx.db
    .insert(totpFactors)
    .values({ ...who, secretEncrypted })
    .onConflictDoUpdate({
      target: [totpFactors.tenantId, totpFactors.userId],
      set: { secretEncrypted, lastStep: null },
      setWhere: isNull(totpFactors.confirmedAt),
    })
    .returning({ userId: totpFactors.userId });
  if (!enrolled) throw new TRPCError({ code: "CONFLICT", message: "Two-factor sign-in is already on" });
  const [account] = await ctx.db
    .select({ email: users.email, slug: tenants.slug })
    .from(users)
    .innerJoin(tenants, eq(tenants.id, users.tenantId))
    .where(and(eq(users.tenantId, who.tenantId), eq(users.id, who.userId)));
  const secret = encodeBase32UpperCaseNoPadding(key);
  const label = `${account?.email ?? who.userId} (${account?.slug ?? who.tenantId})`;
  return { secret, uri: createTOTPKeyURI(ctx.config.mail.appName, label, key, periodSeconds, digits) };
}

/**
 * Turns the enrolled factor on with a code from it: returns ten recovery codes (shown once), and
 * the current session counts as having proved a second factor.
 */
export async function confirmTotp(ctx: Context & MemberTx, code: string): Promise<{ recoveryCodes: string[] }> {
  const who = { tenantId: ctx.member.tenantId, userId: ctx.member.userId };
  if (!(await acceptTotp(ctx.db, ctx, who, code, "enrolling"))) {
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: "Invalid input: code: is not a current code of the key being set up (enroll first)",
    });
  }
  const codes = await newRecoveryCodes(ctx.db, who);
  await markSecondFactor(ctx.db, ctx.member, ctx.clock.now());
  await recordAudit(
    ctx.db,
    { ...who, actorId: who.userId, action: "auth.mfa_enabled", targetType: "user", targetId: who.userId },
    ctx,
  );
  return { recoveryCodes: codes };
}

/**
 * Turns TOTP off, given the password and a current code; the recovery codes go with it. Refused
 * while the workspace requires a second factor and the member has no passkey left.
 */
export async function disableTotp(
  ctx: Context,
  member: MemberContext,
  input: z.infer<typeof disableInput>,
): Promise<{ ok: true }> {
  const account = await ownAccount(ctx, member);
  await confirmOwnPassword(ctx, member, account, input.password, "password");
  const who = { tenantId: member.tenantId, userId: member.userId };
  await withMember(ctx.database.db, member, { write: true }, async (tx) => {
    if (!(await acceptTotp(tx, ctx, who, input.code, "confirmed"))) {
      throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid input: code: is not a current code" });
    }
    await tx.delete(totpFactors).where(ofMember(totpFactors, who));
    await tx.delete(recoveryCodes).where(ofMember(recoveryCodes, who));
    if ((await workspaceRequiresMfa(tx, who.tenantId)) && !(await hasPasskey(tx, who))) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: "This workspace requires two-factor sign-in: it cannot be turned off",
      });
    }
    await recordAudit(
      tx,
      { ...who, actorId: who.userId, action: "auth.mfa_disabled", targetType: "user", targetId: who.userId },
      ctx,
    );
  });
  return { ok: true as const };
}

/** Deletes every second factor of a member (TOTP, recovery codes, passkeys). */
export async function removeFactors(tx: Tx, who: Who): Promise<void> {
  await tx.delete(totpFactors).where(ofMember(totpFactors, who));
  await tx.delete(recoveryCodes).where(ofMember(recoveryCodes, who));
  await tx.delete(passkeys).where(ofMember(passkeys, who));
}

/** Whether the member has TOTP on, how many recovery codes are left, and the workspace's policy. */
export async function mfaStatus(ctx: MemberTx) {
  const who = { tenantId: ctx.member.tenantId, userId: ctx.member.userId };
  const [left] = await ctx.db
    .select({ count: count() })
    .from(recoveryCodes)
    .where(and(ofMember(recoveryCodes, who), isNull(recoveryCodes.usedAt)));
  const [keys] = await ctx.db.select({ count: count() }).from(passkeys).where(ofMember(passkeys, who));
  return {
    totp: await hasTotp(ctx.db, who),
    passkeys: Number(keys?.count ?? 0),
    recoveryCodesLeft: Number(left?.count ?? 0),
    required: await workspaceRequiresMfa(ctx.db, who.tenantId),
  };
}

/** Called by `auth.login` once the password is right, in its transaction: a challenge, if a factor is on. */
export async function challengeIfEnrolled(tx: Tx, ctx: Context, who: Who): Promise<MfaChallenge | null> {
  const totp = await hasTotp(tx, who);
  const credentials = await credentialsOf(tx, who);
  if (!totp && credentials.length === 0) return null;
  const expiresAt = new Date(ctx.clock.now().getTime() + ctx.config.mfa.challengeTtlSeconds * 1000);
  const { token } = await issueOneTimeToken(tx, mfaChallenges, "mc", who, expiresAt);
  const passkeyOptions = await secondFactorOptions(ctx.config, credentials, token);
  return {
    mfaRequired: true,
    challenge: token,
    methods: [...(totp ? (["totp", "recovery_code"] as const) : []), ...(passkeyOptions ? (["passkey"] as const) : [])],
    ...(passkeyOptions ? { passkeyOptions } : {}),
  };
}

/**
 * Failed codes, per challenge (tight) and per account (looser, across challenges): only someone
 * who knows the password gets a challenge, so no one else can use the account's up.
 */
async function secondFactorThrottle(config: Context["config"]["login"], who: Who & { challengeId: string }) {
  const challenge = await sha256Hex(`mfa-challenge\u0000${who.tenantId}\u0000${who.challengeId}`);
  const account = await sha256Hex(`mfa-account\u0000${who.tenantId}\u0000${who.userId}`);
  return {
    keys: [challenge, account],
    limits: [config.maxFailures, config.accountMaxFailures],
    windowSeconds: config.windowSeconds,
    clearOnSuccess: [challenge],
  } satisfies Throttle;
}

/**
 * Answers a login's challenge with a TOTP code, a recovery code or a passkey's signature of the
 * challenge: the session, or UNAUTHORIZED.
 */
export async function verifySecondFactor(ctx: Context, input: z.infer<typeof verifyInput>): Promise<Session> {
  const parsed = parseOpaqueToken("mc", input.challenge);
  if (!parsed) throw refused();
  const { tenantId } = parsed;
  const tokenHash = await sha256Hex(input.challenge);
  const now = ctx.clock.now();
  const db = ctx.database.db;

  // Whose challenge it is (under RLS, in its tenant), and one attempt reserved — committed
  // before the code is checked, so parallel guesses cannot all pass one check.
  const found = await withoutTenant(db, async (tx) => {
    await enterTenant(tx, { tenantId, userId: null });
    const [challenge] = await tx
      .select({ id: mfaChallenges.id, userId: mfaChallenges.userId })
      .from(mfaChallenges)
      .where(unspent(mfaChallenges, tenantId, tokenHash, now));
    if (!challenge) return null;
    const throttle = await secondFactorThrottle(ctx.config.login, {
      tenantId,
      userId: challenge.userId,
      challengeId: challenge.id,
    });
    return { userId: challenge.userId, throttle, wait: await takeAttempt(tx, throttle) };
  });
  if (!found) throw refused();
  if (found.wait > 0) throw tooMany(ctx.resHeaders, found.wait, "failed second-factor codes");

  const who = { tenantId, userId: found.userId };
  const session = await withTenant(
    db,
    who,
    async (tx, role) => {
      if (!role) return null;
      const accepted = input.code
        ? await acceptTotp(tx, ctx, who, input.code, "confirmed")
        : input.recoveryCode !== undefined
          ? await spendRecoveryCode(tx, who, input.recoveryCode, now)
          : await acceptPasskey(tx, ctx, who, input.passkeyResponse as PasskeyResponse, input.challenge, false);
      if (!accepted) return null;
      // The challenge is spent in the same transaction: of two answers to it, one session.
      if ((await spendOneTimeToken(tx, mfaChallenges, tenantId, tokenHash, now)) !== who.userId) throw refused();
      if (input.recoveryCode !== undefined) await recoveryCodeUsed(tx, ctx, who);
      return startSession(
        tx,
        ctx,
        { ...who, secondFactor: true },
        { action: "auth.login", targetType: "user", targetId: who.userId },
      );
    },
    { statementTimeoutMs: ctx.config.statementTimeoutMs },
  );
  if (!session) throw refused();
  await giveBackAttempt(db, found.throttle);
  return session;
}

/** A recovery code signed a member in: audited, and the member is told by mail. */
async function recoveryCodeUsed(tx: Tx, ctx: Context, who: Who): Promise<void> {
  const [left] = await tx
    .select({ count: count() })
    .from(recoveryCodes)
    .where(and(ofMember(recoveryCodes, who), isNull(recoveryCodes.usedAt)));
  const [account] = await tx
    .select({ email: users.email, name: users.name, workspace: tenants.name })
    .from(users)
    .innerJoin(tenants, eq(tenants.id, users.tenantId))
    .where(and(eq(users.tenantId, who.tenantId), eq(users.id, who.userId)));
  if (account) {
    const what = { kind: "recovery_code_used", left: Number(left?.count ?? 0) } as const;
    await enqueueMail(tx, who.tenantId, secondFactorMail(ctx.config.mail, account, account.workspace, what));
  }
  await recordAudit(
    tx,
    { ...who, actorId: who.userId, action: "auth.recovery_code_used", targetType: "user", targetId: who.userId },
    ctx,
  );
}

/**
 * Whether a session that never proved a second factor may go on (a refresh): not in a workspace
 * that requires one from a member who has one — they sign in again with it.
 */
export async function sessionMayContinue(tx: Tx, who: Who, origin: SessionOrigin): Promise<boolean> {
  if (origin.secondFactorAt) return true;
  return !(await workspaceRequiresMfa(tx, who.tenantId)) || !(await hasSecondFactor(tx, who));
}
