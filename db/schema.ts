/**
 * The single source of truth for Bulkhead's tables and their row-level security policies.
 *
 * Every tenant table follows the same shape, because isolation depends on it:
 * - `tenant_id uuid not null`, primary key `(tenant_id, id)`, random UUID ids;
 * - foreign keys between tenant tables are composite `(tenant_id, x_id)`, so a row can only
 *   reference rows of its own tenant (FK checks ignore RLS, a single-column FK would be an oracle);
 * - every unique constraint includes `tenant_id`;
 * - one `for all` policy with both USING and WITH CHECK through `app.current_tenant_id()`,
 *   which is NULL (so matches nothing) whenever no tenant context is set: fail closed.
 * FORCE ROW LEVEL SECURITY, grants and the SQL functions live in the custom migrations in `drizzle/`.
 */
import { type SQL, sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  foreignKey,
  index,
  inet,
  integer,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

/** The tenant the current transaction acts for; NULL outside a tenant transaction. */
const currentTenant = sql`app.current_tenant_id()`;

/**
 * PostgreSQL truncates identifiers to 63 bytes without a word, and a truncated policy name no
 * longer matches this file: refuse one at import.
 */
function policyName(name: string): string {
  if (new TextEncoder().encode(name).length > 63) throw new Error(`policy name longer than 63 bytes: ${name}`);
  return name;
}

/**
 * What the owner role may do to rows once they have expired, for `app.prune_expired` (which runs
 * as the owner): see and delete them, in any tenant — and nothing to a row still live, whatever
 * the function asks. The tenant policy of these tables applies to the runtime role only, so each
 * (table, role, command) has exactly one permissive policy.
 */
function expiredRowsPolicies(table: string, expiresAt: AnyPgColumn) {
  return [
    pgPolicy(policyName(`the owner role sees expired ${table}, to prune them`), {
      as: "permissive",
      for: "select",
      to: "bulkhead_owner",
      using: sql`${expiresAt} < now()`,
    }),
    pgPolicy(policyName(`the owner role deletes expired ${table}`), {
      as: "permissive",
      for: "delete",
      to: "bulkhead_owner",
      using: sql`${expiresAt} < now()`,
    }),
  ];
}

/**
 * What the owner role may do to rows kept for a retention: see and delete those older than the
 * setting `retentionDays` reads (`app.prune_expired` sets it), and every row of a workspace it is
 * erasing (`app.erase_tenant_batch`). Settings are read through functions, as the tenant is
 * everywhere: Citus refuses a policy with a (select ...) subquery, and a per-row
 * current_setting() is what the lints refuse.
 */
function retainedRowsPolicies(label: string, createdAt: AnyPgColumn, tenant: AnyPgColumn, retentionDays: SQL) {
  return (["select", "delete"] as const).map((command) =>
    pgPolicy(policyName(`the owner role ${command}s expired or erased ${label}`), {
      as: "permissive",
      for: command,
      to: "bulkhead_owner",
      using: sql`${createdAt} < now() - make_interval(days => ${retentionDays})
          or (${tenant} = ${currentTenant} and ${tenant} = app.erasing_tenant_id())`,
    }),
  );
}

/**
 * The one policy every tenant table carries: rows of the context's tenant, for every command.
 * `to`: every role (the owner role's definer functions write under it too), or the runtime role
 * alone where the owner role has policies of its own.
 */
function tenantPolicy(
  table: string,
  tenantColumn: AnyPgColumn,
  to: "public" | "bulkhead_app" = "public",
  /** What the policy's name calls the rows, where the table's name would pass 63 bytes. */
  rows = table,
) {
  return pgPolicy(policyName(`${rows} are seen and written only within their tenant`), {
    as: "permissive",
    for: "all",
    to,
    using: sql`${tenantColumn} = ${currentTenant}`,
    withCheck: sql`${tenantColumn} = ${currentTenant}`,
  });
}

const id = () => uuid("id").notNull().default(sql`gen_random_uuid()`);
const tenantId = () => uuid("tenant_id").notNull();
// Millisecond precision, like a JS Date: a keyset cursor made from a row's Date is then exact.
const createdAt = () => timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow();

export const memberRoles = ["owner", "admin", "member"] as const;
export type MemberRole = (typeof memberRoles)[number];
export const taskStatuses = ["todo", "in_progress", "done"] as const;
export type TaskStatus = (typeof taskStatuses)[number];

/**
 * Tenants (workspaces). A tenant sees only its own row; new tenants are created only by the
 * `app.register_tenant` SECURITY DEFINER function, slugs resolved only by `app.tenant_id_for_slug`.
 */
export const tenants = pgTable(
  "tenants",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    slug: text("slug").notNull().unique("tenants_slug_key"),
    name: text("name").notNull(),
    /** Members who have not verified their email may only read (app.enter_member, BH412). */
    requireVerifiedEmail: boolean("require_verified_email").notNull().default(false),
    /**
     * Members must sign in with a second factor: one without a factor may only enroll one, and a
     * session begun without a factor is held until it has one (app.enter_member, BH428/BH427).
     */
    requireMfa: boolean("require_mfa").notNull().default(false),
    /**
     * Set while a deletion is scheduled (`tenant.scheduleDeletion`): from then on the workspace
     * may be read and exported but not changed, and the prune job erases it once this has passed.
     */
    deletionDueAt: timestamp("deletion_due_at", { withTimezone: true, precision: 3 }),
    deletionRequestedBy: uuid("deletion_requested_by"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("tenants_deletion_due_idx").on(t.deletionDueAt).where(sql`${t.deletionDueAt} is not null`),
    check("tenants_slug_format", sql`${t.slug} ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'`),
    pgPolicy(policyName("tenants are seen and written only by themselves"), {
      as: "permissive",
      for: "all",
      to: "bulkhead_app",
      using: sql`${t.id} = ${currentTenant}`,
      withCheck: sql`${t.id} = ${currentTenant}`,
    }),
    // The owner role runs only migrations and the narrow SECURITY DEFINER functions: the slug
    // lookup of login and registration reads tenants before any context exists. Registration
    // (`app.register_tenant`) inserts a tenant as the runtime role, in that tenant's own context,
    // under the policy above (docs/decisions/023-registration-as-one-role.md).
    pgPolicy(policyName("the owner role reads tenants to resolve slugs"), {
      as: "permissive",
      for: "select",
      to: "bulkhead_owner",
      using: sql`true`,
    }),
    // `app.erase_tenant_batch` locks a workspace whose deletion is due, and at last deletes it.
    pgPolicy(policyName("the owner role locks a workspace due for erasure"), {
      as: "permissive",
      for: "update",
      to: "bulkhead_owner",
      using: sql`${t.deletionDueAt} <= now()`,
      withCheck: sql`${t.deletionDueAt} <= now()`,
    }),
    pgPolicy(policyName("the owner role deletes a workspace due for erasure"), {
      as: "permissive",
      for: "delete",
      to: "bulkhead_owner",
      using: sql`${t.id} = ${currentTenant} and ${t.deletionDueAt} <= now()`,
    }),
  ],
);

/** Members of a tenant. `email` is stored lower-cased; unique per tenant. */
export const users = pgTable(
  "users",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    email: text("email").notNull(),
    name: text("name").notNull(),
    passwordHash: text("password_hash").notNull(),
    role: text("role", { enum: memberRoles }).notNull(),
    /** When the member proved they read mail at `email`; null until then. */
    emailVerifiedAt: timestamp("email_verified_at", { withTimezone: true, precision: 3 }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: "users_pkey", columns: [t.tenantId, t.id] }),
    unique("users_tenant_email_key").on(t.tenantId, t.email),
    index("users_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    check("users_role_valid", sql`${t.role} in ('owner', 'admin', 'member')`),
    check("users_email_lowercase", sql`${t.email} = lower(${t.email})`),
    tenantPolicy("users", t.tenantId),
  ],
);

