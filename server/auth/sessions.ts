import { and, desc, eq, gt, inArray, isNull, ne, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { refreshTokens, tenants, users } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { type AuditEntry, type ChangeEvent, eventsChannel, recordAudit } from "../audit.js";
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
  userAgent: string | null;
}

/** When and from where a session began; every token of its family carries it. */
export interface SessionOrigin {
  sessionCreatedAt: Date;
  userAgent: string | null;
  clientAddress: string | null;
  /** When the session proved a second factor; null if it never did (a workspace may require it). */
  secondFactorAt: Date | null;
}

/**
 * Rotation and revocation serialise on the user's row (docs/decisions/019-revocation-waits-for-rotation.md):
 * a revoker holds it FOR NO KEY UPDATE before it revokes, a rotation FOR SHARE before it spends.
 * At READ COMMITTED, a revocation that waited for a rotation then sees the child the rotation
 * inserted, and a rotation that waited for a revocation finds its token revoked. Every write to
 * `refresh_tokens.revoked_at` goes through `revokeTokens`, which takes it.
 */
async function holdUser(tx: Tx, tenantId: string, userId: string | SQLWrapper, mode: "no key update" | "share") {
  await tx
    .select({ id: users.id })
    .from(users)
    .where(
      and(eq(users.tenantId, tenantId), typeof userId === "string" ? eq(users.id, userId) : inArray(users.id, userId)),
    )
    .for(mode);
}

/** Revokes the live tokens of one user that `which` selects, under the user's lock; returns their families. */
async function revokeTokens(tx: Tx, tenantId: string, userId: string, now: Date, which: SQL[]): Promise<string[]> {
  await holdUser(tx, tenantId, userId, "no key update");
  const ended = await tx
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(
      and(
        eq(refreshTokens.tenantId, tenantId),
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        ...which,
      ),
    )
    .returning({ familyId: refreshTokens.familyId });
  return ended.map((row) => row.familyId);
}

/**
 * Starts a session — registration, login, refresh, an accepted invitation — and records it in
 * the audit trail in the same transaction, so every session that exists was audited.
 */
export async function startSession(
  tx: Tx,
  deps: SessionDeps,
  who: SessionOwner,
  event: AuditEntry,
  change?: ChangeEvent,
): Promise<Session> {
  await recordAudit(tx, { ...event, tenantId: who.tenantId, actorId: who.userId }, deps, change);
  return issueSession(tx, deps, who);
}

interface SessionOwner {
  tenantId: string;
  userId: string;
  /** The family (session) to continue; a new one when absent. */
  familyId?: string;
  /** The refresh token to hand out: a rotation's child (`stored` when a replay finds it already saved). */
  refreshToken?: { token: string; stored: boolean };
  /** A continued session's origin; a new session begins now, from this request. */
  origin?: SessionOrigin;
  /** A new session that proved a second factor (`auth.mfa.verify`). */
  secondFactor?: boolean;
}

/**
 * Issues an access token and a refresh token (in `familyId`, or a new family) for a member,
 * inside a transaction already in that tenant's context.
 */
async function issueSession(tx: Tx, deps: SessionDeps, who: SessionOwner): Promise<Session> {
  const [user] = await tx
    .select(memberColumns)
    .from(users)
    .where(and(eq(users.tenantId, who.tenantId), eq(users.id, who.userId)));
  const [tenant] = await tx.select(tenantColumns).from(tenants).where(eq(tenants.id, who.tenantId));
  if (!user || !tenant) throw unauthorized();

  const refreshToken = who.refreshToken?.token ?? makeOpaqueToken("rt", who.tenantId);
  const now = deps.clock.now();
  // The family is the session: its access tokens name it, and die when it is revoked.
  const familyId = who.familyId ?? crypto.randomUUID();
  if (!who.refreshToken?.stored) {
    await tx.insert(refreshTokens).values({
      tenantId: who.tenantId,
      userId: who.userId,
      familyId,
      tokenHash: await sha256Hex(refreshToken),
      expiresAt: new Date(now.getTime() + deps.config.refreshTokenTtlDays * 86_400_000),
      // A new session begins with this token (both default to the transaction's now()).
      ...(who.origin ?? {
        userAgent: deps.userAgent,
        clientAddress: deps.clientAddress,
        secondFactorAt: who.secondFactor ? now : null,
      }),
    });
  }
  const access = await deps.tokens.signAccess({ userId: who.userId, tenantId: who.tenantId, sessionId: familyId });
  return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, user, tenant };
}

const originColumns = {
  sessionCreatedAt: refreshTokens.sessionCreatedAt,
  userAgent: refreshTokens.userAgent,
  clientAddress: refreshTokens.clientAddress,
  secondFactorAt: refreshTokens.secondFactorAt,
};

export type RefreshOutcome =
  | {
      kind: "rotated" | "repeated";
      userId: string;
      familyId: string;
      child: { token: string; stored: boolean };
      origin: SessionOrigin;
    }
  | { kind: "reused"; userId: string; familyId: string }
  | { kind: "invalid" };

/**
 * Spends a refresh token atomically; it rotates into the token `tokens.childRefreshTokens`
 * derives from it. A token that exists but was already spent or revoked is a replay: the caller
 * revokes its whole family (RFC 9700 reuse detection) and commits that — except a replay of a
 * token spent at most `reuseSeconds` ago whose family is live, which is another tab of the same
 * browser refreshing at the same moment: it gets the same rotated token ("repeated").
 */
