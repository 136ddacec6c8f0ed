/**
 * Each defence of the isolation model, and a migration that removes just that defence. The
 * mutation check (`npm run test:mutations`) applies one at a time to a scratch database and
 * expects the isolation suite to fail; the suite's global setup applies BULKHEAD_MUTATION.
 */
import { sql } from "drizzle-orm";
import { tenantTables } from "../../db/schema-rules.js";
import type { Db } from "../../db/types.js";
import { rowsOf } from "../../db/types.js";
import { scratchResource } from "../helpers/scratch-resource.js";

export interface Defence {
  name: string;
  description: string;
  /** Engines where removing it is meaningful (the role switch matters only where we connect as a superuser). */
  engines: ("pglite" | "postgres")[];
  remove(db: Db): Promise<void>;
  /** The tests that must catch it (default: tests/isolation). */
  suites?: string[];
}

/**
 * The tables a policy guards: every table with a `tenant_id` column, from the catalogue (a table
 * added later is mutated with no edit here), and `tenants`, keyed by its own id.
 */
const guardedTables = async (db: Db) => ["tenants", ...(await tenantTables(db)).map((t) => t.replace(/^public\./, ""))];

/** Replaces `signature`'s definition with `rewrite(its source)`; fails when nothing changes. */
async function rewriteFunction(db: Db, signature: string, rewrite: (source: string) => string) {
  const result = await db.execute(sql`select pg_get_functiondef(${signature}::regprocedure) as source`);
  const source = rowsOf<{ source: string }>(result)[0]?.source ?? "";
  const changed = rewrite(source);
  if (changed === source) throw new Error(`mutation did not change ${signature}`);
  await db.execute(sql.raw(changed));
}

const rewriteSetContext = (db: Db, rewrite: (source: string) => string) =>
  rewriteFunction(db, "app.set_context(uuid, uuid, integer, uuid, boolean)", rewrite);

const rewriteEnterMember = (db: Db, rewrite: (source: string) => string) =>
  rewriteFunction(db, "app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean, text, boolean)", rewrite);

const rewriteRead = (db: Db, rewrite: (source: string) => string) =>
  rewriteFunction(db, "app.read(uuid, uuid, integer, uuid, text, text, text, text[], text)", rewrite);

/** tasks → projects by the project's id alone: a task of one tenant may point at another's project. */
async function projectKeyWithoutTenant(db: Db) {
  await db.execute(sql`alter table tasks drop constraint tasks_project_fkey`);
  await db.execute(sql`create unique index projects_id_only_key on projects (id)`);
  await db.execute(
    sql`alter table tasks add constraint tasks_project_fkey foreign key (project_id) references projects (id) on delete cascade`,
  );
}