export const projects = pgTable(
  "projects",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    name: text("name").notNull(),
    description: text("description"),
    // Deliberately not a foreign key: a project outlives the member who created it.
    createdBy: uuid("created_by").notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: "projects_pkey", columns: [t.tenantId, t.id] }),
    index("projects_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    tenantPolicy("projects", t.tenantId),
  ],
);

export const tasks = pgTable(
  "tasks",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    projectId: uuid("project_id").notNull(),
    title: text("title").notNull(),
    status: text("status", { enum: taskStatuses }).notNull().default("todo"),
    // A member of the same tenant. NO ACTION, not SET NULL (assignee_id): Citus refuses a
    // SET NULL that leaves the distribution column out, so `members.remove` unassigns first.
    assigneeId: uuid("assignee_id"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: "tasks_pkey", columns: [t.tenantId, t.id] }),
    foreignKey({
      name: "tasks_project_fkey",
      columns: [t.tenantId, t.projectId],
      foreignColumns: [projects.tenantId, projects.id],
    }).onDelete("cascade"),
    foreignKey({
      name: "tasks_assignee_fkey",
      columns: [t.tenantId, t.assigneeId],
      foreignColumns: [users.tenantId, users.id],
    }),
    index("tasks_tenant_project_created_idx").on(t.tenantId, t.projectId, t.createdAt.desc(), t.id.desc()),
    index("tasks_tenant_assignee_idx").on(t.tenantId, t.assigneeId),
    check("tasks_status_valid", sql`${t.status} in ('todo', 'in_progress', 'done')`),
    tenantPolicy("tasks", t.tenantId),
  ],
);