export async function spendRefreshToken(
  tx: Tx,
  tokens: TokenService,
  tenantId: string,
  token: string,
  now: Date,
  reuseSeconds: number,
): Promise<RefreshOutcome> {
  const tokenHash = await sha256Hex(token);
  const owner = tx
    .select({ userId: refreshTokens.userId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, tenantId), eq(refreshTokens.tokenHash, tokenHash)));
  await holdUser(tx, tenantId, owner, "share");
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
    .returning({ userId: refreshTokens.userId, familyId: refreshTokens.familyId, ...originColumns });
  if (spent) {
    const [child] = await tokens.childRefreshTokens(token, tenantId);
    const { userId, familyId, ...origin } = spent;
    return { kind: "rotated", userId, familyId, origin, child: { token: child as string, stored: false } };
  }

  const [known] = await tx
    .select({
      familyId: refreshTokens.familyId,
      userId: refreshTokens.userId,
      usedAt: refreshTokens.usedAt,
      revokedAt: refreshTokens.revokedAt,
      ...originColumns,
    })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tenantId, tenantId), eq(refreshTokens.tokenHash, tokenHash)));
  if (!known || !(known.usedAt || known.revokedAt)) return { kind: "invalid" };
  if (known.usedAt && !known.revokedAt && now.getTime() - known.usedAt.getTime() <= reuseSeconds * 1000) {
    const children = await tokens.childRefreshTokens(token, tenantId);
    const hashes = await Promise.all(children.map(sha256Hex));
    const [live] = await tx
      .select({ tokenHash: refreshTokens.tokenHash })
      .from(refreshTokens)
      .where(
        and(
          eq(refreshTokens.tenantId, tenantId),
          eq(refreshTokens.familyId, known.familyId),
          inArray(refreshTokens.tokenHash, hashes),
          isNull(refreshTokens.revokedAt),
          gt(refreshTokens.expiresAt, now),
        ),
      );
    const child = live && children[hashes.indexOf(live.tokenHash)];
    if (child) {
      const { sessionCreatedAt, userAgent, clientAddress, secondFactorAt } = known;
      return {
        kind: "repeated",
        userId: known.userId,
        familyId: known.familyId,
        origin: { sessionCreatedAt, userAgent, clientAddress, secondFactorAt },
        child: { token: child, stored: true },
      };
    }
  }
  return { kind: "reused", userId: known.userId, familyId: known.familyId };
}

/** Revokes every live token of one of a user's families (a replayed refresh token's). */
export async function revokeFamily(
  tx: Tx,
  who: { tenantId: string; userId: string },
  familyId: string,
  now: Date,
): Promise<void> {
  await revokeTokens(tx, who.tenantId, who.userId, now, [eq(refreshTokens.familyId, familyId)]);
}

/**
 * The user's live sessions, newest activity first: one per family with a token still unspent,
 * unrevoked and unexpired. `lastUsedAt` is the family's latest refresh (an access token lives
 * at most ACCESS_TOKEN_TTL_SECONDS after it).
 */
export async function liveSessions(tx: Tx, who: { tenantId: string; userId: string; sessionId: string }, now: Date) {
  const rows = await tx
    .select({
      id: refreshTokens.familyId,
      createdAt: refreshTokens.sessionCreatedAt,
      lastUsedAt: refreshTokens.createdAt,
      userAgent: refreshTokens.userAgent,
      clientAddress: refreshTokens.clientAddress,
    })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.tenantId, who.tenantId),
        eq(refreshTokens.userId, who.userId),
        isNull(refreshTokens.usedAt),
        isNull(refreshTokens.revokedAt),
        gt(refreshTokens.expiresAt, now),
      ),
    )
    .orderBy(desc(refreshTokens.createdAt));
  const seen = new Set<string>();
  return rows
    .filter((row) => !seen.has(row.id) && seen.add(row.id))
    .map((row) => ({ ...row, current: row.id === who.sessionId }));
}

/**
 * Ends sessions of a user: all of them, `only` one, or all `except` one; returns how many
 * sessions (families) ended.
 */
export async function revokeSessions(
  tx: Tx,
  who: { tenantId: string; userId: string },
  now: Date,
  which: { only?: string; except?: string } = {},
): Promise<number> {
  const ended = await revokeTokens(tx, who.tenantId, who.userId, now, [
    ...(which.only ? [eq(refreshTokens.familyId, which.only)] : []),
    ...(which.except ? [ne(refreshTokens.familyId, which.except)] : []),
  ]);
  // Wakes the tenant's live streams at commit: one of an ended session reads, and ends, at once.
  if (ended.length > 0) await tx.execute(sql`select pg_notify(${eventsChannel}, ${who.tenantId}::text)`);
  return new Set(ended).size;
}

/** Records that a live session just proved a second factor (an enrollment confirmed in it). */
export async function markSecondFactor(
  tx: Tx,
  who: { tenantId: string; userId: string; sessionId: string },
  now: Date,
): Promise<void> {
  await tx
    .update(refreshTokens)
    .set({ secondFactorAt: now })
    .where(
      and(
        eq(refreshTokens.tenantId, who.tenantId),
        eq(refreshTokens.userId, who.userId),
        eq(refreshTokens.familyId, who.sessionId),
        isNull(refreshTokens.revokedAt),
      ),
    );
}
