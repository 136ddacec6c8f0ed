/**
 * Pruning expired rows works across tenants, so it runs as the owner role — which FORCE RLS still
 * confines: the owner-only policies admit a row only once it has expired. These tests attack
 * that bound directly (as the owner, with no WHERE at all) and check that a real prune removes
 * exactly the expired rows of every tenant and nothing live.
 */
import { sql } from "drizzle-orm";
import type { Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlStateOf } from "../../db/errors.js";
import { pruneExpired } from "../../db/prune.js";
import { withoutTenant } from "../../db/tenant.js";
import { rowsOf } from "../../db/types.js";
import { startPruning } from "../../server/pruning.js";
import { codeOf, createTwoTenants, type TenantHandle, type TestApp } from "../helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
});
afterAll(() => t.close());

interface Seeded {
  expired: string[];
  live: string[];
}

/** One expired and one live refresh token and invitation in each tenant, one stale and one fresh throttle row. */
async function seed(label: string): Promise<{ tokens: Seeded; invitations: Seeded; throttle: Seeded }> {
  const tokens: Seeded = { expired: [], live: [] };
  const invitations: Seeded = { expired: [], live: [] };
  for (const who of [a, b]) {
    for (const [kind, offset] of [
      ["expired", "-1 minute"],
      ["live", "1 day"],
    ] as const) {
      const token = rowsOf<{ id: string }>(
        await t.admin.execute(sql`
          insert into refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at)
          values (${who.tenantId}, ${who.userId}, gen_random_uuid(), ${`${label}-${kind}-${who.slug}`}, now() + ${offset}::interval)
          returning id`),
      )[0];
      const invitation = rowsOf<{ id: string }>(
        await t.admin.execute(sql`
          insert into invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
          values (${who.tenantId}, ${`${label}-${kind}@example.com`}, 'member', ${`${label}-${kind}-${who.slug}`}, ${who.userId}, now() + ${offset}::interval)
          returning id`),
      )[0];
      if (!token || !invitation) throw new Error("seeding failed");
      tokens[kind].push(token.id);
      invitations[kind].push(invitation.id);
    }
  }
  const throttle: Seeded = { expired: [`${label}-stale`], live: [`${label}-fresh`] };
  await t.admin.execute(sql`
    insert into login_throttle (key, failures, window_started_at)
    values (${`${label}-stale`}, 3, now() - interval '2 hours'), (${`${label}-fresh`}, 3, now())`);
  return { tokens, invitations, throttle };
}

const remaining = async (table: "refresh_tokens" | "invitations", ids: string[]) =>
  rowsOf<{ id: string }>(
    await t.admin.execute(
      sql`select id from ${sql.identifier(table)} where id = any (${`{${ids.join(",")}}`}::uuid[])`,
    ),
  ).map((row) => row.id);

const remainingKeys = async (keys: string[]) =>
  rowsOf<{ key: string }>(
    await t.admin.execute(sql`select key from login_throttle where key = any (${`{${keys.join(",")}}`}::text[])`),
  ).map((row) => row.key);