export const defences: Defence[] = [
  {
    name: "force-rls",
    description: "FORCE ROW LEVEL SECURITY on every tenant table",
    engines: ["pglite", "postgres"],
    async remove(db) {
      for (const table of await guardedTables(db))
        await db.execute(sql.raw(`alter table public.${table} no force row level security`));
    },
  },
  {
    name: "nullif",
    description: "nullif(..., '') in app.current_tenant_id()",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await db.execute(
        sql.raw(`create or replace function app.current_tenant_id() returns uuid language sql stable
                 as $$ select pg_catalog.current_setting('app.tenant_id', true)::uuid $$`),
      );
    },
  },
  {
    name: "with-check",
    description: "WITH CHECK on the tenant policies",
    engines: ["pglite", "postgres"],
    async remove(db) {
      const tables = await guardedTables(db);
      const policies = rowsOf<{ policy: string; table: string }>(
        await db.execute(sql`select polname as policy, polrelid::regclass::text as table from pg_policy
                             where polwithcheck is not null and polrelid::regclass::text = any (${`{${tables.join(",")}}`}::text[])`),
      );
      for (const { policy, table } of policies) {
        await db.execute(sql.raw(`alter policy "${policy}" on ${table} with check (true)`));
      }
    },
  },
  {
    name: "transaction-local-context",
    description: "SET LOCAL (transaction-local) tenant context",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await rewriteSetContext(db, (source) =>
        source.replace(
          "'SET LOCAL app.tenant_id = %L; SET LOCAL app.user_id = %L'",
          "'SET SESSION app.tenant_id = %L; SET SESSION app.user_id = %L'",
        ),
      );
    },
  },
  {
    name: "composite-fk",
    description: "composite (tenant_id, project_id) foreign key on tasks",
    engines: ["pglite", "postgres"],
    remove: projectKeyWithoutTenant,
  },
  {
    name: "composite-fk-probe",
    description: "the cross-tenant probe alone finds a foreign key without tenant_id, with no test written for tasks",
    engines: ["pglite", "postgres"],
    remove: projectKeyWithoutTenant,
    suites: ["tests/isolation/probe.test.ts"],
  },
  {
    name: "unique-with-tenant",
    description: "a unique index without tenant_id (one email across every workspace) is refused at start",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await db.execute(sql`alter table users drop constraint users_tenant_email_key`);
      await db.execute(sql`alter table users add constraint users_tenant_email_key unique (email)`);
    },
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "owned-by-owner",
    description: "a tenant table owned by another role than bulkhead_owner is refused at start",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await db.execute(sql`alter table comments owner to postgres`);
    },
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "scratch-link-with-tenant",
    description: "a team's own link table whose foreign key leaves tenant_id out is refused at start",
    engines: ["pglite", "postgres"],
    async remove(db) {
      for (const statement of scratchResource({ linkByIdOnly: true })) await db.execute(sql.raw(statement));
    },
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "scratch-unique-with-tenant",
    description: "a team's own unique index that leaves tenant_id out is refused at start",
    engines: ["pglite", "postgres"],
    async remove(db) {
      for (const statement of scratchResource({ namesUniqueEverywhere: true })) await db.execute(sql.raw(statement));
    },
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "revoked-truncate",
    description: "no TRUNCATE for the runtime role",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await db.execute(sql`grant truncate on all tables in schema public to bulkhead_app`);
    },
  },
  {
    name: "membership-check",
    description: "membership re-checked in every request transaction",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await rewriteSetContext(db, (source) => source.replace("RETURN v_role;", "RETURN coalesce(v_role, 'member');"));
    },
  },
  {
    name: "session-check",
    description: "an access token counts only while its session is live",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await rewriteSetContext(db, (source) => source.replace("AND r.revoked_at IS NULL", "AND true"));
    },
  },
  {
    name: "member-write-lock",
    description: "a read-write transaction holds the caller's membership row, so removal waits for it",
    engines: ["postgres"],
    suites: ["tests/hardening/member-lock.test.ts"],
    async remove(db) {
      await rewriteSetContext(db, (source) => source.replace("FOR KEY SHARE;", ";"));
    },
  },
  {
    name: "enter-member",
    description: "a member's transaction and one-statement read refuse a caller who is not a live member",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await rewriteEnterMember(db, (source) => source.replace("IF v_role IS NULL THEN", "IF false THEN"));
    },
  },
  {
    name: "tenant-hint",
    description: "a member's transaction and one-statement read refuse a request that names another tenant",
    engines: ["pglite", "postgres"],
    async remove(db) {
      await rewriteEnterMember(db, (source) => source.replace("IF p_tenant_slug IS NOT NULL", "IF false"));
    },
  },
  {
    name: "reads-read-only",
    description: "a member's read, transaction or one statement, cannot write",
    engines: ["pglite", "postgres"],
    suites: ["tests/isolation", "tests/data-layer.test.ts"],
    async remove(db) {
      await rewriteEnterMember(db, (source) =>
        source.replace("PERFORM pg_catalog.set_config('transaction_read_only', 'on', true);", "NULL;"),
      );
    },
  },
  {
    name: "read-name-form",
    description: "app.read executes only a statement named as a read (bulkhead_read_ and a hash)",
    engines: ["pglite", "postgres"],
    suites: ["tests/isolation"],
    async remove(db) {
      await rewriteRead(db, (source) =>
        source.replace("IF p_name IS NULL OR p_name !~ '^bulkhead_read_[0-9a-f]{32}$' THEN", "IF false THEN"),
      );
    },
  },
  {
    name: "read-name-is-text-hash",
    description: "app.read prepares a text only under the name its SHA-256 gives",
    engines: ["pglite", "postgres"],
    suites: ["tests/isolation"],
    async remove(db) {
      await rewriteRead(db, (source) =>
        source.replace("<> pg_catalog.substr(p_name, 15) THEN", "<> pg_catalog.substr(p_name, 15) AND false THEN"),
      );
    },
  },
  {
    name: "expired-only-pruning",
    description: "the owner role's pruning policies admit expired rows only",
    engines: ["pglite", "postgres"],
    async remove(db) {
      for (const [table, label] of [
        ["refresh_tokens", "refresh tokens"],
        ["invitations", "invitations"],
      ]) {
        await db.execute(
          sql.raw(`alter policy "the owner role sees expired ${label}, to prune them" on ${table} using (true)`),
        );
        await db.execute(sql.raw(`alter policy "the owner role deletes expired ${label}" on ${table} using (true)`));
      }
    },
  },
  {
    name: "role-switch",
    description: "switch to bulkhead_app inside each transaction (PGlite connects as a superuser)",
    engines: ["pglite"],
    async remove(db) {
      await rewriteSetContext(db, (source) => source.replace("SET LOCAL ROLE bulkhead_app;", "NULL;"));
    },
  },
  {
    name: "outbox-claim-lease",
    description: "a claimed outbox message is not claimed again while its lease runs",
    engines: ["pglite", "postgres"],
    suites: ["tests/mail/outbox.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.outbox_claim(integer, integer)", (source) =>
        source
          .replace("AND (c.claimed_until IS NULL OR c.claimed_until < v_now)", "")
          .replace("AND o.status = 'pending' AND (o.claimed_until IS NULL OR o.claimed_until < v_now)", ""),
      );
    },
  },
  {
    name: "outbox-claim-recheck",
    description: "two dispatchers claiming at once claim each message once (the UPDATE re-checks the claim)",
    engines: ["postgres"],
    suites: ["tests/mail/outbox.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.outbox_claim(integer, integer)", (source) =>
        source.replace("AND o.status = 'pending' AND (o.claimed_until IS NULL OR o.claimed_until < v_now)", ""),
      );
    },
  },
  {
    name: "outbox-settle-own-claim",
    description: "only the claim that took an outbox message settles it",
    engines: ["pglite", "postgres"],
    suites: ["tests/mail/outbox.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.outbox_settle(uuid, uuid, uuid, text, integer, integer)", (source) =>
        source.replace("AND o.claim_id = p_claim", ""),
      );
    },
  },
  {
    name: "outbox-erases-bodies",
    description: "a settled outbox message keeps no body or link (they can hold tokens)",
    engines: ["pglite", "postgres"],
    suites: ["tests/mail/outbox.test.ts", "tests/auth/passwords.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.outbox_settle(uuid, uuid, uuid, text, integer, integer)", (source) =>
        source.replace("o.payload - 'text' - 'html' - 'link'", "o.payload"),
      );
    },
  },
  {
    name: "verified-email-writes",
    description: "a tenant that requires verified email refuses an unverified member's writes",
    engines: ["pglite", "postgres"],
    suites: ["tests/auth/verification.test.ts"],
    async remove(db) {
      await rewriteEnterMember(db, (source) =>
        source.replace(
          "WHERE t.id = p_tenant AND t.require_verified_email",
          "WHERE false AND t.require_verified_email",
        ),
      );
    },
  },
  {
    name: "mfa-policy-member-path",
    description: "a workspace that requires a second factor holds a member without one at enrollment, reads included",
    engines: ["pglite", "postgres"],
    suites: ["tests/auth/mfa.test.ts"],
    async remove(db) {
      await rewriteEnterMember(db, (source) =>
        source.replace("WHERE t.id = p_tenant AND t.require_mfa)", "WHERE false AND t.require_mfa)"),
      );
    },
  },
  {
    name: "deletion-freezes-changes",
    description: "a workspace scheduled for deletion refuses its members' changes",
    engines: ["pglite", "postgres"],
    suites: ["tests/tenant-lifecycle.test.ts"],
    async remove(db) {
      await rewriteEnterMember(db, (source) =>
        source.replace("WHERE t.id = p_tenant AND t.deletion_due_at IS NOT NULL", "WHERE false"),
      );
      await rewriteFunction(db, "app.count_usage()", (source) =>
        source.replace("WHERE t.id = v_group.tenant_id AND t.deletion_due_at IS NOT NULL", "WHERE false"),
      );
    },
  },
  {
    name: "quota-limit",
    description: "an insert past a tenant's limit is refused, under concurrency too",
    engines: ["pglite", "postgres"],
    suites: ["tests/tenant-lifecycle.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.count_usage()", (source) =>
        source
          .replace("AND u.used + v_group.n <= v_limit\n", "\n")
          .replace("AND u.used + v_group.n <= v_limit", "")
          .replace("CONTINUE WHEN v_used <= v_limit;", "CONTINUE;"),
      );
    },
  },
  {
    name: "erased-slug-reserved",
    description: "an erased workspace's slug stays taken while its tombstone reserves it",
    engines: ["pglite", "postgres"],
    suites: ["tests/tenant-lifecycle.test.ts"],
    async remove(db) {
      await rewriteFunction(db, "app.slug_reserved(text)", (source) =>
        source.replace("s.slug = p_slug AND s.slug_reserved_until > now()", "false"),
      );
    },
  },
];

/** Applies the defence named by BULKHEAD_MUTATION, if any (called by the tests' global setup). */
export async function applyMutationFromEnv(db: Db): Promise<void> {
  const name = process.env.BULKHEAD_MUTATION;
  if (!name) return;
  const defence = defences.find((d) => d.name === name);
  if (!defence) throw new Error(`unknown BULKHEAD_MUTATION ${name}`);
  await defence.remove(db);
}
