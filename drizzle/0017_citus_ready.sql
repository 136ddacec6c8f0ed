-- Issue 30: what kept Bulkhead off a Citus cluster, changed on every engine.
-- A task's assignee: NO ACTION instead of SET NULL (assignee_id), which Citus refuses when the
-- key includes the distribution column; members.remove unassigns the member's tasks first.
ALTER TABLE "tasks" DROP CONSTRAINT "tasks_assignee_fkey";--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_assignee_fkey" FOREIGN KEY ("tenant_id","assignee_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Registration writes as the runtime role only (docs/decisions/023-registration-as-one-role.md):
-- it inserts the tenant row in that tenant's own context, under "tenants are seen and written
-- only by themselves"; the owner role no longer inserts tenants.
DROP POLICY "the owner role creates a tenant in its own context" ON "tenants" CASCADE;--> statement-breakpoint
GRANT INSERT ON "tenants" TO bulkhead_app;--> statement-breakpoint
-- The quota trigger names its quota as an argument: on Citus, TG_TABLE_NAME is the shard's name.
DROP TRIGGER projects_count_inserts ON "projects";--> statement-breakpoint
DROP TRIGGER projects_count_deletes ON "projects";--> statement-breakpoint
DROP TRIGGER tasks_count_inserts ON "tasks";--> statement-breakpoint
DROP TRIGGER tasks_count_deletes ON "tasks";--> statement-breakpoint
DROP TRIGGER comments_count_inserts ON "comments";--> statement-breakpoint
DROP TRIGGER comments_count_deletes ON "comments";--> statement-breakpoint
DROP TRIGGER users_count_inserts ON "users";--> statement-breakpoint
DROP TRIGGER users_count_deletes ON "users";--> statement-breakpoint
DROP TRIGGER invitations_count_inserts ON "invitations";--> statement-breakpoint
CREATE TRIGGER projects_count_inserts AFTER INSERT ON "projects" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('projects');--> statement-breakpoint
CREATE TRIGGER projects_count_deletes AFTER DELETE ON "projects" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('projects');--> statement-breakpoint
CREATE TRIGGER tasks_count_inserts AFTER INSERT ON "tasks" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('tasks_per_project');--> statement-breakpoint
CREATE TRIGGER tasks_count_deletes AFTER DELETE ON "tasks" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('tasks_per_project');--> statement-breakpoint
CREATE TRIGGER comments_count_inserts AFTER INSERT ON "comments" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('comments_per_task');--> statement-breakpoint
CREATE TRIGGER comments_count_deletes AFTER DELETE ON "comments" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('comments_per_task');--> statement-breakpoint
CREATE TRIGGER users_count_inserts AFTER INSERT ON "users" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('members');--> statement-breakpoint
CREATE TRIGGER users_count_deletes AFTER DELETE ON "users" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('members');--> statement-breakpoint
CREATE TRIGGER invitations_count_inserts AFTER INSERT ON "invitations" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('pending_invitations');
--> statement-breakpoint
-- The owner role's audit policies read their settings through functions, as every policy reads
-- the tenant: Citus refuses a policy with a (select ...) subquery (0016 wrapped them so). The
-- functions are created here first; db/sql/functions/ keeps them (the same text).
CREATE OR REPLACE FUNCTION app.audit_retention_days()
  RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.audit_retention_days'::text, true), ''::text))::integer AS audit_retention_days;
END;--> statement-breakpoint
CREATE OR REPLACE FUNCTION app.erasing_tenant_id()
  RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.erasing'::text, true), ''::text))::uuid AS erasing_tenant_id;
END;--> statement-breakpoint
ALTER POLICY "the owner role selects expired or erased audit events" ON "audit_events" TO bulkhead_owner USING ("audit_events"."created_at" < now() - make_interval(days => app.audit_retention_days())
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id" = app.erasing_tenant_id()));--> statement-breakpoint
ALTER POLICY "the owner role deletes expired or erased audit events" ON "audit_events" TO bulkhead_owner USING ("audit_events"."created_at" < now() - make_interval(days => app.audit_retention_days())
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id" = app.erasing_tenant_id()));
--> statement-breakpoint
-- A later migration that adds a tenant table calls app.distribute_table (db/sql/functions/ keeps it).
CREATE OR REPLACE FUNCTION app.distribute_table(p_table regclass)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
    RETURN;
  END IF;
  -- Dynamic: pg_dist_partition and create_distributed_table exist only where Citus does.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid = p_table AND d.partmethod = 'h') THEN
    SET LOCAL citus.enable_unsafe_triggers = on;
    EXECUTE pg_catalog.format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                              p_table::text, 'tenant_id', 'public.users');
  END IF;
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.distribute_table(regclass) FROM PUBLIC;