describe("pruning expired rows", () => {
  it("19. the owner role can see and delete other tenants' rows only once they have expired", async () => {
    const { tokens, invitations } = await seed("bound");
    // As the owner, outside any tenant, with no WHERE of its own: RLS alone decides.
    const outcome = await t.admin.transaction(async (tx) => {
      await tx.execute(sql`set local role bulkhead_owner`);
      const seen = rowsOf<{ id: string }>(await tx.execute(sql`select id from refresh_tokens`)).map((r) => r.id);
      const deletedTokens = rowsOf<{ id: string }>(await tx.execute(sql`delete from refresh_tokens returning id`));
      const deletedInvitations = rowsOf<{ id: string }>(await tx.execute(sql`delete from invitations returning id`));
      const updated = rowsOf<{ id: string }>(
        await tx.execute(sql`update refresh_tokens set revoked_at = now() returning id`),
      );
      return {
        seen,
        deletedTokens: deletedTokens.map((r) => r.id),
        deletedInvitations: deletedInvitations.map((r) => r.id),
        updated,
      };
    });
    for (const id of tokens.live) expect(outcome.seen).not.toContain(id);
    expect(outcome.deletedTokens).toEqual(expect.arrayContaining(tokens.expired));
    for (const id of tokens.live) expect(outcome.deletedTokens).not.toContain(id);
    expect(outcome.deletedInvitations).toEqual(expect.arrayContaining(invitations.expired));
    for (const id of invitations.live) expect(outcome.deletedInvitations).not.toContain(id);
    expect(outcome.updated).toEqual([]);
    expect(await remaining("refresh_tokens", tokens.live)).toHaveLength(tokens.live.length);
    expect(await remaining("invitations", invitations.live)).toHaveLength(invitations.live.length);
  });

  it("removes every tenant's expired rows and finished throttle windows, in batches, and nothing live", async () => {
    const { tokens, invitations, throttle } = await seed("prune");
    // One row per table per transaction: the loop has to go round.
    const result = await pruneExpired(t.database.db, { throttleWindowSeconds: 3600, batch: 1 });
    expect(result.complete).toBe(true);
    expect(result.batches).toBeGreaterThan(1);
    expect(await remaining("refresh_tokens", tokens.expired)).toEqual([]);
    expect(await remaining("invitations", invitations.expired)).toEqual([]);
    expect(await remainingKeys(throttle.expired)).toEqual([]);
    expect(await remaining("refresh_tokens", tokens.live)).toHaveLength(tokens.live.length);
    expect(await remaining("invitations", invitations.live)).toHaveLength(invitations.live.length);
    expect(await remainingKeys(throttle.live)).toEqual(throttle.live);
    // The members' own sessions are live: they are still signed in.
    expect(await codeOf(a.client.auth.me.query())).toBeNull();
    expect(await codeOf(b.client.auth.me.query())).toBeNull();
  });

  it("says when another process holds the pruning lock, and prunes nothing then", async () => {
    const { tokens } = await seed("busy");
    if (t.engine === "postgres") {
      // Another session (the admin connection) holds the lock in an open transaction.
      const admin = (t.admin as unknown as { $client: Sql }).$client;
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const holding = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = admin.begin(async (sql) => {
        await sql`select pg_advisory_xact_lock(724311902)`;
        locked();
        await released;
      });
      await holding;
      try {
        expect(await pruneExpired(t.database.db, { throttleWindowSeconds: 3600 })).toEqual({
          batches: 1,
          complete: false,
          busy: true,
        });
        expect(await remaining("refresh_tokens", tokens.expired)).toHaveLength(tokens.expired.length);
      } finally {
        release();
        await holder;
      }
    }
    // Free again (PGlite has one connection: nobody else can hold it there).
    expect(await pruneExpired(t.database.db, { throttleWindowSeconds: 3600 })).toMatchObject({
      complete: true,
      busy: false,
    });
    expect(await remaining("refresh_tokens", tokens.expired)).toEqual([]);
  });

  it("refuses a non-positive batch or window, deleting nothing", async () => {
    const { tokens } = await seed("refused");
    for (const [batch, window] of [
      [0, 3600],
      [10, 0],
    ]) {
      const state = await withoutTenant(t.database.db, (tx) =>
        tx.execute(sql`select app.prune_expired(${batch}::integer, ${window}::integer, null::integer, null::integer)`),
      ).then(
        () => "ok",
        (error: unknown) => sqlStateOf(error),
      );
      expect(state).toBe("22023");
    }
    expect(await remaining("refresh_tokens", tokens.expired)).toHaveLength(tokens.expired.length);
  });

  it("the server's timer prunes, logs each run, and stops cleanly", async () => {
    const { tokens } = await seed("timer");
    const pruning = startPruning({
      database: t.database,
      throttleWindowSeconds: 3600,
      auditRetentionDays: null,
      eventRetentionDays: 7,
      slugReservedDays: 90,
      logger: t.logger,
      intervalMs: 60_000,
      firstDelayMs: 1,
    });
    for (let i = 0; i < 200 && !t.logger.entries.some((e) => e.message === "pruned expired rows"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await pruning.stop();
    expect(t.logger.entries.find((e) => e.message === "pruned expired rows")?.fields).toMatchObject({
      complete: true,
      busy: false,
    });
    expect(await remaining("refresh_tokens", tokens.expired)).toEqual([]);
  });
});