/** Comments on a task: written by a member, deleted by their author or an admin. */
export const comments = pgTable(
  "comments",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    taskId: uuid("task_id").notNull(),
    // Deliberately not a foreign key, like projects.created_by: a comment outlives its author.
    authorId: uuid("author_id").notNull(),
    body: text("body").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "comments_pkey", columns: [t.tenantId, t.id] }),
    foreignKey({
      name: "comments_task_fkey",
      columns: [t.tenantId, t.taskId],
      foreignColumns: [tasks.tenantId, tasks.id],
    }).onDelete("cascade"),
    index("comments_tenant_task_created_idx").on(t.tenantId, t.taskId, t.createdAt.desc(), t.id.desc()),
    tenantPolicy("comments", t.tenantId),
  ],
);

/**
 * Refresh-token sessions. Only a SHA-256 of the secret is stored. Tokens rotate: each use
 * spends the row and issues a successor in the same `family_id`; presenting a spent token
 * revokes the whole family.
 */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    tenantId: tenantId(),
    id: id(),
    userId: uuid("user_id").notNull(),
    familyId: uuid("family_id").notNull(),
    tokenHash: text("token_hash").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, precision: 3 }),
    createdAt: createdAt(),
    // The session (family) this token continues, as the user sees it in auth.sessions.list:
    // when and from where it began, carried from token to token as it rotates.
    sessionCreatedAt: timestamp("session_created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    userAgent: text("user_agent"),
    clientAddress: inet("client_address"),
    /** When the session proved a second factor (sign-in or enrollment); carried like its origin. */
    secondFactorAt: timestamp("second_factor_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    primaryKey({ name: "refresh_tokens_pkey", columns: [t.tenantId, t.id] }),
    foreignKey({
      name: "refresh_tokens_user_fkey",
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete("cascade"),
    uniqueIndex("refresh_tokens_tenant_token_hash_key").on(t.tenantId, t.tokenHash),
    // Live rows of a family only: the per-request session check (`app.set_context`) and
    // revocation look for them, and a revoked family then costs one probe, not one per row.
    index("refresh_tokens_tenant_live_family_idx").on(t.tenantId, t.familyId).where(sql`${t.revokedAt} is null`),
    index("refresh_tokens_tenant_user_idx").on(t.tenantId, t.userId),
    tenantPolicy("refresh_tokens", t.tenantId, "bulkhead_app"),
    ...expiredRowsPolicies("refresh tokens", t.expiresAt),
  ],
);

/** Invitations: single use, expiring; only a SHA-256 of the token is stored. */
export const invitations = pgTable(
  "invitations",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    email: text("email").notNull(),
    role: text("role", { enum: memberRoles }).notNull(),
    tokenHash: text("token_hash").notNull(),
    invitedBy: uuid("invited_by").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
    acceptedAt: timestamp("accepted_at", { withTimezone: true, precision: 3 }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "invitations_pkey", columns: [t.tenantId, t.id] }),
    uniqueIndex("invitations_tenant_token_hash_key").on(t.tenantId, t.tokenHash),
    index("invitations_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    check("invitations_role_valid", sql`${t.role} in ('admin', 'member')`),
    tenantPolicy("invitations", t.tenantId, "bulkhead_app"),
    ...expiredRowsPolicies("invitations", t.expiresAt),
  ],
);

/** Who acts: a person, or a workspace API key (a principal of its own, docs/decisions/025-api-keys-beside-members.md). */
export const actorTypes = ["user", "api_key"] as const;
export type ActorType = (typeof actorTypes)[number];

/** The roles an API key may have: never owner. */
export const apiKeyRoles = ["admin", "member"] as const;

/**
 * Workspace API keys: principals of their own beside the members, owned by the workspace (they
 * outlive their creator). The key is `bhk_<key id><tenant id>_<secret>`; only a SHA-256 of the
 * secret is stored (docs/decisions/025-api-keys-beside-members.md). `app.enter_member` checks it,
 * and that it is neither revoked nor expired, in the first statement of every request it makes.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    name: text("name").notNull(),
    /** The key's first characters, to tell keys apart in a list: `bhk_` and 8 hex digits. */
    prefix: text("prefix").notNull(),
    secretHash: text("secret_hash").notNull(),
    role: text("role", { enum: apiKeyRoles }).notNull(),
    readOnly: boolean("read_only").notNull().default(false),
    // Deliberately not a foreign key: a key belongs to the workspace and outlives its creator.
    createdBy: uuid("created_by").notNull(),
    createdAt: createdAt(),
    /** Written at most once a minute (when the key takes request budget), not on every request. */
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, precision: 3 }),
    expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, precision: 3 }),
    revokedBy: uuid("revoked_by"),
  },
  (t) => [
    primaryKey({ name: "api_keys_pkey", columns: [t.tenantId, t.id] }),
    index("api_keys_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    check("api_keys_role_valid", sql`${t.role} in ('admin', 'member')`),
    check("api_keys_secret_hash_format", sql`${t.secretHash} ~ '^[0-9a-f]{64}$'`),
    tenantPolicy("api_keys", t.tenantId, "bulkhead_app"),
  ],
);

