/**
 * A tenant's data as NDJSON: a header line (format, schema version, tenant, snapshot time), one
 * line per row — `{"type":"<table>","row":{…}}` — and an `end` line with the count per table, so
 * a reader can tell a complete export from a cut one. Read in one REPEATABLE READ transaction
 * with the tenant's context set: RLS itself keeps every other tenant's rows out, and every table
 * is read at the same snapshot while writes go on. Rows go out in batches in key order (keyset,
 * never OFFSET), so memory stays bounded by one batch whatever the tenant's size.
 *
 * Not exported: password hashes, invitation and session tokens, the one-time-token tables and
 * the outbox (they hold secrets or copies of mail, not the tenant's data).
 */
import { sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { auditEvents, comments, invitations, projects, tasks, tenants, users } from "../../db/schema.js";
import { rowsOf, type Tx } from "../../db/types.js";
import journal from "../../drizzle/meta/_journal.json" with { type: "json" };

export const exportFormat = "bulkhead-tenant-export";
/** The last migration applied to the schema the rows come from. */
export const exportSchemaVersion = journal.entries.at(-1)?.tag ?? "unknown";

interface Section {
  type: string;
  table: PgTable;
  tenant: PgColumn;
  key: PgColumn;
  /** Columns left out (secrets): by their SQL names. */
  omit?: string[];
}

/** Every table a tenant owns, in the order a reader can load them back (parents first). */
export const exportSections: readonly Section[] = [
  { type: "tenant", table: tenants, tenant: tenants.id, key: tenants.id },
  // A user row is a membership: one tenant per user, with its role.
  { type: "user", table: users, tenant: users.tenantId, key: users.id, omit: [users.passwordHash.name] },
  { type: "project", table: projects, tenant: projects.tenantId, key: projects.id },
  { type: "task", table: tasks, tenant: tasks.tenantId, key: tasks.id },
  { type: "comment", table: comments, tenant: comments.tenantId, key: comments.id },
  {
    type: "invitation",
    table: invitations,
    tenant: invitations.tenantId,
    key: invitations.id,
    omit: [invitations.tokenHash.name],
  },
  { type: "audit_event", table: auditEvents, tenant: auditEvents.tenantId, key: auditEvents.id },
];

/**
 * Tenant tables the export leaves out, each with why. Every table with a `tenant_id` column is in
 * `exportSections` or here: `tests/tenant-coverage.test.ts` names one that is in neither.
 */
export const notExported: Record<string, string> = {
  refresh_tokens: "sessions: secrets that only sign in, worth nothing outside this deployment",
  password_resets: "single-use secrets, minutes long",
  verifications: "single-use secrets, hours long",
  mfa_challenges: "single-use sign-in challenges, minutes long",
  totp_factors: "second-factor secrets of this deployment: an import's members enroll their own",
  passkeys: "credentials bound to this deployment's domain: an import's members register their own",
  recovery_codes: "hashes of single-use sign-in secrets, worth nothing outside this deployment",
  outbox: "mail in flight, erased once sent",
  tenant_usage: "counters derived from the rows exported",
  tenant_limits: "the operator's quotas for this deployment, not the workspace's data",
  events: "a feed of changes to the rows exported, kept for EVENT_RETENTION_DAYS (the audit trail is exported)",
  event_sequences: "the feed's last id: a counter",
  webhooks: "endpoints hold their signing secrets; an import registers its own",
  webhook_deliveries: "attempts to send the feed, kept as long as its events",
  api_keys: "credentials of this deployment (hashes): an import makes its own keys",
  api_key_usage: "a request counter for the current minute",
};

/** The columns a section leaves out, as a text[] for jsonb's `-`. */
const omitted = (section: Section) =>
  section.omit?.length
    ? sql`array[${sql.join(
        section.omit.map((name) => sql`${name}::text`),
        sql`, `,
      )}]`
    : sql`'{}'::text[]`;

export interface ExportOptions {
  /** Rows per statement (default 1000). */
  batchSize?: number;
}

/**
 * The export's lines, a batch at a time. `tx` must be a transaction in the tenant's context at
 * REPEATABLE READ (`withMember`/`withTenant` with `isolation: "repeatable read"`).
 */
export async function* tenantExportLines(
  tx: Tx,
  tenantId: string,
  options: ExportOptions = {},
): AsyncGenerator<string> {
  const batchSize = options.batchSize ?? 300;
  const [snapshot] = rowsOf<{ at: string; isolation: string }>(
    await tx.execute(sql`select now()::text as at, current_setting('transaction_isolation') as isolation`),
  );
  if (snapshot?.isolation !== "repeatable read") throw new Error("a tenant export reads at REPEATABLE READ");
  yield `${JSON.stringify({
    type: "header",
    format: exportFormat,
    schemaVersion: exportSchemaVersion,
    tenantId,
    snapshotAt: new Date(snapshot.at).toISOString(),
  })}\n`;
  const counts: Record<string, number> = {};
  for (const section of exportSections) {
    counts[section.type] = 0;
    let after: string | null = null;
    for (;;) {
      // PostgreSQL writes the batch's lines itself: one string per batch reaches Node, instead of
      // a row object, a mapped object and a string per row (decision 014).
      const result: unknown = await tx.execute(sql`
          select string_agg('{"type":' || to_json(${section.type}::text) || ',"row":' || (to_jsonb(t) - ${omitted(section)}) || '}', E'\n' order by t.id) as lines,
                 count(*)::int as rows,
                 (array_agg(t.id order by t.id desc))[1]::text as last
            from (select * from ${section.table}
                   where ${section.tenant} = ${tenantId}::uuid ${after === null ? sql`` : sql`and ${section.key} > ${after}::uuid`}
                   order by ${section.key} limit ${batchSize}) as t`);
      const [batch] = rowsOf<{ lines: string | null; rows: number; last: string | null }>(result);
      if (!batch?.lines) break;
      counts[section.type] = (counts[section.type] ?? 0) + batch.rows;
      yield `${batch.lines}\n`;
      if (batch.rows < batchSize) break;
      after = batch.last;
    }
  }
  yield `${JSON.stringify({ type: "end", counts })}\n`;
}
