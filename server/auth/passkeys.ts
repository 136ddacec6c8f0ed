/**
 * Passkeys (WebAuthn, with @simplewebauthn/server): a second factor after the password, and a
 * sign-in of their own for a workspace. The relying party is APP_URL's host and origin.
 *
 * - The WebAuthn challenge is always something the server can check without a table: a signed
 *   ticket for a registration or a passwordless sign-in (five minutes, for that purpose, that
 *   tenant and, when registering, that member's session), or the login's own second-factor
 *   challenge when the passkey is the second factor. A passwordless sign-in's ticket is spent once.
 * - A credential is found by its id within the challenge's tenant, under RLS; its stored counter
 *   must grow with every use (unless the authenticator keeps none): a counter that goes back is a
 *   cloned authenticator, refused and audited. The counter is updated only upward, in the same
 *   statement that checks it, so two uses racing cannot both pass with one value.
 */
import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { TRPCError } from "@trpc/server";
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { z } from "zod";
import { passkeys, users } from "../../db/schema.js";
import { enterTenant, tenantIdForSlug, withoutTenant, withTenant } from "../../db/tenant.js";
import type { Tx } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import type { AppConfig } from "../config.js";
import type { Context } from "../context.js";
import { notFound, unauthorized } from "../errors.js";
import { lineField } from "../validation.js";
import { hasSecondFactor, workspaceRequiresMfa } from "./mfa.js";
import { markSecondFactor, startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { spendOnce } from "./throttle.js";
import { InvalidTokenError } from "./tokens.js";

type WebAuthn = typeof import("@simplewebauthn/server");
let webauthn: Promise<WebAuthn> | undefined;
/**
 * @simplewebauthn/server, loaded by the first passkey operation: with its CBOR and ASN.1 parsers
 * it cost every server ~28 MB of memory from start, passkeys used or not (BENCHMARKS.md, Mem).
 */
function webAuthn(): Promise<WebAuthn> {
  if (!webauthn) webauthn = import("@simplewebauthn/server");
  return webauthn;
}

const ticketSeconds = 300;

const base64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/, "must be base64url");
const transport = z.string().regex(/^[a-z-]{1,32}$/);

/** What every `PublicKeyCredential` carries beside its `response`. */
const credentialFields = {
  id: base64url.min(1).max(1_024),
  rawId: base64url.min(1).max(1_024),
  type: z.literal("public-key"),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  // Extensions are not used: whatever the browser reports is dropped before verification.
  clientExtensionResults: z.unknown().optional(),
};

/** A browser's `PublicKeyCredential` of a registration, as @simplewebauthn/browser returns it. */
export const registrationResponse = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url.min(1),
    attestationObject: base64url.min(1),
    transports: z.array(transport).max(8).optional(),
  }),
});

/** A browser's `PublicKeyCredential` of a sign-in. */
export const authenticationResponse = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url.min(1),
    authenticatorData: base64url.min(1),
    signature: base64url.min(1),
    userHandle: base64url.max(1_024).optional(),
  }),
});

export const registerInput = z.object({ response: registrationResponse, name: lineField().trim().min(1).max(60) });
export const passkeyLoginInput = z.object({ response: authenticationResponse });
export const passkeyLoginOptionsInput = z.object({ tenantSlug: lineField().trim().toLowerCase().min(1).max(64) });

const relyingParty = (config: AppConfig) => {
  const url = new URL(config.mail.appUrl);
  return { id: url.hostname, origin: url.origin, name: config.mail.appName };
};

/** The challenge a response's client data carries, as the string the options were made from. */
function challengeOf(clientDataJSON: string): string | null {
  try {
    const clientData = JSON.parse(new TextDecoder().decode(decodeBase64urlIgnorePadding(clientDataJSON))) as {
      challenge?: unknown;
    };
    if (typeof clientData.challenge !== "string") return null;
    return new TextDecoder("utf-8", { fatal: true }).decode(decodeBase64urlIgnorePadding(clientData.challenge));
  } catch {
    return null;
  }
}