/**
 * Each key's request budget in the current minute, shared by every server instance: a server
 * takes a slice of it at a time (`app.api_key_take`), so a request costs no write here in the
 * common case (docs/decisions/026-api-key-budget-in-slices.md).
 */
export const apiKeyUsage = pgTable(
  "api_key_usage",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    keyId: uuid("key_id").notNull(),
    windowStart: timestamp("window_start", { withTimezone: true, precision: 3 }).notNull(),
    used: integer("used").notNull(),
  },
  (t) => [
    primaryKey({ name: "api_key_usage_pkey", columns: [t.tenantId, t.keyId] }),
    foreignKey({
      name: "api_key_usage_key_fkey",
      columns: [t.tenantId, t.keyId],
      foreignColumns: [apiKeys.tenantId, apiKeys.id],
    }).onDelete("cascade"),
    tenantPolicy("api_key_usage", t.tenantId, "bulkhead_app"),
  ],
);

/** Append-only audit trail: the runtime role may INSERT and SELECT here, nothing else. */
export const auditEvents = pgTable(
  "audit_events",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    actorId: uuid("actor_id"),
    /** Who `actor_id` is: a person (`users.id`) or a workspace API key (`api_keys.id`). */
    actorType: text("actor_type", { enum: actorTypes }).notNull().default("user"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: uuid("target_id"),
    requestId: text("request_id"),
    clientAddress: inet("client_address"),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "audit_events_pkey", columns: [t.tenantId, t.id] }),
    index("audit_events_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    check("audit_events_actor_type_valid", sql`${t.actorType} in ('user', 'api_key')`),
    tenantPolicy("audit_events", t.tenantId, "bulkhead_app"),
    // The owner role removes events past AUDIT_RETENTION_DAYS (`app.prune_expired` sets the
    // setting), and those of a workspace it is erasing (`app.erase_tenant_batch`).
    ...retainedRowsPolicies("audit events", t.createdAt, t.tenantId, sql`app.audit_retention_days()`),
  ],
);

