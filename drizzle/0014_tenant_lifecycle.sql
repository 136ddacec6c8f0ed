CREATE TABLE "tenant_limits" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"projects" integer,
	"tasks_per_project" integer,
	"pending_invitations" integer,
	"members" integer,
	"comments_per_task" integer,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tenant_limits" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "tenant_tombstones" (
	"id" uuid PRIMARY KEY NOT NULL,
	"deleted_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"slug" text,
	"slug_reserved_until" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "tenant_tombstones" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "tenant_usage" (
	"tenant_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"scope_id" uuid NOT NULL,
	"used" integer NOT NULL,
	CONSTRAINT "tenant_usage_pkey" PRIMARY KEY("tenant_id","kind","scope_id"),
	CONSTRAINT "tenant_usage_not_negative" CHECK ("tenant_usage"."used" >= 0)
);
--> statement-breakpoint
ALTER TABLE "tenant_usage" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "deletion_due_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "deletion_requested_by" uuid;--> statement-breakpoint
ALTER TABLE "tenant_limits" ADD CONSTRAINT "tenant_limits_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_usage" ADD CONSTRAINT "tenant_usage_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tenant_tombstones_slug_idx" ON "tenant_tombstones" USING btree ("slug") WHERE "tenant_tombstones"."slug" is not null;--> statement-breakpoint
CREATE INDEX "tenants_deletion_due_idx" ON "tenants" USING btree ("deletion_due_at") WHERE "tenants"."deletion_due_at" is not null;--> statement-breakpoint
CREATE POLICY "the owner role selects expired or erased audit events" ON "audit_events" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("audit_events"."created_at" < now() - make_interval(days => nullif(current_setting('app.audit_retention_days', true), '')::integer)
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id"::text = current_setting('app.erasing', true)));--> statement-breakpoint
CREATE POLICY "the owner role deletes expired or erased audit events" ON "audit_events" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("audit_events"."created_at" < now() - make_interval(days => nullif(current_setting('app.audit_retention_days', true), '')::integer)
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id"::text = current_setting('app.erasing', true)));--> statement-breakpoint
CREATE POLICY "the owner role locks a workspace due for erasure" ON "tenants" AS PERMISSIVE FOR UPDATE TO "bulkhead_owner" USING ("tenants"."deletion_due_at" <= now()) WITH CHECK ("tenants"."deletion_due_at" <= now());--> statement-breakpoint
CREATE POLICY "the owner role deletes a workspace due for erasure" ON "tenants" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("tenants"."id" = app.current_tenant_id() and "tenants"."deletion_due_at" <= now());--> statement-breakpoint
CREATE POLICY "tenant_limits are seen and written only within their tenant" ON "tenant_limits" AS PERMISSIVE FOR ALL TO public USING ("tenant_limits"."tenant_id" = app.current_tenant_id()) WITH CHECK ("tenant_limits"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role keeps tombstones" ON "tenant_tombstones" AS PERMISSIVE FOR ALL TO "bulkhead_owner" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "tenant_usage are seen and written only within their tenant" ON "tenant_usage" AS PERMISSIVE FOR ALL TO public USING ("tenant_usage"."tenant_id" = app.current_tenant_id()) WITH CHECK ("tenant_usage"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
ALTER POLICY "audit_events are seen and written only within their tenant" ON "audit_events" TO bulkhead_app USING ("audit_events"."tenant_id" = app.current_tenant_id()) WITH CHECK ("audit_events"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
-- What drizzle-kit does not emit (docs/adding-a-resource.md, step 2): the owner role owns the
-- new tables and RLS binds it too. The runtime role reads a tenant's limits and usage; usage is
-- written by the quota trigger (app.count_usage), limits by operators as the owner role, and
-- tombstones only by the owner role's functions (the erase, registration, pruning).
ALTER TABLE "tenant_limits" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "tenant_limits" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT ON "tenant_limits" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "tenant_usage" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "tenant_usage" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "tenant_usage" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "tenant_tombstones" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "tenant_tombstones" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- The quota trigger: created here, its body in db/sql/functions/count_usage.sql (applied after
-- the migrations; a placeholder lets the triggers be created first).
CREATE OR REPLACE FUNCTION app.count_usage() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN RETURN NULL; END $$;--> statement-breakpoint
CREATE TRIGGER projects_count_inserts AFTER INSERT ON "projects" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER projects_count_deletes AFTER DELETE ON "projects" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER tasks_count_inserts AFTER INSERT ON "tasks" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER tasks_count_deletes AFTER DELETE ON "tasks" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER comments_count_inserts AFTER INSERT ON "comments" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER comments_count_deletes AFTER DELETE ON "comments" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER users_count_inserts AFTER INSERT ON "users" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER users_count_deletes AFTER DELETE ON "users" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
CREATE TRIGGER invitations_count_inserts AFTER INSERT ON "invitations" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage();--> statement-breakpoint
-- prune_expired gained the audit retention argument: the two-argument version goes.
DROP FUNCTION IF EXISTS app.prune_expired(integer, integer);