/** The string a challenge was made from, as the options (and the client data) carry it. */
const encodedChallenge = (challenge: string) => encodeBase64urlNoPadding(new TextEncoder().encode(challenge));

interface Who {
  tenantId: string;
  userId: string;
}

const ofMember = (who: Who) => and(eq(passkeys.tenantId, who.tenantId), eq(passkeys.userId, who.userId));

/** The credentials of a member, for the options' allow and exclude lists. */
export async function credentialsOf(tx: Tx, who: Who) {
  const rows = await tx
    .select({ id: passkeys.credentialId, transports: passkeys.transports })
    .from(passkeys)
    .where(ofMember(who));
  return rows.map((row) => ({ id: row.id, transports: row.transports }));
}

/** True when the member has at least one passkey. */
export async function hasPasskey(tx: Tx, who: Who): Promise<boolean> {
  const [row] = await tx.select({ id: passkeys.id }).from(passkeys).where(ofMember(who)).limit(1);
  return row !== undefined;
}

/** Options for `navigator.credentials.create`, to add a passkey to the caller's account. */
export async function registrationOptions(ctx: Context & { db: Tx; member: Who & { sessionId: string } }) {
  const rp = relyingParty(ctx.config);
  const [account] = await ctx.db
    .select({ email: users.email, name: users.name })
    .from(users)
    .where(and(eq(users.tenantId, ctx.member.tenantId), eq(users.id, ctx.member.userId)));
  if (!account) throw notFound("Member");
  const { token } = await ctx.tokens.signTicket("passkey-register", ctx.member, ticketSeconds);
  return (await webAuthn()).generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: account.email,
    userDisplayName: account.name,
    userID: new TextEncoder().encode(ctx.member.userId),
    challenge: token,
    attestationType: "none",
    excludeCredentials: await credentialsOf(ctx.db, ctx.member),
    // Discoverable, so the same passkey also signs in without a password.
    authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
  });
}

/**
 * Adds the passkey of a registration made from `registrationOptions`, in this member's session.
 * The session counts as having proved a second factor (a workspace that requires one lets it in).
 */
export async function registerPasskey(
  ctx: Context & { db: Tx; member: Who & { sessionId: string } },
  input: z.infer<typeof registerInput>,
) {
  const invalid = () =>
    new TRPCError({ code: "BAD_REQUEST", message: "The passkey could not be verified: start the registration again" });
  const ticket = challengeOf(input.response.response.clientDataJSON);
  if (!ticket) throw invalid();
  try {
    const claims = await ctx.tokens.verifyTicket("passkey-register", ticket);
    const { tenantId, userId, sessionId } = ctx.member;
    if (claims.tenantId !== tenantId || claims.userId !== userId || claims.sessionId !== sessionId) throw invalid();
  } catch (error) {
    if (error instanceof InvalidTokenError) throw invalid();
    throw error;
  }
  const rp = relyingParty(ctx.config);
  const verification = await (await webAuthn())
    .verifyRegistrationResponse({
      response: { ...input.response, clientExtensionResults: {} } as RegistrationResponseJSON,
      expectedChallenge: encodedChallenge(ticket),
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: false,
    })
    .catch(() => null);
  if (!verification?.verified) throw invalid();
  const { credential, credentialBackedUp } = verification.registrationInfo;
  const [added] = await ctx.db
    .insert(passkeys)
    .values({
      tenantId: ctx.member.tenantId,
      userId: ctx.member.userId,
      credentialId: credential.id,
      publicKey: encodeBase64urlNoPadding(credential.publicKey),
      counter: credential.counter,
      transports: credential.transports ?? input.response.response.transports ?? [],
      name: input.name,
      backedUp: credentialBackedUp,
    })
    .onConflictDoNothing()
    .returning(passkeyColumns);
  if (!added) throw new TRPCError({ code: "CONFLICT", message: "This passkey is already registered" });
  await markSecondFactor(ctx.db, ctx.member, ctx.clock.now());
  await recordAudit(
    ctx.db,
    {
      ...ctx.member,
      actorId: ctx.member.userId,
      action: "auth.passkey_added",
      targetType: "passkey",
      targetId: added.id,
    },
    ctx,
  );
  return added;
}