/** What a change event names: one entity's creation, change or removal (server/audit.ts). */
export const eventTypes = [
  "project.created",
  "project.updated",
  "project.deleted",
  "task.created",
  "task.updated",
  "task.deleted",
  "comment.created",
  "comment.deleted",
  "member.joined",
  "member.role_changed",
  "member.removed",
] as const;
export type EventType = (typeof eventTypes)[number];

/**
 * The tenant's change log, which live subscriptions read (and webhooks will): written in the
 * call that writes the audit row (app.record_audit), in the change's own transaction. `id` orders a tenant's
 * events and has no gaps: it comes from the tenant's `event_sequences` row, which the writing
 * transaction holds until it commits, so ids commit in their order and a reader that has seen
 * id n never later finds an n - 1 (docs/decisions/024-events-beside-the-audit-row.md). The
 * runtime role may insert and select; the owner role prunes what is past EVENT_RETENTION_DAYS.
 */
export const events = pgTable(
  "events",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: bigint("id", { mode: "number" }).notNull(),
    type: text("type", { enum: eventTypes }).notNull(),
    /** The project, task, comment or member (user) the event is about. */
    entityId: uuid("entity_id").notNull(),
    /** The project it belongs to (a project's own id; a task's or comment's project), or null. */
    projectId: uuid("project_id"),
    actorId: uuid("actor_id"),
    /** What a client needs to update its cache; never a secret, a token or a hash. */
    payload: jsonb("payload").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "events_pkey", columns: [t.tenantId, t.id] }),
    index("events_tenant_project_idx").on(t.tenantId, t.projectId, t.id),
    index("events_created_idx").on(t.createdAt),
    tenantPolicy("events", t.tenantId, "bulkhead_app"),
    ...retainedRowsPolicies("events", t.createdAt, t.tenantId, sql`app.event_retention_days()`),
  ],
);

/** Each tenant's last event id: the row a writing transaction holds until it commits. */
export const eventSequences = pgTable(
  "event_sequences",
  {
    tenantId: uuid("tenant_id")
      .primaryKey()
      .references(() => tenants.id, { onDelete: "cascade" }),
    lastId: bigint("last_id", { mode: "number" }).notNull(),
  },
  (t) => [tenantPolicy("event_sequences", t.tenantId)],
);

/**
 * A workspace's webhook endpoints (admins manage them): the event types each receives, and the
 * secret its deliveries are signed with (Standard Webhooks: `whsec_` + base64), shown once.
 * After a rotation the previous secret signs too until `previousSecretUntil`, so a receiver can
 * switch without losing a delivery. An endpoint whose deliveries die `WEBHOOK_DISABLE_AFTER`
 * times in a row is disabled, and its workspace's admins are mailed. The owner role reads and
 * updates them for the dispatcher (`app.webhook_claim` / `app.webhook_settle`).
 */
export const webhooks = pgTable(
  "webhooks",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    url: text("url").notNull(),
    eventTypes: text("event_types").array().notNull(),
    secret: text("secret").notNull(),
    previousSecret: text("previous_secret"),
    previousSecretUntil: timestamp("previous_secret_until", { withTimezone: true, precision: 3 }),
    enabled: boolean("enabled").notNull().default(true),
    /** Deliveries that died in a row since the last one that arrived. */
    consecutiveDead: integer("consecutive_dead").notNull().default(0),
    disabledAt: timestamp("disabled_at", { withTimezone: true, precision: 3 }),
    createdBy: uuid("created_by"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: "webhooks_pkey", columns: [t.tenantId, t.id] }),
    tenantPolicy("webhooks", t.tenantId, "bulkhead_app"),
    pgPolicy(policyName("the owner role reads webhooks, to deliver them"), {
      as: "permissive",
      for: "select",
      to: "bulkhead_owner",
      using: sql`true`,
    }),
    pgPolicy(policyName("the owner role counts dead deliveries of webhooks"), {
      as: "permissive",
      for: "update",
      to: "bulkhead_owner",
      using: sql`true`,
      withCheck: sql`true`,
    }),
  ],
);

export const deliveryStatuses = ["pending", "sent", "dead"] as const;

