import { and, eq, gt, isNull } from "drizzle-orm";
import { refreshTokens, tenants, users } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { type AuditEntry, recordAudit } from "../audit.js";
import type { AppConfig } from "../config.js";
import type { Clock } from "../deps.js";
import { unauthorized } from "../errors.js";
import { memberColumns, type Session, tenantColumns } from "./shapes.js";
import { makeOpaqueToken, sha256Hex, type TokenService } from "./tokens.js";

interface SessionDeps {
  tokens: TokenService;
  config: AppConfig;
  clock: Clock;
  requestId: string;
  clientAddress: string | null;
}

/**
 * Starts a session — registration, login, refresh, an accepted invitation — and records it in
 * the audit trail in the same transaction, so every session that exists was audited.
 */
export async function startSession(
  tx: Tx,
  deps: SessionDeps,
  who: { tenantId: string; userId: string; familyId?: string },
  event: AuditEntry,
): Promise<Session> {
  await recordAudit(tx, { ...event, tenantId: who.tenantId, actorId: who.userId }, deps);
  return issueSession(tx, deps, who);
}

/**
 * Issues an access token and a new refresh token (in `familyId`, or a new family) for a member,
 * inside a transaction already in that tenant's context.
 */
async function issueSession(
  tx: Tx,
  deps: SessionDeps,
  who: { tenantId: string; userId: string; familyId?: string },
): Promise<Session> {
  const [user] = await tx
    .select(memberColumns)
    .from(users)
    .where(and(eq(users.tenantId, who.tenantId), eq(users.id, who.userId)));
  const [tenant] = await tx.select(tenantColumns).from(tenants).where(eq(tenants.id, who.tenantId));
  if (!user || !tenant) throw unauthorized();

  const refreshToken = makeOpaqueToken("rt", who.tenantId);
  const now = deps.clock.now();
  // The family is the session: its access tokens name it, and die when it is revoked.
  const familyId = who.familyId ?? crypto.randomUUID();
  await tx.insert(refreshTokens).values({
    tenantId: who.tenantId,
    userId: who.userId,
    familyId,
    tokenHash: await sha256Hex(refreshToken),
    expiresAt: new Date(now.getTime() + deps.config.refreshTokenTtlDays * 86_400_000),
  });
  const access = await deps.tokens.signAccess({ userId: who.userId, tenantId: who.tenantId, sessionId: familyId });
  return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, user, tenant };
}

export type RefreshOutcome =
  | { kind: "rotated"; userId: string; familyId: string }
  | { kind: "reused"; familyId: string }
  | { kind: "invalid" };

/**
 * Spends a refresh token atomically. A token that exists but was already spent or revoked is a
 * replay: the caller revokes its whole family (RFC 9700 reuse detection) and commits that.
 */
export async function spendRefreshToken(tx: Tx, tenantId: string, token: string, now: Date): Promise<RefreshOutcome> {
  const tokenHash = await sha256Hex(token);
  const [spent] = await tx
    .update(refreshTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(refreshTokens.tenantId, tenantId),
        eq(refreshTokens.tokenHash, tokenHash),
        isNull(refreshTokens.usedAt),
        isNull(refreshTokens.revokedAt),
        gt(refreshTokens.expiresAt, now),
      ),
    )
    .returning({ userId: refreshTokens.userId, familyId: refreshTokens.familyId });
  if (spent) return { kind: "rotated", ...spent };

  const [known] = await tx
    .select({ familyId: refreshTokens.familyId, usedAt: refreshTokens.usedAt, revokedAt: refreshTokens.revokedAt })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, tenantId), eq(refreshTokens.tokenHash, tokenHash)));
  if (known && (known.usedAt || known.revokedAt)) return { kind: "reused", familyId: known.familyId };
  return { kind: "invalid" };
}

/** Revokes every live token of a family. */
export async function revokeFamily(tx: Tx, tenantId: string, familyId: string, now: Date): Promise<void> {
  await tx
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(
      and(eq(refreshTokens.tenantId, tenantId), eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)),
    );
}