const passkeyColumns = {
  id: passkeys.id,
  name: passkeys.name,
  transports: passkeys.transports,
  backedUp: passkeys.backedUp,
  createdAt: passkeys.createdAt,
  lastUsedAt: passkeys.lastUsedAt,
};

export function listPasskeys(ctx: { db: Tx; member: Who }) {
  return ctx.db.select(passkeyColumns).from(passkeys).where(ofMember(ctx.member)).orderBy(desc(passkeys.createdAt));
}

/** Removes one of the caller's passkeys; not the last factor while the workspace requires one. */
export async function removePasskey(ctx: Context & { db: Tx; member: Who }, id: string) {
  const [removed] = await ctx.db
    .delete(passkeys)
    .where(and(ofMember(ctx.member), eq(passkeys.id, id)))
    .returning({ id: passkeys.id });
  if (!removed) throw notFound("Passkey");
  if ((await workspaceRequiresMfa(ctx.db, ctx.member.tenantId)) && !(await hasSecondFactor(ctx.db, ctx.member))) {
    throw new TRPCError({
      code: "FORBIDDEN",
      message: "This workspace requires two-factor sign-in: keep at least one second factor",
    });
  }
  await recordAudit(
    ctx.db,
    { ...ctx.member, actorId: ctx.member.userId, action: "auth.passkey_removed", targetType: "passkey", targetId: id },
    ctx,
  );
  return { ok: true as const };
}

/**
 * Options for a login's second factor with the member's `allowCredentials` (none: null): the
 * login's challenge is the WebAuthn challenge.
 */
export async function secondFactorOptions(
  config: AppConfig,
  allowCredentials: Awaited<ReturnType<typeof credentialsOf>>,
  challenge: string,
) {
  if (allowCredentials.length === 0) return null;
  return (await webAuthn()).generateAuthenticationOptions({
    rpID: relyingParty(config).id,
    challenge,
    allowCredentials,
    userVerification: "preferred",
  });
}

/**
 * Checks a sign-in with one of the member's passkeys, whose client data must carry `challenge`:
 * true when it verifies and its counter went up (which is recorded). A counter that did not go
 * up is refused and audited; the audit row stays even though the sign-in fails.
 */
export async function acceptPasskey(
  tx: Tx,
  ctx: Context,
  who: Who,
  response: z.infer<typeof authenticationResponse>,
  challenge: string,
  requireUserVerification: boolean,
): Promise<boolean> {
  if (challengeOf(response.response.clientDataJSON) !== challenge) return false;
  const [stored] = await tx
    .select({
      id: passkeys.id,
      credentialId: passkeys.credentialId,
      publicKey: passkeys.publicKey,
      counter: passkeys.counter,
      transports: passkeys.transports,
    })
    .from(passkeys)
    .where(and(ofMember(who), eq(passkeys.credentialId, response.id)));
  if (!stored) return false;
  const rp = relyingParty(ctx.config);
  let newCounter: number;
  try {
    const verification = await (await webAuthn()).verifyAuthenticationResponse({
      response: { ...response, clientExtensionResults: {} } as AuthenticationResponseJSON,
      expectedChallenge: encodedChallenge(challenge),
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: stored.credentialId,
        publicKey: decodeBase64urlIgnorePadding(stored.publicKey) as Uint8Array<ArrayBuffer>,
        counter: stored.counter,
        transports: stored.transports,
      },
      requireUserVerification,
    });
    if (!verification.verified) return false;
    newCounter = verification.authenticationInfo.newCounter;
  } catch (error) {
    if (error instanceof Error && /counter value/i.test(error.message)) await counterWentBack(tx, ctx, who, stored.id);
    return false;
  }
  // Only upward (or 0 to 0, for an authenticator that keeps no counter), checked where it is written.
  const [used] = await tx
    .update(passkeys)
    .set({ counter: newCounter, lastUsedAt: ctx.clock.now() })
    .where(
      and(
        ofMember(who),
        eq(passkeys.id, stored.id),
        or(lt(passkeys.counter, newCounter), and(eq(passkeys.counter, 0), sql`${newCounter}::bigint = 0`)),
      ),
    )
    .returning({ id: passkeys.id });
  if (!used) {
    await counterWentBack(tx, ctx, who, stored.id);
    return false;
  }
  return true;
}