/**
 * One event to one endpoint: written with the event, in the change's own transaction, for each
 * enabled endpoint that takes its type (`app.record_audit`), so nothing committed is lost. The
 * dispatcher claims due ones with a lease, as the outbox's (docs/decisions/012), posts them, and
 * retries with exponential backoff until `WEBHOOK_MAX_ATTEMPTS`; then the delivery is dead. Its
 * id is the `webhook-id` of every attempt. It goes with its event (EVENT_RETENTION_DAYS).
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    tenantId: tenantId(),
    id: id(),
    webhookId: uuid("webhook_id").notNull(),
    eventId: bigint("event_id", { mode: "number" }).notNull(),
    /** The body every attempt posts: `{ type, timestamp, data }`, the event as it was written. */
    payload: jsonb("payload").notNull(),
    status: text("status", { enum: deliveryStatuses }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    claimId: uuid("claim_id"),
    claimedUntil: timestamp("claimed_until", { withTimezone: true, precision: 3 }),
    /** The endpoint's last HTTP status, or null when none came (refused, timed out). */
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: createdAt(),
    settledAt: timestamp("settled_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    primaryKey({ name: "webhook_deliveries_pkey", columns: [t.tenantId, t.id] }),
    foreignKey({
      name: "webhook_deliveries_webhook_fkey",
      columns: [t.tenantId, t.webhookId],
      foreignColumns: [webhooks.tenantId, webhooks.id],
    }).onDelete("cascade"),
    foreignKey({
      name: "webhook_deliveries_event_fkey",
      columns: [t.tenantId, t.eventId],
      foreignColumns: [events.tenantId, events.id],
    }).onDelete("cascade"),
    check("webhook_deliveries_status_valid", sql`${t.status} in ('pending', 'sent', 'dead')`),
    index("webhook_deliveries_pending_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index("webhook_deliveries_webhook_idx").on(t.tenantId, t.webhookId, t.createdAt.desc(), t.id.desc()),
    index("webhook_deliveries_event_idx").on(t.tenantId, t.eventId),
    tenantPolicy("webhook_deliveries", t.tenantId, "bulkhead_app", "deliveries"),
    pgPolicy(policyName("the owner role reads webhook deliveries, to send them"), {
      as: "permissive",
      for: "select",
      to: "bulkhead_owner",
      using: sql`true`,
    }),
    pgPolicy(policyName("the owner role claims and settles webhook deliveries"), {
      as: "permissive",
      for: "update",
      to: "bulkhead_owner",
      using: sql`true`,
      withCheck: sql`true`,
    }),
  ],
);

/**
 * A table of single-use, expiring tokens of one purpose, held for a user: only a SHA-256 of each
 * token is stored, and the owner role may prune it once expired.
 */
function oneTimeTokens(table: "password_resets" | "verifications" | "mfa_challenges", label: string) {
  return pgTable(
    table,
    {
      tenantId: tenantId(),
      id: id(),
      userId: uuid("user_id").notNull(),
      tokenHash: text("token_hash").notNull(),
      expiresAt: timestamp("expires_at", { withTimezone: true, precision: 3 }).notNull(),
      usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
      createdAt: createdAt(),
    },
    (t) => [
      primaryKey({ name: `${table}_pkey`, columns: [t.tenantId, t.id] }),
      foreignKey({
        name: `${table}_user_fkey`,
        columns: [t.tenantId, t.userId],
        foreignColumns: [users.tenantId, users.id],
      }).onDelete("cascade"),
      uniqueIndex(`${table}_tenant_token_hash_key`).on(t.tenantId, t.tokenHash),
      index(`${table}_tenant_user_idx`).on(t.tenantId, t.userId),
      tenantPolicy(table, t.tenantId, "bulkhead_app"),
      ...expiredRowsPolicies(label, t.expiresAt),
    ],
  );
}

/** Password reset requests; any change of the password marks the user's outstanding ones used. */
export const passwordResets = oneTimeTokens("password_resets", "password resets");

/** Email verification links; verifying marks the user's `email_verified_at`. */
export const emailVerifications = oneTimeTokens("verifications", "email verifications");

/**
 * Second-factor challenges: what `auth.login` answers instead of a session when the account has a
 * factor; `auth.mfa.verify` spends one with a code (server/auth/mfa.ts).
 */
export const mfaChallenges = oneTimeTokens("mfa_challenges", "mfa challenges");

/**
 * A member's TOTP factor (RFC 6238), one per member: the secret AES-GCM encrypted under
 * ENCRYPTION_KEY (server/crypto/encryption.ts), never stored in the clear. `last_step` is the
 * latest time step a code was accepted for: a step is accepted once, and never one before it.
 */
export const totpFactors = pgTable(
  "totp_factors",
  {
    tenantId: tenantId(),
    userId: uuid("user_id").notNull(),
    secretEncrypted: text("secret_encrypted").notNull(),
    /** Null while enrolling: the factor counts once a code confirmed it. */
    confirmedAt: timestamp("confirmed_at", { withTimezone: true, precision: 3 }),
    lastStep: bigint("last_step", { mode: "number" }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "totp_factors_pkey", columns: [t.tenantId, t.userId] }),
    foreignKey({
      name: "totp_factors_user_fkey",
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete("cascade"),
    check("totp_factors_secret_encrypted", sql`${t.secretEncrypted} ~ '^v1\\.'`),
    tenantPolicy("totp_factors", t.tenantId, "bulkhead_app"),
  ],
);

/**
 * A member's passkeys (WebAuthn credentials, server/auth/passkeys.ts): a second factor, and a
 * sign-in of their own. The public key and the signature counter; a counter that goes backwards
 * is refused (a cloned authenticator) and audited.
 */
export const passkeys = pgTable(
  "passkeys",
  {
    tenantId: tenantId(),
    id: id(),
    userId: uuid("user_id").notNull(),
    /** The credential's id, base64url, as the authenticator gives it. */
    credentialId: text("credential_id").notNull(),
    /** The COSE public key, base64url. */
    publicKey: text("public_key").notNull(),
    counter: bigint("counter", { mode: "number" }).notNull().default(0),
    transports: text("transports").array().notNull().default(sql`'{}'::text[]`),
    name: text("name").notNull(),
    /** Synced across devices (a passkey manager) or bound to one authenticator. */
    backedUp: boolean("backed_up").notNull().default(false),
    createdAt: createdAt(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    primaryKey({ name: "passkeys_pkey", columns: [t.tenantId, t.id] }),
    uniqueIndex("passkeys_tenant_credential_key").on(t.tenantId, t.credentialId),
    index("passkeys_tenant_user_idx").on(t.tenantId, t.userId),
    foreignKey({
      name: "passkeys_user_fkey",
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete("cascade"),
    tenantPolicy("passkeys", t.tenantId, "bulkhead_app"),
  ],
);

/** A member's single-use recovery codes (SHA-256 of each: they are random), made at TOTP confirmation. */
export const recoveryCodes = pgTable(
  "recovery_codes",
  {
    tenantId: tenantId(),
    userId: uuid("user_id").notNull(),
    codeHash: text("code_hash").notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, precision: 3 }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: "recovery_codes_pkey", columns: [t.tenantId, t.userId, t.codeHash] }),
    foreignKey({
      name: "recovery_codes_user_fkey",
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete("cascade"),
    tenantPolicy("recovery_codes", t.tenantId, "bulkhead_app"),
  ],
);

export const outboxStatuses = ["pending", "sent", "dead"] as const;

/**
 * The transactional outbox: a message is written here in the transaction of the change that
 * causes it, so a rolled-back request sends nothing and a committed one is never lost. The
 * dispatcher (`server/mail/dispatcher.ts`) claims and settles rows through the
 * `app.outbox_*` SECURITY DEFINER functions, across tenants, as the owner role.
 */
export const outbox = pgTable(
  "outbox",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    id: id(),
    /** What the message is: `mail` for now; the payload's shape depends on it. */
    kind: text("kind").notNull(),
    /** For mail: `{ to, subject, text, html }`; the bodies are erased once it is settled. */
    payload: jsonb("payload").notNull(),
    status: text("status", { enum: outboxStatuses }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** The claim in progress: a dispatcher settles only its own claim, and a claim expires. */
    claimId: uuid("claim_id"),
    claimedUntil: timestamp("claimed_until", { withTimezone: true, precision: 3 }),
    lastError: text("last_error"),
    createdAt: createdAt(),
    settledAt: timestamp("settled_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    primaryKey({ name: "outbox_pkey", columns: [t.tenantId, t.id] }),
    check("outbox_status_valid", sql`${t.status} in ('pending', 'sent', 'dead')`),
    index("outbox_pending_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index("outbox_tenant_created_idx").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    tenantPolicy("outbox", t.tenantId, "bulkhead_app"),
    pgPolicy(policyName("the owner role reads the outbox of every tenant, to dispatch it"), {
      as: "permissive",
      for: "select",
      to: "bulkhead_owner",
      using: sql`true`,
    }),
    pgPolicy(policyName("the owner role claims and settles outbox messages"), {
      as: "permissive",
      for: "update",
      to: "bulkhead_owner",
      using: sql`true`,
      withCheck: sql`true`,
    }),
    pgPolicy(policyName("the owner role deletes settled outbox messages"), {
      as: "permissive",
      for: "delete",
      to: "bulkhead_owner",
      using: sql`${t.status} <> 'pending'`,
    }),
  ],
);

/** What each quota counts; `app.count_usage` (db/sql/functions/count_usage.sql) keeps the counts. */
export const quotaKinds = [
  "projects",
  "tasks_per_project",
  "pending_invitations",
  "members",
  "comments_per_task",
] as const;
export type QuotaKind = (typeof quotaKinds)[number];

/**
 * A tenant's own limits, where they differ from the defaults (a NULL column: the default). Set
 * by operators (SQL as the owner role); the runtime role may only read them.
 */
export const tenantLimits = pgTable(
  "tenant_limits",
  {
    tenantId: uuid("tenant_id")
      .primaryKey()
      .references(() => tenants.id, { onDelete: "cascade" }),
    projects: integer("projects"),
    tasksPerProject: integer("tasks_per_project"),
    pendingInvitations: integer("pending_invitations"),
    members: integer("members"),
    commentsPerTask: integer("comments_per_task"),
    updatedAt: updatedAt(),
  },
  (t) => [tenantPolicy("tenant_limits", t.tenantId)],
);

/**
 * How much of each quota a tenant uses, per scope (the tenant itself, or the project or task the
 * rows belong to): kept by the `app.count_usage` trigger in the transaction of every insert and
 * delete, so a limit is checked and taken in one row-locked statement, race-free.
 */
export const tenantUsage = pgTable(
  "tenant_usage",
  {
    tenantId: tenantId().references(() => tenants.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: quotaKinds }).notNull(),
    /** The project (tasks), the task (comments), or the tenant itself. */
    scopeId: uuid("scope_id").notNull(),
    used: integer("used").notNull(),
  },
  (t) => [
    primaryKey({ name: "tenant_usage_pkey", columns: [t.tenantId, t.kind, t.scopeId] }),
    check("tenant_usage_not_negative", sql`${t.used} >= 0`),
    tenantPolicy("tenant_usage", t.tenantId),
  ],
);

/**
 * What is left of an erased tenant: its id and when it went, and — until `slug_reserved_until` —
 * its slug, so nobody takes a name its users still type. No personal data. Written and read only
 * by the owner role's functions (the erase and registration).
 */
export const tenantTombstones = pgTable(
  "tenant_tombstones",
  {
    id: uuid("id").primaryKey(),
    deletedAt: timestamp("deleted_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    slug: text("slug"),
    slugReservedUntil: timestamp("slug_reserved_until", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    index("tenant_tombstones_slug_idx").on(t.slug).where(sql`${t.slug} is not null`),
    pgPolicy(policyName("the owner role keeps tombstones"), {
      as: "permissive",
      for: "all",
      to: "bulkhead_owner",
      using: sql`true`,
      withCheck: sql`true`,
    }),
  ],
);

/**
 * Failed-login counters, shared by every server instance. Keys are hashes of
 * `tenant+email` or of a client address; the table is reachable only through the
 * `app.login_throttle_*` SECURITY DEFINER functions (no grants to the runtime role).
 */
export const loginThrottle = pgTable(
  "login_throttle",
  {
    key: text("key").primaryKey(),
    failures: integer("failures").notNull(),
    windowStartedAt: timestamp("window_started_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  () => [
    pgPolicy(policyName("throttle rows are reachable only through definer functions"), {
      as: "permissive",
      for: "all",
      using: sql`current_user = 'bulkhead_owner'`,
      withCheck: sql`current_user = 'bulkhead_owner'`,
    }),
  ],
);