async function counterWentBack(tx: Tx, ctx: Context, who: Who, passkeyId: string) {
  await recordAudit(
    tx,
    {
      ...who,
      actorId: who.userId,
      action: "auth.passkey_counter_regressed",
      targetType: "passkey",
      targetId: passkeyId,
    },
    ctx,
  );
}

/**
 * Options for a passwordless sign-in to a workspace: any of its members' discoverable passkeys.
 * An unknown workspace gets the same kind of answer (its sign-in then fails like any other).
 */
export async function passkeyLoginOptions(ctx: Context, input: z.infer<typeof passkeyLoginOptionsInput>) {
  const tenantId =
    (await withoutTenant(ctx.database.db, (tx) => tenantIdForSlug(tx, input.tenantSlug))) ?? crypto.randomUUID();
  // No one is signed in yet: the ticket's subject and session are random, only its tenant counts.
  const { token } = await ctx.tokens.signTicket(
    "passkey-login",
    { tenantId, userId: crypto.randomUUID(), sessionId: crypto.randomUUID() },
    ticketSeconds,
  );
  return (await webAuthn()).generateAuthenticationOptions({
    rpID: relyingParty(ctx.config).id,
    challenge: token,
    userVerification: "required",
  });
}

/** Signs in with a passkey alone (user verification required): the session, or UNAUTHORIZED. */
export async function passkeyLogin(ctx: Context, input: z.infer<typeof passkeyLoginInput>): Promise<Session> {
  const ticket = challengeOf(input.response.response.clientDataJSON);
  if (!ticket) throw unauthorized();
  let tenantId: string;
  let jti: string;
  try {
    ({ tenantId, jti } = await ctx.tokens.verifyTicket("passkey-login", ticket));
  } catch (error) {
    if (error instanceof InvalidTokenError) throw unauthorized();
    throw error;
  }
  const db = ctx.database.db;
  // A sign-in's challenge is answered once.
  if (!(await spendOnce(db, `passkey-login\u0000${jti}`, ticketSeconds))) throw unauthorized();
  const owner = await withoutTenant(db, async (tx) => {
    await enterTenant(tx, { tenantId, userId: null });
    const [row] = await tx
      .select({ userId: passkeys.userId })
      .from(passkeys)
      .where(and(eq(passkeys.tenantId, tenantId), eq(passkeys.credentialId, input.response.id)));
    return row?.userId ?? null;
  });
  if (!owner) throw unauthorized();
  const who = { tenantId, userId: owner };
  const session = await withTenant(
    db,
    who,
    async (tx, role) => {
      if (!role) return null;
      if (!(await acceptPasskey(tx, ctx, who, input.response, ticket, true))) return null;
      return startSession(
        tx,
        ctx,
        { ...who, secondFactor: true },
        { action: "auth.login", targetType: "user", targetId: who.userId },
      );
    },
    { statementTimeoutMs: ctx.config.statementTimeoutMs },
  );
  if (!session) throw unauthorized();
  return session;
}
